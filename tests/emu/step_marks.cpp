// Linked into the emulated train_mnist (EMU_APP=train_mnist ./run): a trace mark before and after
// every training step, so that the trace (EMU_TRACE) counts the launches of each step (trace_steps.py).
// train_mnist::GraphedStep::run(const Tensor&, const Tensor&) is wrapped with ld --wrap (see the Makefile).
#include <cuda_runtime.h>

#include <cstdio>

namespace ember { class Tensor; }
namespace train_mnist { class GraphedStep; }

extern "C" void _ZN11train_mnist11GraphedStep3runERKN5ember6TensorES4_(train_mnist::GraphedStep*, const ember::Tensor&,
                                                                         const ember::Tensor&);
extern "C" void __real__ZN11train_mnist11GraphedStep3runERKN5ember6TensorES4_(train_mnist::GraphedStep*,
                                                                               const ember::Tensor&,
                                                                               const ember::Tensor&);

extern "C" void __wrap__ZN11train_mnist11GraphedStep3runERKN5ember6TensorES4_(train_mnist::GraphedStep* self,
                                                                               const ember::Tensor& images,
                                                                               const ember::Tensor& labels) {
  static int step = 0;
  char label[64];
  ++step;
  std::snprintf(label, sizeof label, "begin step %d", step);
  emu::trace_mark(label);
  __real__ZN11train_mnist11GraphedStep3runERKN5ember6TensorES4_(self, images, labels);
  std::snprintf(label, sizeof label, "end step %d", step);
  emu::trace_mark(label);
}
