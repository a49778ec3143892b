// The combine rules shared by the CPU and CUDA reductions, so both pick the same element.
#pragma once
#include <cstdint>

#include <ember/kernels/philox.h>  // EMBER_HOST_DEVICE

namespace ember::kernels::math {

// A running (value, index) of a max reduction. A plain aggregate so that CUDA can keep it in
// __shared__ memory.
template <typename T>
struct ArgMax {
  T value;
  int64_t index;
};

// The larger of two candidates: NaN beats any number (max propagates NaN, like PyTorch), and on
// equal values (or two NaNs) the smaller index wins, so the result is the first maximum.
template <typename T>
EMBER_HOST_DEVICE ArgMax<T> argmax_combine(ArgMax<T> a, ArgMax<T> b) {
  bool a_nan = a.value != a.value, b_nan = b.value != b.value;
  if (a_nan || b_nan) {
    if (a_nan && b_nan) return a.index <= b.index ? a : b;
    return a_nan ? a : b;
  }
  if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
  return a;
}

}  // namespace ember::kernels::math
