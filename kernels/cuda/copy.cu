// CUDA copy (dtype conversion, any strides) and fill, as grid-stride loops.
#include <ember/kernels/copy.h>
#include <ember/kernels/cuda/launch.cuh>
#include <ember/kernels/strided_indexer.h>

namespace ember::kernels::cuda {

namespace {
// dst[offset_dst(i)] = cast(src[offset_src(i)])
template <typename TD, typename TS>
__global__ void copy_strided(int64_t n, StridedIndexer ix, TD* dst, const TS* src) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[kMaxOperands];
    ix.offsets(i, off, 2);
    dst[off[0]] = static_cast<TD>(src[off[1]]);
  }
}

// dst[offset(i)] = value
template <typename T>
__global__ void fill_strided(int64_t n, StridedIndexer ix, T* dst, T value) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[kMaxOperands];
    ix.offsets(i, off, 1);
    dst[off[0]] = value;
  }
}
}  // namespace

void copy(const Tensor& src, const Tensor& dst) {
  int64_t n = dst.numel();
  if (n == 0) return;
  cudaStream_t stream = stream_of(dst);
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  StridedIndexer ix = make_indexer(dst.sizes(), {dst, src});
  dispatch_all(dst.dtype(), "copy", [&](auto dst_tag) {
    using TD = decltype(dst_tag);
    dispatch_all(src.dtype(), "copy", [&](auto src_tag) {
      using TS = decltype(src_tag);
      copy_strided<<<grid_size(n), kBlockSize, 0, stream>>>(n, ix, static_cast<TD*>(dst.data_ptr()),
                                                             static_cast<const TS*>(src.data_ptr()));
      EMBER_CUDA_CHECK_LAUNCH();
    });
  });
}

void fill(const Tensor& dst, double value) {
  int64_t n = dst.numel();
  if (n == 0) return;
  StridedIndexer ix = make_indexer(dst.sizes(), {dst});
  dispatch_all(dst.dtype(), "fill", [&](auto tag) {
    using T = decltype(tag);
    fill_strided<<<grid_size(n), kBlockSize, 0, stream_of(dst)>>>(n, ix, static_cast<T*>(dst.data_ptr()),
                                                                 static_cast<T>(value));
    EMBER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace ember::kernels::cuda
