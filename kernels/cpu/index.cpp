// CPU reference of kernels/index.h: row copies for the gather; the scatter runs in parallel over
// `outer` only, so repeated indices never race.
#include <cstring>

#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/index.h>

namespace ember::kernels::cpu {

void index_select(const Tensor& in, const Tensor& index, const Tensor& out, int64_t outer, int64_t inner) {
  int64_t picks = index.numel(), in_size = in.numel() / std::max<int64_t>(outer * inner, 1);
  const int64_t* idx = static_cast<const int64_t*>(index.data_ptr());
  size_t row_bytes = static_cast<size_t>(inner) * element_size(in.dtype());
  const auto* src = static_cast<const unsigned char*>(in.data_ptr());
  auto* dst = static_cast<unsigned char*>(out.data_ptr());
  parallel_for(outer * picks, std::max<int64_t>(1, 65536 / std::max<int64_t>(inner, 1)), [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      int64_t o = j / picks, k = j % picks;
      std::memcpy(dst + j * row_bytes, src + (o * in_size + idx[k]) * row_bytes, row_bytes);
    }
  });
}

void index_add(const Tensor& grad, const Tensor& index, const Tensor& grad_in, int64_t outer, int64_t inner) {
  dispatch_floating(grad.dtype(), "index_add", [&](auto tag) {
    using T = decltype(tag);
    int64_t picks = index.numel(), in_size = grad_in.numel() / std::max<int64_t>(outer * inner, 1);
    const int64_t* idx = static_cast<const int64_t*>(index.data_ptr());
    const T* g = static_cast<const T*>(grad.data_ptr());
    T* gx = static_cast<T*>(grad_in.data_ptr());
    parallel_for(outer, std::max<int64_t>(1, 65536 / std::max<int64_t>(picks * inner, 1)), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o)
        for (int64_t k = 0; k < picks; ++k) {
          const T* from = g + (o * picks + k) * inner;
          T* to = gx + (o * in_size + idx[k]) * inner;
          for (int64_t i = 0; i < inner; ++i) to[i] += from[i];
        }
    });
  });
}

}  // namespace ember::kernels::cpu
