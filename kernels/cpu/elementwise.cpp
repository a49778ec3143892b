// CPU reference of kernels/elementwise.h: a flat loop the compiler vectorises when every operand
// is contiguous, an indexed loop otherwise; split across the thread pool for large tensors.
#include <array>

#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/elementwise.h>
#include <ember/kernels/elementwise_math.h>
#include <ember/kernels/strided_indexer.h>

namespace ember::kernels::cpu {

namespace {
constexpr int64_t kGrain = 32768;

// out[i] = f(in[k][i]...) for operands of one shape; `Inputs` input pointers, one output.
template <typename TOut, typename TIn, size_t Inputs, typename F>
void map(const Tensor& out, const std::array<Tensor, Inputs>& inputs, F f) {
  int64_t n = out.numel();
  TOut* po = static_cast<TOut*>(out.data_ptr());
  std::array<const TIn*, Inputs> pi;
  bool contiguous = out.is_contiguous();
  for (size_t k = 0; k < Inputs; ++k) {
    pi[k] = static_cast<const TIn*>(inputs[k].data_ptr());
    contiguous = contiguous && inputs[k].is_contiguous();
  }
  if (contiguous) {
    parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if constexpr (Inputs == 1) po[i] = f(pi[0][i]);
        else po[i] = f(pi[0][i], pi[1][i]);
      }
    });
    return;
  }
  TensorList operands{out};
  for (const Tensor& t : inputs) operands.push_back(t);
  StridedIndexer ix = make_indexer(out.sizes(), operands);
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for_each_run<Inputs + 1>(ix, begin, end, [&](const int64_t* base, const int64_t* step, int64_t run) {
      TOut* out_run = po + base[0];
      const TIn* a = pi[0] + base[1];
      if constexpr (Inputs == 1) {
        for (int64_t r = 0; r < run; ++r) out_run[r * step[0]] = f(a[r * step[1]]);
      } else {
        const TIn* b = pi[1] + base[2];
        for (int64_t r = 0; r < run; ++r) out_run[r * step[0]] = f(a[r * step[1]], b[r * step[2]]);
      }
    });
  });
}
}  // namespace

void unary(UnaryOp op, const Tensor& in, const Tensor& out, double scalar) {
  dispatch_floating(out.dtype(), "unary", [&](auto tag) {
    using T = decltype(tag);
    math::visit_unary<T>(op, static_cast<T>(scalar), [&](auto f) { map<T, T, 1>(out, {in}, f); });
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, double scalar) {
  if (op == BinaryOp::Eq) {
    dispatch_all(a.dtype(), "eq", [&](auto tag) {
      using T = decltype(tag);
      map<uint8_t, T, 2>(out, {a, b}, [](T x, T y) { return static_cast<uint8_t>(x == y); });
    });
    return;
  }
  dispatch_floating(out.dtype(), "binary", [&](auto tag) {
    using T = decltype(tag);
    math::visit_binary<T>(op, static_cast<T>(scalar), [&](auto f) { map<T, T, 2>(out, {a, b}, f); });
  });
}

void axpy(const Tensor& in, const Tensor& out, double alpha) {
  dispatch_floating(out.dtype(), "axpy", [&](auto tag) {
    using T = decltype(tag);
    T a = static_cast<T>(alpha);
    map<T, T, 2>(out, {out, in}, [a](T y, T x) { return y + a * x; });
  });
}

}  // namespace ember::kernels::cpu
