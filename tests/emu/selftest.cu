// The emulator's self-tests: the fiber scheduler's CUDA semantics and its error detection. Tagged
// [emu]: they provoke EMU ERRORs on purpose, so ./run runs them apart with EMU_ERRORS_FAIL=0.
#include <catch2/catch.hpp>
#include <vector>

namespace emu { int error_count(); }

namespace {
__global__ void shuffles(int* out) {
  int lane = threadIdx.x % 32;
  int v = 100 * (threadIdx.x / 32) + lane;
  out[threadIdx.x * 4 + 0] = __shfl_down_sync(0xffffffffu, v, 3);
  out[threadIdx.x * 4 + 1] = __shfl_sync(0xffffffffu, v, 5, 8);
  out[threadIdx.x * 4 + 2] = __shfl_xor_sync(0xffffffffu, v, 1);
  out[threadIdx.x * 4 + 3] = __shfl_up_sync(0xffffffffu, v, 2, 16);
}
__global__ void block_sum(const float* in, float* out, int n) {
  __shared__ float partial[32];
  float v = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) v += in[i];
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  if (threadIdx.x < 32) {
    v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.f;
    for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
  }
}
__global__ void divergent_sync(int* out) {
  if (threadIdx.x < 16) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
__global__ void shuffle_vs_sync(int* out) {
  int v = threadIdx.x;
  if (threadIdx.x == 0) __syncthreads();
  else v = __shfl_down_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}
__global__ void traps(int* out) {
  if (threadIdx.x == 7) __trap();
  out[threadIdx.x] = 1;
}
}  // namespace

TEST_CASE("emu: shuffle semantics", "[emu]") {
  int* d = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&d), 64 * 4 * sizeof(int));
  shuffles<<<1, 64>>>(d);
  REQUIRE(cudaGetLastError() == cudaSuccess);
  std::vector<int> h(64 * 4);
  cudaMemcpy(h.data(), d, h.size() * sizeof(int), cudaMemcpyDeviceToHost);
  for (int t = 0; t < 64; ++t) {
    int lane = t % 32, base = 100 * (t / 32);
    CHECK(h[t * 4 + 0] == base + (lane + 3 < 32 ? lane + 3 : lane));
    CHECK(h[t * 4 + 1] == base + (lane / 8) * 8 + 5);
    CHECK(h[t * 4 + 2] == base + (lane ^ 1));
    CHECK(h[t * 4 + 3] == base + (lane % 16 >= 2 ? lane - 2 : lane));
  }
  cudaFree(d);
}

TEST_CASE("emu: a block reduction", "[emu]") {
  float *in = nullptr, *out = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&in), 1000 * sizeof(float));
  cudaMalloc(reinterpret_cast<void**>(&out), 2 * sizeof(float));
  std::vector<float> h(1000, 1.0f);
  cudaMemcpy(in, h.data(), 1000 * sizeof(float), cudaMemcpyHostToDevice);
  block_sum<<<2, 256>>>(in, out, 1000);
  float r[2];
  cudaMemcpy(r, out, sizeof r, cudaMemcpyDeviceToHost);
  CHECK(r[0] == 1000.0f);
  CHECK(r[1] == 1000.0f);
  cudaFree(in);
  cudaFree(out);
}

TEST_CASE("emu: divergent barriers, deadlocks and traps are reported", "[emu]") {
  int* d = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&d), 64 * sizeof(int));
  int before = emu::error_count();
  divergent_sync<<<1, 64>>>(d);
  CHECK(emu::error_count() > before);
  before = emu::error_count();
  shuffle_vs_sync<<<1, 32>>>(d);
  CHECK(emu::error_count() > before);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  traps<<<1, 32>>>(d);
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  traps<<<1, 2000>>>(d);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  cudaFree(d);
}
