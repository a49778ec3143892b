// CPU copy (with dtype conversion, any strides) and fill.
#include <ember/kernels/copy.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/strided_indexer.h>

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
        int64_t off[2];
        for (int64_t i = begin; i < end; ++i) {
          ix.offsets(i, off, 2);
          d[off[0]] = static_cast<TD>(s[off[1]]);
        }
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
      int64_t off[1];
      for (int64_t i = begin; i < end; ++i) {
        if (contiguous) {
          d[i] = v;
        } else {
          ix.offsets(i, off, 1);
          d[off[0]] = v;
        }
      }
    });
  });
}

}  // namespace ember::kernels::cpu
