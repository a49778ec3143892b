// CUDA timing: CUDA events recorded on Ember's current stream between back-to-back calls (the
// queue stays full, so launch latency hides the way it does in a training step); ceilings from
// a large device-to-device cudaMemcpyAsync and from cuBLAS SGEMM in strict FP32 (no TF32).
#include "cublas_check.h"  // first: see the header

#include <cuda_runtime.h>

#include <algorithm>

#include "timing.h"

namespace bench {
namespace {

cudaStream_t ember_stream() { return static_cast<cudaStream_t>(ember::cuda::current_stream().handle()); }

class CudaTimer : public DeviceTimer {
 public:
  CudaTimer() {
    device_ = ember::cuda::current_device();
    EMBER_CUDA_CHECK(cudaGetDeviceProperties(&props_, device_));
    int l2 = 0;
    EMBER_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device_));
    l2_bytes_ = l2;
  }

  ember::Device device() const override { return ember::cuda_device(device_); }

  std::string description() const override {
    return std::string(props_.name) + ", " + std::to_string(props_.multiProcessorCount) + " SMs, L2 " +
           std::to_string(l2_bytes_ >> 20) + " MiB, " + std::to_string(props_.totalGlobalMem >> 30) + " GiB";
  }

  int64_t cache_bytes() const override { return l2_bytes_; }

  std::vector<double> time_calls(const std::function<void(int)>& run, int sets, int warmup,
                                 int repeats) override {
    cudaStream_t stream = ember_stream();
    for (int i = 0; i < warmup; ++i) run(i % sets);
    EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<cudaEvent_t> events(static_cast<size_t>(repeats) + 1);
    for (auto& e : events) EMBER_CUDA_CHECK(cudaEventCreate(&e));
    std::vector<double> us;
    try {
      EMBER_CUDA_CHECK(cudaEventRecord(events[0], stream));
      for (int i = 0; i < repeats; ++i) {
        run((warmup + i) % sets);
        EMBER_CUDA_CHECK(cudaEventRecord(events[static_cast<size_t>(i) + 1], stream));
      }
      EMBER_CUDA_CHECK(cudaEventSynchronize(events.back()));
      for (int i = 0; i < repeats; ++i) {
        float ms = 0;
        EMBER_CUDA_CHECK(cudaEventElapsedTime(&ms, events[static_cast<size_t>(i)], events[static_cast<size_t>(i) + 1]));
        us.push_back(1e3 * static_cast<double>(ms));
      }
    } catch (...) {
      for (auto& e : events) cudaEventDestroy(e);
      throw;
    }
    for (auto& e : events) EMBER_CUDA_CHECK(cudaEventDestroy(e));
    return us;
  }

  Ceilings measure_ceilings(int warmup, int repeats, int64_t sgemm_size) override {
    Ceilings c;
    // Copy: 1 GiB each way (far beyond any L2), or a quarter of free memory if that is less.
    size_t free_bytes = 0, total_bytes = 0;
    EMBER_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    size_t bytes = std::min<size_t>(size_t(1) << 30, free_bytes / 4) & ~size_t(255);
    {
      ember::Tensor src = ember::empty({static_cast<int64_t>(bytes)}, ember::TensorOptions(ember::kUInt8).with_device(device()));
      ember::Tensor dst = ember::empty_like(src);
      cudaStream_t stream = ember_stream();
      auto copy = [&](int) {
        EMBER_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), bytes, cudaMemcpyDeviceToDevice, stream));
      };
      double copy_us = fastest(time_calls(copy, 1, warmup, repeats));
      c.copy_gbps = 2.0 * static_cast<double>(bytes) / (copy_us * 1e3);
      c.copy_what = "cudaMemcpyAsync device-to-device of " + std::to_string(bytes >> 20) + " MiB, read + write";
    }
    {
      int n = static_cast<int>(sgemm_size);
      auto options = ember::TensorOptions(ember::kFloat32).with_device(device());
      ember::Tensor a = ember::rand({n, n}, options), b = ember::rand({n, n}, options);
      ember::Tensor out = ember::empty({n, n}, options);
      cublasHandle_t handle = nullptr;
      EMBER_CUDA_CHECK(cublasCreate(&handle));
      try {
        EMBER_CUDA_CHECK(cublasSetStream(handle, ember_stream()));
        EMBER_CUDA_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));  // FP32 FMA, TF32 off
        const float alpha = 1.0f, beta = 0.0f;
        auto sgemm = [&](int) {
          // Row-major out = a @ b is column-major out^T = b^T a^T.
          EMBER_CUDA_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, b.data<float>(), n,
                                       a.data<float>(), n, &beta, out.data<float>(), n));
        };
        double sgemm_us = fastest(time_calls(sgemm, 1, warmup, repeats));
        c.sgemm_tflops = 2.0 * n * static_cast<double>(n) * n / (sgemm_us * 1e6);
        c.sgemm_what = "cublasSgemm FP32 (CUBLAS_DEFAULT_MATH) " + std::to_string(n) + "^3";
      } catch (...) {
        cublasDestroy(handle);
        throw;
      }
      EMBER_CUDA_CHECK(cublasDestroy(handle));
    }
    release_cached_memory();
    return c;
  }

  int64_t memory_available() const override {
    size_t free_bytes = 0, total_bytes = 0;
    EMBER_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return static_cast<int64_t>(free_bytes);
  }

  void release_cached_memory() override {
    ember::cuda::synchronize(device_);
    ember::cuda::empty_cache();
  }

 private:
  int device_ = 0;
  cudaDeviceProp props_{};
  int64_t l2_bytes_ = 0;
};

}  // namespace

std::unique_ptr<DeviceTimer> make_cuda_timer() { return std::make_unique<CudaTimer>(); }

}  // namespace bench
