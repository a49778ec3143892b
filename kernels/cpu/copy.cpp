// CPU copy (with dtype conversion, any strides) and fill.
#include <ember/kernels/copy.h>
#include <ember/kernels/cpu/parallel.h>
#include <ember/kernels/strided_indexer.h>
#include <ember/kernels/transpose_plan.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace ember::kernels::cpu {

namespace {

// One tile of a transposed copy (transpose_plan.h): the tile's src lines stay in L1 while its
// rows are written, so each line is read from memory once.
template <typename T>
void copy_tile(const T* __restrict__ src, T* __restrict__ dst, int64_t rows, int64_t cols, int64_t dst_row_stride,
               int64_t src_col_stride) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[i * dst_row_stride + j] = src[i + j * src_col_stride];
}

void copy_transposed(const Tensor& src, const Tensor& dst, const TransposePlan& plan) {
  const int64_t row_tiles = (plan.rows + kTransposeTile - 1) / kTransposeTile;
  const int64_t col_tiles = (plan.cols + kTransposeTile - 1) / kTransposeTile;
  dispatch_all(dst.dtype(), "copy", [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(src.data_ptr());
    T* d = static_cast<T*>(dst.data_ptr());
    // One task per tile row of one batch: whole dst lines, written by a single thread.
    parallel_for(plan.batches * row_tiles, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        int64_t off[2];
        plan.batch.offsets(task / row_tiles, off, 2);
        const int64_t i0 = (task % row_tiles) * kTransposeTile;
        const int64_t rows = std::min(kTransposeTile, plan.rows - i0);
        for (int64_t t = 0; t < col_tiles; ++t) {
          const int64_t j0 = t * kTransposeTile;
          copy_tile(s + off[1] + i0 + j0 * plan.src_col_stride, d + off[0] + i0 * plan.dst_row_stride + j0, rows,
                    std::min(kTransposeTile, plan.cols - j0), plan.dst_row_stride, plan.src_col_stride);
        }
      }
    });
  });
}

}  // namespace

void copy(const Tensor& src, const Tensor& dst) {
  int64_t n = dst.numel();
  if (n == 0) return;
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    char* d = static_cast<char*>(dst.data_ptr());
    const char* s = static_cast<const char*>(src.data_ptr());
    const int64_t bytes = static_cast<int64_t>(dst.nbytes());
    const auto d_at = reinterpret_cast<uintptr_t>(d), s_at = reinterpret_cast<uintptr_t>(s);
    // Views of one buffer (Tensor::copy_ lets only the same view through; internal callers may
    // shift): one ordered memmove, never split over threads.
    if (d_at < s_at + bytes && s_at < d_at + bytes) {
      std::memmove(d, s, static_cast<size_t>(bytes));
      return;
    }
    // Large copies on every thread: one core alone does not reach the memory bandwidth.
    constexpr int64_t kChunk = int64_t{1} << 20;  // bytes per task
    parallel_for((bytes + kChunk - 1) / kChunk, 2, [&](int64_t begin, int64_t end) {
      const int64_t from = begin * kChunk, to = std::min(bytes, end * kChunk);
      std::memmove(d + from, s + from, static_cast<size_t>(to - from));
    });
    return;
  }
  TransposePlan plan;
  if (plan_transposed_copy(src, dst, plan)) {
    copy_transposed(src, dst, plan);
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
