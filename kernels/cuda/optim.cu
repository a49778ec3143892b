// CUDA kernels of kernels/optim.h. A "multi-tensor" launch: the kernel argument block carries the
// pointers and sizes of up to kMaxTensors parameters, each cut into chunks of kChunk elements; a
// block walks chunks (block-stride over all chunks of all tensors) and its threads walk the
// chunk's elements. One launch updates every parameter of a typical model (the MNIST Net has 8).
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/optim.h>
#include <ember/kernels/optim_math.h>

#include <cmath>

namespace ember::kernels::cuda {

namespace {

constexpr int kMaxTensors = 24;     // keeps the argument block well under the 4 KB limit
constexpr int64_t kChunk = 8192;    // elements per block-chunk

template <typename T>
struct MultiTensorArgs {
  int count = 0;
  T* param[kMaxTensors];
  const T* grad[kMaxTensors];
  T* state1[kMaxTensors];
  T* state2[kMaxTensors];
  int64_t numel[kMaxTensors];
  T bias_correction1[kMaxTensors];
  T sqrt_bias_correction2[kMaxTensors];
  uint8_t first_step[kMaxTensors];
  const double* step[kMaxTensors];  // capturable Adam: the step count on the device; else null
  int64_t chunk_begin[kMaxTensors + 1];  // prefix sums: tensor t owns chunks [begin[t], begin[t+1])
};

// The pointers and scalars of the tensor a chunk belongs to.
template <typename T>
struct TensorView {
  T* param;
  const T* grad;
  T* state1;
  T* state2;
  T bias_correction1;
  T sqrt_bias_correction2;
  bool first_step;
  const double* step;
};

// For every element i of every listed tensor: update.prepare(view) once per chunk (the per-tensor
// scalars an update derives on the device), then update(view_of_tensor, i).
template <typename T, typename Update>
__global__ void multi_tensor_apply(MultiTensorArgs<T> args, Update update) {
  const int64_t total_chunks = args.chunk_begin[args.count];
  for (int64_t chunk = blockIdx.x; chunk < total_chunks; chunk += gridDim.x) {
    int t = 0;
    while (chunk >= args.chunk_begin[t + 1]) ++t;
    TensorView<T> view{args.param[t],           args.grad[t],
                       args.state1[t],          args.state2[t],
                       args.bias_correction1[t], args.sqrt_bias_correction2[t],
                       args.first_step[t] != 0, args.step[t]};
    update.prepare(view);
    const int64_t begin = (chunk - args.chunk_begin[t]) * kChunk;
    const int64_t end = min(begin + kChunk, args.numel[t]);
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) update(view, i);
  }
}

// SGD: d = g + wd p; b = first ? d : momentum b + (1 - dampening) d; d = nesterov ? d + momentum b : b;
// p -= lr d (no buffer when momentum == 0).
template <typename T>
struct SgdElement {
  optim_math::Sgd<T> f;
  __device__ void prepare(TensorView<T>&) const {}
  __device__ void operator()(const TensorView<T>& v, int64_t i) const {
    T unused = T(0);
    f(v.param[i], v.grad[i], v.state1 ? v.state1[i] : unused, v.first_step);
  }
};

// Adam: g += wd p (AdamW: p *= 1 - lr wd); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps). Capturable (a step pointer): bc1 = 1 - b1^step,
// bc2 = 1 - b2^step in double from the device's step count, so a replayed graph sees t advance.
template <typename T>
struct AdamElement {
  optim_math::Adam<T> f;
  double beta1, beta2;  // in double for the bias corrections, as on the host
  __device__ void prepare(TensorView<T>& v) const {
    if (v.step == nullptr) return;
    auto corrections = optim_math::adam_bias_corrections<T>(beta1, beta2, *v.step);
    v.bias_correction1 = corrections.bias_correction1;
    v.sqrt_bias_correction2 = corrections.sqrt_bias_correction2;
  }
  __device__ void operator()(const TensorView<T>& v, int64_t i) const {
    f(v.param[i], v.grad[i], v.state1[i], v.state2[i], v.bias_correction1, v.sqrt_bias_correction2);
  }
};

// Adadelta: g += wd p; s = rho s + (1-rho) g^2; delta = sqrt(a + eps) / sqrt(s + eps) g;
// a = rho a + (1-rho) delta^2; p -= lr delta.
template <typename T>
struct AdadeltaElement {
  optim_math::Adadelta<T> f;
  __device__ void prepare(TensorView<T>&) const {}
  __device__ void operator()(const TensorView<T>& v, int64_t i) const {
    f(v.param[i], v.grad[i], v.state1[i], v.state2[i]);
  }
};

template <typename T>
T* mutable_ptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr; }

