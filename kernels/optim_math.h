// The per-element optimizer formulas, shared by the CPU reference and the CUDA kernels so that
// both compute the same expression in the same order.
#pragma once
#include <cmath>

#ifdef __CUDACC__
#define EMBER_OPTIM_HD __host__ __device__ __forceinline__
#else
#define EMBER_OPTIM_HD inline
#endif

namespace ember::kernels::optim_math {

template <typename T>
struct Sgd {
  T lr, momentum, dampening, weight_decay;
  bool nesterov;
  // p, b: the parameter and its momentum buffer (b unused when momentum == 0).
  EMBER_OPTIM_HD void operator()(T& p, T g, T& b, bool first_step) const {
    T d = g + weight_decay * p;
    if (momentum != T(0)) {
      b = first_step ? d : momentum * b + (T(1) - dampening) * d;
      d = nesterov ? d + momentum * b : b;
    }
    p = p - lr * d;
  }
};

template <typename T>
struct Adam {
  T lr, beta1, beta2, eps, weight_decay;
  bool decoupled;
  EMBER_OPTIM_HD void operator()(T& p, T g, T& m, T& v, T bias_correction1, T sqrt_bias_correction2) const {
    if (decoupled) {
      p = p * (T(1) - lr * weight_decay);
    } else {
      g = g + weight_decay * p;
    }
    m = beta1 * m + (T(1) - beta1) * g;
    v = beta2 * v + (T(1) - beta2) * g * g;
    using std::sqrt;
    T denom = sqrt(v) / sqrt_bias_correction2 + eps;
    p = p - (lr / bias_correction1) * (m / denom);
  }
};

// Adam's bias corrections at step t: bc1 = 1 - beta1^t and sqrt(bc2) = sqrt(1 - beta2^t), worked
// out in double whatever T is (as the host path does for non-capturable Adam), then rounded to T.
template <typename T>
struct AdamBiasCorrections {
  T bias_correction1, sqrt_bias_correction2;
};
template <typename T>
EMBER_OPTIM_HD AdamBiasCorrections<T> adam_bias_corrections(double beta1, double beta2, double step) {
  using std::pow;
  using std::sqrt;
  double bias_correction1 = 1.0 - pow(beta1, step);
  double bias_correction2 = 1.0 - pow(beta2, step);
  return {static_cast<T>(bias_correction1), static_cast<T>(sqrt(bias_correction2))};
}

template <typename T>
struct Adadelta {
  T lr, rho, eps, weight_decay;
  EMBER_OPTIM_HD void operator()(T& p, T g, T& square_avg, T& acc_delta) const {
    using std::sqrt;
    g = g + weight_decay * p;
    square_avg = rho * square_avg + (T(1) - rho) * g * g;
    T delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g;
    acc_delta = rho * acc_delta + (T(1) - rho) * delta * delta;
    p = p - lr * delta;
  }
};

}  // namespace ember::kernels::optim_math
