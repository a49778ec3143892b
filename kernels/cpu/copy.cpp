// CPU copy (with dtype conversion, any strides) and fill.
#include <ember/kernels/copy.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/strided_indexer.h>

#include <algorithm>
#include <cstring>

namespace ember::kernels::cpu {

void copy(const Tensor& src, const Tensor& dst) {
  int64_t n = dst.numel();
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    if (n) std::memmove(dst.data_ptr(), src.data_ptr(), dst.nbytes());
    return;
  }
  StridedIndexer ix = make_indexer(dst.sizes(), {dst, src});
  dispatch_all(dst.dtype(), "copy", [&](auto dst_tag) {
    using TD = decltype(dst_tag);
    dispatch_all(src.dtype(), "copy", [&](auto src_tag) {
      using TS = decltype(src_tag);
      TD* d = static_cast<TD*>(dst.data_ptr());
      const TS* s = static_cast<const TS*>(src.data_ptr());
      parallel_for(n, 65536, [&](int64_t begin, int64_t end) {
        for_each_run<2>(ix, begin, end, [&](const int64_t* base, const int64_t* step, int64_t run) {
          TD* dst_run = d + base[0];
          const TS* src_run = s + base[1];
          const int64_t dst_step = step[0], src_step = step[1];
          for (int64_t r = 0; r < run; ++r) dst_run[r * dst_step] = static_cast<TD>(src_run[r * src_step]);
        });
      });
    });
  });
}

void fill(const Tensor& dst, double value) {
  int64_t n = dst.numel();
  StridedIndexer ix = make_indexer(dst.sizes(), {dst});
  bool contiguous = dst.is_contiguous();
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    T v = static_cast<T>(value);
    T* d = static_cast<T*>(dst.data_ptr());
    parallel_for(n, 65536, [&](int64_t begin, int64_t end) {
      if (contiguous) {
        std::fill(d + begin, d + end, v);
        return;
      }
      for_each_run<1>(ix, begin, end, [&](const int64_t* base, const int64_t* step, int64_t run) {
        for (int64_t r = 0; r < run; ++r) d[base[0] + r * step[0]] = v;
      });
    });
  });
}

}  // namespace ember::kernels::cpu