// Packs the slots kMaxTensors at a time and launches one kernel per pack.
template <typename T, typename Update>
void launch_packs(const std::vector<OptimSlot>& slots, Update update) {
  if (slots.empty()) return;
  cudaStream_t stream = stream_of(slots.front().param);
  for (size_t first = 0; first < slots.size(); first += kMaxTensors) {
    MultiTensorArgs<T> args{};  // unused slots zeroed: the argument block holds no stale pointers
    args.chunk_begin[0] = 0;
    for (size_t s = first; s < slots.size() && args.count < kMaxTensors; ++s) {
      const OptimSlot& slot = slots[s];
      int t = args.count++;
      args.param[t] = mutable_ptr<T>(slot.param);
      args.grad[t] = mutable_ptr<T>(slot.grad);
      args.state1[t] = mutable_ptr<T>(slot.state1);
      args.state2[t] = mutable_ptr<T>(slot.state2);
      args.numel[t] = slot.param.numel();
      args.bias_correction1[t] = static_cast<T>(slot.bias_correction1);
      args.sqrt_bias_correction2[t] = static_cast<T>(std::sqrt(slot.bias_correction2));
      args.first_step[t] = slot.first_step ? 1 : 0;
      args.step[t] = slot.step.defined() ? static_cast<const double*>(slot.step.data_ptr()) : nullptr;
      args.chunk_begin[t + 1] = args.chunk_begin[t] + (args.numel[t] + kChunk - 1) / kChunk;
    }
    int64_t total_chunks = args.chunk_begin[args.count];
    if (total_chunks == 0) continue;
    int blocks = static_cast<int>(std::min<int64_t>(total_chunks, grid_size(total_chunks * kChunk)));
    multi_tensor_apply<T><<<blocks, kBlockSize, 0, stream>>>(args, update);
    EMBER_CUDA_CHECK_LAUNCH();
  }
}

// The step counters of up to kMaxTensors slots.
struct StepCounters {
  int count = 0;
  double* step[kMaxTensors];
};

// step[t] += 1 for every counter t of the pack (one thread each).
__global__ void increment_step_kernel(StepCounters counters) {
  for (int t = threadIdx.x; t < counters.count; t += blockDim.x) *counters.step[t] += 1.0;
}

}  // namespace

void increment_step(const std::vector<OptimSlot>& slots) {
  if (slots.empty()) return;
  cudaStream_t stream = stream_of(slots.front().step);
  for (size_t first = 0; first < slots.size(); first += kMaxTensors) {
    StepCounters counters{};
    for (size_t s = first; s < slots.size() && counters.count < kMaxTensors; ++s) {
      counters.step[counters.count++] = static_cast<double*>(slots[s].step.data_ptr());
    }
    increment_step_kernel<<<1, 32, 0, stream>>>(counters);
    EMBER_CUDA_CHECK_LAUNCH();
  }
}

void sgd_update(const std::vector<OptimSlot>& slots, const SgdHyper& h) {
  if (slots.empty()) return;
  dispatch_floating(slots.front().param.dtype(), "sgd_update", [&](auto tag) {
    using T = decltype(tag);
    optim_math::Sgd<T> f{T(h.lr), T(h.momentum), T(h.dampening), T(h.weight_decay), h.nesterov};
    launch_packs<T>(slots, SgdElement<T>{f});
  });
}

void adam_update(const std::vector<OptimSlot>& slots, const AdamHyper& h) {
  if (slots.empty()) return;
  dispatch_floating(slots.front().param.dtype(), "adam_update", [&](auto tag) {
    using T = decltype(tag);
    optim_math::Adam<T> f{T(h.lr), T(h.beta1), T(h.beta2), T(h.eps), T(h.weight_decay), h.decoupled_weight_decay};
    launch_packs<T>(slots, AdamElement<T>{f, h.beta1, h.beta2});
  });
}

void adadelta_update(const std::vector<OptimSlot>& slots, const AdadeltaHyper& h) {
  if (slots.empty()) return;
  dispatch_floating(slots.front().param.dtype(), "adadelta_update", [&](auto tag) {
    using T = decltype(tag);
    optim_math::Adadelta<T> f{T(h.lr), T(h.rho), T(h.eps), T(h.weight_decay)};
    launch_packs<T>(slots, AdadeltaElement<T>{f});
  });
}

}  // namespace ember::kernels::cuda
