// CPU reference of kernels/optim.h: each parameter's elements in parallel chunks.
#include <ember/kernels/optim.h>
#include <ember/kernels/optim_math.h>
#include <ember/kernels/cpu/parallel.h>

#include <cmath>

namespace ember::kernels::cpu {

namespace {
constexpr int64_t kGrain = 32768;

template <typename T>
T* ptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr; }
}  // namespace

void sgd_update(const std::vector<OptimSlot>& slots, const SgdHyper& h) {
  if (slots.empty()) return;
  dispatch_floating(slots[0].param.dtype(), "sgd_update", [&](auto tag) {
    using T = decltype(tag);
    optim_math::Sgd<T> f{T(h.lr), T(h.momentum), T(h.dampening), T(h.weight_decay), h.nesterov};
    for (const OptimSlot& s : slots) {
      T* p = ptr<T>(s.param);
      const T* g = ptr<T>(s.grad);
      T* b = ptr<T>(s.state1);
      bool first = s.first_step;
      parallel_for(s.param.numel(), kGrain, [&](int64_t begin, int64_t end) {
        T unused = T(0);
        for (int64_t i = begin; i < end; ++i) f(p[i], g[i], b ? b[i] : unused, first);
      });
    }
  });
}

void adam_update(const std::vector<OptimSlot>& slots, const AdamHyper& h) {
  if (slots.empty()) return;
  dispatch_floating(slots[0].param.dtype(), "adam_update", [&](auto tag) {
    using T = decltype(tag);
    optim_math::Adam<T> f{T(h.lr), T(h.beta1), T(h.beta2), T(h.eps), T(h.weight_decay), h.decoupled_weight_decay};
    for (const OptimSlot& s : slots) {
      T* p = ptr<T>(s.param);
      const T* g = ptr<T>(s.grad);
      T* m = ptr<T>(s.state1);
      T* v = ptr<T>(s.state2);
      T bc1 = T(s.bias_correction1), sqrt_bc2 = T(std::sqrt(s.bias_correction2));
      if (s.step.defined()) {
        auto corrections = optim_math::adam_bias_corrections<T>(h.beta1, h.beta2, *ptr<double>(s.step));
        bc1 = corrections.bias_correction1;
        sqrt_bc2 = corrections.sqrt_bias_correction2;
      }
      parallel_for(s.param.numel(), kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) f(p[i], g[i], m[i], v[i], bc1, sqrt_bc2);
      });
    }
  });
}

void increment_step(const std::vector<OptimSlot>& slots) {
  for (const OptimSlot& s : slots) *ptr<double>(s.step) += 1.0;
}

void adadelta_update(const std::vector<OptimSlot>& slots, const AdadeltaHyper& h) {
  if (slots.empty()) return;
  dispatch_floating(slots[0].param.dtype(), "adadelta_update", [&](auto tag) {
    using T = decltype(tag);
    optim_math::Adadelta<T> f{T(h.lr), T(h.rho), T(h.eps), T(h.weight_decay)};
    for (const OptimSlot& s : slots) {
      T* p = ptr<T>(s.param);
      const T* g = ptr<T>(s.grad);
      T* sq = ptr<T>(s.state1);
      T* acc = ptr<T>(s.state2);
      parallel_for(s.param.numel(), kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) f(p[i], g[i], sq[i], acc[i]);
      });
    }
  });
}

}  // namespace ember::kernels::cpu
