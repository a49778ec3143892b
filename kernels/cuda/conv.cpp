// GPU convolution through cuDNN (NCHW, cross-correlation). Per call: descriptors for the shapes,
// the algorithm for this shape (chosen once and cached: cuDNN's heuristics,
// cudnnGetConvolution*Algorithm_v7, or with cuda::set_cudnn_benchmark(true) the fastest of every
// algorithm timed on the call's own buffers, cudnnFindConvolution*AlgorithmEx),
// a workspace from Ember's caching allocator, and the cuDNN call on the tensor's current stream.
//
// Precision: float32 convolutions run with CUDNN_FMA_MATH (no TF32 tensor cores), so results
// agree with the CPU reference to FP32 rounding of a different summation order; with
// cuda::set_cudnn_allow_tf32(true) they may take tensor-core (TF32) algorithms, as PyTorch's
// default does.
#include <array>
#include <map>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include <ember/core/cuda.h>
#include <ember/kernels/conv.h>
#include <ember/kernels/cuda/cudnn_check.h>
#include <ember/core/cuda/device_scope.h>
#include <ember/kernels/cuda/launch.cuh>

namespace ember::kernels::cuda {

namespace {

// One handle per (host thread, device, stream), bound to its stream, like the cuBLAS handles
// (kernels/cuda/gemm.cpp): convolutions of two streams may run at the same time. Never destroyed.
cudnnHandle_t handle_on_stream(const Tensor& t) {
  thread_local std::map<std::pair<int, cudaStream_t>, cudnnHandle_t> handles;
  const int device = t.device().index;
  cudaStream_t stream = stream_of(t);
  auto it = handles.find({device, stream});
  if (it != handles.end()) return it->second;
  ember::cuda::DeviceScope scope(device);
  cudnnHandle_t handle = nullptr;
  EMBER_CUDA_CHECK(cudnnCreate(&handle));
  EMBER_CUDA_CHECK(cudnnSetStream(handle, stream));
  handles.emplace(std::make_pair(device, stream), handle);
  return handle;
}

cudnnDataType_t cudnn_type(DType t) {
  switch (t) {
    case DType::Float32: return CUDNN_DATA_FLOAT;
    case DType::Float64: return CUDNN_DATA_DOUBLE;
    default: EMBER_FAIL("conv2d (cuDNN): expected float32 or float64, got ", dtype_name(t));
  }
}

int as_int(int64_t v) { return static_cast<int>(v); }

// RAII descriptors; destructors ignore the status (they must not throw).
class TensorDesc {
 public:
  explicit TensorDesc(const Shape& nchw, DType dtype) {
    EMBER_CUDA_CHECK(cudnnCreateTensorDescriptor(&desc_));
    EMBER_CUDA_CHECK(cudnnSetTensor4dDescriptor(desc_, CUDNN_TENSOR_NCHW, cudnn_type(dtype), as_int(nchw[0]),
                                                as_int(nchw[1]), as_int(nchw[2]), as_int(nchw[3])));
  }
  ~TensorDesc() { cudnnDestroyTensorDescriptor(desc_); }
  TensorDesc(const TensorDesc&) = delete;
  TensorDesc& operator=(const TensorDesc&) = delete;
  cudnnTensorDescriptor_t get() const { return desc_; }

 private:
  cudnnTensorDescriptor_t desc_ = nullptr;
};

class FilterDesc {
 public:
  explicit FilterDesc(const Shape& kcrs, DType dtype) {
    EMBER_CUDA_CHECK(cudnnCreateFilterDescriptor(&desc_));
    EMBER_CUDA_CHECK(cudnnSetFilter4dDescriptor(desc_, cudnn_type(dtype), CUDNN_TENSOR_NCHW, as_int(kcrs[0]),
                                                as_int(kcrs[1]), as_int(kcrs[2]), as_int(kcrs[3])));
  }
  ~FilterDesc() { cudnnDestroyFilterDescriptor(desc_); }
  FilterDesc(const FilterDesc&) = delete;
  FilterDesc& operator=(const FilterDesc&) = delete;
  cudnnFilterDescriptor_t get() const { return desc_; }

 private:
  cudnnFilterDescriptor_t desc_ = nullptr;
};

// Whether this convolution may use TF32 tensor cores: float32 with cuda::cudnn_allow_tf32().
bool tf32_allowed(DType dtype) { return dtype == DType::Float32 && ember::cuda::cudnn_allow_tf32(); }

class ConvDesc {
 public:
  // The math type the algorithm search considers: tensor ops where TF32 is allowed, else FMA only
  // (CUDNN_DEFAULT_MATH would let Ampere and later use TF32).
  ConvDesc(const Conv2dParams& p, DType dtype, bool tf32) {
    EMBER_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&desc_));
    EMBER_CUDA_CHECK(cudnnSetConvolution2dDescriptor(desc_, as_int(p.padding[0]), as_int(p.padding[1]),
                                                     as_int(p.stride[0]), as_int(p.stride[1]), as_int(p.dilation[0]),
                                                     as_int(p.dilation[1]), CUDNN_CROSS_CORRELATION,
                                                     cudnn_type(dtype)));
    EMBER_CUDA_CHECK(cudnnSetConvolutionMathType(desc_, tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  }
  ~ConvDesc() { cudnnDestroyConvolutionDescriptor(desc_); }
  ConvDesc(const ConvDesc&) = delete;
  ConvDesc& operator=(const ConvDesc&) = delete;
  cudnnConvolutionDescriptor_t get() const { return desc_; }

 private:
  cudnnConvolutionDescriptor_t desc_ = nullptr;
};

// Everything cuDNN needs for one convolution shape.
struct ConvDescriptors {
  TensorDesc x, y;
  FilterDesc w;
  ConvDesc conv;
  bool tf32;  // read once per call, so that one call never mixes two settings
  ConvDescriptors(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dParams& p, DType t)
      : x(xs, t), y(ys, t), w(ws, t), conv(p, t, tf32_allowed(t)), tf32(tf32_allowed(t)) {}
};

// The algorithm cache: one entry per (pass, timed, TF32 allowed, device, dtype, shapes, params).
enum class Pass { Forward, BackwardData, BackwardFilter };
using AlgoKey = std::tuple<int, bool, bool, int, int, Shape, Shape, std::array<int64_t, 6>>;
struct AlgoChoice {
  int algo = 0;
  size_t workspace_bytes = 0;
  cudnnMathType_t math = CUDNN_FMA_MATH;  // what the algorithm was found with: set before the call
};

// Whether this call chooses by timing (cudnnFind*AlgorithmEx): benchmark mode, and `out`'s stream
// not capturing a CUDA graph. The search runs and synchronises on that stream, which a capture
// forbids (it would invalidate the capture); there cuDNN's heuristics choose, cached under the
// heuristic key, and the first call with the shape outside a capture still times.
bool timed_choice(const Tensor& out) {
  return ember::cuda::cudnn_benchmark() && !ember::cuda::current_stream(out.device().index).is_capturing();
}

AlgoKey algo_key(Pass pass, bool timed, bool tf32, const Tensor& x, const Shape& w_shape, const Conv2dParams& p) {
  return {static_cast<int>(pass), timed, tf32, x.device().index, static_cast<int>(x.dtype()), x.sizes(), w_shape,
          {p.stride[0], p.stride[1], p.padding[0], p.padding[1], p.dilation[0], p.dilation[1]}};
}

std::mutex cache_mutex;
std::map<AlgoKey, AlgoChoice>& algo_cache() {
  static std::map<AlgoKey, AlgoChoice> cache;
  return cache;
}

// The most workspace an algorithm may ask for: half of what the device has free (at most 1 GiB).
size_t workspace_limit() {
  size_t free_bytes = 0, total_bytes = 0;
  EMBER_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return std::min<size_t>(free_bytes / 2, size_t(1) << 30);
}

// Benchmark mode's search gets a scratch workspace this large; algorithms that need more are
// reported as failed and skipped.
size_t search_workspace_bytes() { return std::min<size_t>(workspace_limit(), size_t(256) << 20); }

// cuDNN's heuristics (and the timed search) return candidates ordered fastest first: take the first that succeeded,
// fits the workspace limit and, unless TF32 is allowed, does not use tensor-core math; fall back to
// the first that fits. Only the `returned` entries are meaningful.
template <typename Perf>
AlgoChoice pick(const std::vector<Perf>& perf, int returned, bool tf32, const char* pass) {
  const size_t limit = workspace_limit();
  const Perf* fallback = nullptr;
  for (int i = 0; i < returned; ++i) {
    const Perf& p = perf[static_cast<size_t>(i)];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > limit) continue;
    if (tf32 || (p.mathType != CUDNN_TENSOR_OP_MATH && p.mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))
      return {static_cast<int>(p.algo), p.memory, p.mathType};
    if (!fallback) fallback = &p;
  }
  EMBER_CHECK(fallback != nullptr, "conv2d (cuDNN ", pass, "): no algorithm fits in ", limit, " bytes of workspace");
  return {static_cast<int>(fallback->algo), fallback->memory, fallback->mathType};
}

// Runs the chosen algorithm with the math type it was found with where TF32 is allowed; otherwise
// the descriptor keeps FMA math (CUDNN_DEFAULT_MATH would allow TF32 on Ampere and later).
void use_math_of(const AlgoChoice& choice, const ConvDescriptors& d) {
  if (d.tf32) EMBER_CUDA_CHECK(cudnnSetConvolutionMathType(d.conv.get(), choice.math));
}

// Looks the choice up, or asks cuDNN's heuristics once for this shape.
template <typename Choose>
AlgoChoice cached_algo(const AlgoKey& key, Choose&& choose) {
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = algo_cache().find(key);
    if (it != algo_cache().end()) return it->second;
  }
  AlgoChoice choice = choose();
  std::lock_guard<std::mutex> lock(cache_mutex);
  algo_cache().emplace(key, choice);
  return choice;
}

// A device buffer of `bytes` from the caching allocator (kept alive by the returned tensor).
Tensor workspace(const Tensor& like, size_t bytes) {
  if (bytes == 0) return Tensor();
  return empty({static_cast<int64_t>(bytes)}, TensorOptions(kUInt8).with_device(like.device()));
}
void* workspace_ptr(const Tensor& ws) { return ws.defined() ? ws.data_ptr() : nullptr; }

// alpha = 1, beta = 0 (or 1) in the scaling type cuDNN wants for the tensors' dtype.
struct Scale {
  float f;
  double d;
  explicit Scale(double v) : f(static_cast<float>(v)), d(v) {}
  const void* of(DType t) const { return t == DType::Float64 ? static_cast<const void*>(&d) : &f; }
};

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& out,
                    const Conv2dParams& params) {
  ember::cuda::DeviceScope scope(x.device().index);
  cudnnHandle_t handle = handle_on_stream(out);
  ConvDescriptors d(x.sizes(), weight.sizes(), out.sizes(), params, x.dtype());
  const bool timed = timed_choice(out);
  AlgoChoice choice = cached_algo(algo_key(Pass::Forward, timed, d.tf32, x, weight.sizes(), params), [&] {
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    int returned = 0;
    if (timed) {  // writes `out`, which the convolution below overwrites
      const size_t bytes = search_workspace_bytes();
      Tensor search = workspace(out, bytes);
      EMBER_CUDA_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
          handle, d.x.get(), x.data_ptr(), d.w.get(), weight.data_ptr(), d.conv.get(), d.y.get(), out.data_ptr(),
          static_cast<int>(perf.size()), &returned, perf.data(), workspace_ptr(search), bytes));
    } else {
      EMBER_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                               static_cast<int>(perf.size()), &returned, perf.data()));
    }
    return pick(perf, returned, d.tf32, "forward");
  });
  use_math_of(choice, d);
  Tensor ws = workspace(out, choice.workspace_bytes);
  const Scale one(1.0), zero(0.0);
  const DType t = x.dtype();
  EMBER_CUDA_CHECK(cudnnConvolutionForward(handle, one.of(t), d.x.get(), x.data_ptr(), d.w.get(), weight.data_ptr(),
                                           d.conv.get(), static_cast<cudnnConvolutionFwdAlgo_t>(choice.algo),
                                           workspace_ptr(ws), choice.workspace_bytes, zero.of(t), d.y.get(),
                                           out.data_ptr()));
  if (bias.defined()) {
    TensorDesc bias_desc({1, bias.size(0), 1, 1}, t);
    EMBER_CUDA_CHECK(cudnnAddTensor(handle, one.of(t), bias_desc.get(), bias.data_ptr(), one.of(t), d.y.get(),
                                    out.data_ptr()));
  }
}

void conv2d_backward_data(const Tensor& grad_out, const Tensor& weight, const Tensor& grad_x,
                          const Conv2dParams& params) {
  ember::cuda::DeviceScope scope(grad_x.device().index);
  cudnnHandle_t handle = handle_on_stream(grad_x);
  ConvDescriptors d(grad_x.sizes(), weight.sizes(), grad_out.sizes(), params, grad_x.dtype());
  const bool timed = timed_choice(grad_x);
  AlgoChoice choice = cached_algo(algo_key(Pass::BackwardData, timed, d.tf32, grad_x, weight.sizes(), params), [&] {
    std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT);
    int returned = 0;
    if (timed) {  // writes grad_x, which the call below overwrites
      const size_t bytes = search_workspace_bytes();
      Tensor search = workspace(grad_x, bytes);
      EMBER_CUDA_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
          handle, d.w.get(), weight.data_ptr(), d.y.get(), grad_out.data_ptr(), d.conv.get(), d.x.get(),
          grad_x.data_ptr(), static_cast<int>(perf.size()), &returned, perf.data(), workspace_ptr(search), bytes));
    } else {
      EMBER_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, d.w.get(), d.y.get(), d.conv.get(),
                                                                    d.x.get(), static_cast<int>(perf.size()),
                                                                    &returned, perf.data()));
    }
    return pick(perf, returned, d.tf32, "backward data");
  });
  use_math_of(choice, d);
  Tensor ws = workspace(grad_x, choice.workspace_bytes);
  const Scale one(1.0), zero(0.0);
  const DType t = grad_x.dtype();
  EMBER_CUDA_CHECK(cudnnConvolutionBackwardData(handle, one.of(t), d.w.get(), weight.data_ptr(), d.y.get(),
                                                grad_out.data_ptr(), d.conv.get(),
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(choice.algo),
                                                workspace_ptr(ws), choice.workspace_bytes, zero.of(t), d.x.get(),
                                                grad_x.data_ptr()));
}

void conv2d_backward_filter(const Tensor& grad_out, const Tensor& x, const Tensor& grad_weight,
                            const Conv2dParams& params) {
  ember::cuda::DeviceScope scope(x.device().index);
  cudnnHandle_t handle = handle_on_stream(grad_weight);
  ConvDescriptors d(x.sizes(), grad_weight.sizes(), grad_out.sizes(), params, x.dtype());
  const bool timed = timed_choice(grad_weight);
  AlgoChoice choice = cached_algo(algo_key(Pass::BackwardFilter, timed, d.tf32, x, grad_weight.sizes(), params), [&] {
    std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
    int returned = 0;
    if (timed) {  // writes grad_weight, which the call below overwrites
      const size_t bytes = search_workspace_bytes();
      Tensor search = workspace(grad_weight, bytes);
      EMBER_CUDA_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
          handle, d.x.get(), x.data_ptr(), d.y.get(), grad_out.data_ptr(), d.conv.get(), d.w.get(),
          grad_weight.data_ptr(), static_cast<int>(perf.size()), &returned, perf.data(), workspace_ptr(search),
          bytes));
    } else {
      EMBER_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, d.x.get(), d.y.get(), d.conv.get(),
                                                                      d.w.get(), static_cast<int>(perf.size()),
                                                                      &returned, perf.data()));
    }
    return pick(perf, returned, d.tf32, "backward filter");
  });
  use_math_of(choice, d);
  Tensor ws = workspace(x, choice.workspace_bytes);
  const Scale one(1.0), zero(0.0);
  const DType t = x.dtype();
  EMBER_CUDA_CHECK(cudnnConvolutionBackwardFilter(handle, one.of(t), d.x.get(), x.data_ptr(), d.y.get(),
                                                  grad_out.data_ptr(), d.conv.get(),
                                                  static_cast<cudnnConvolutionBwdFilterAlgo_t>(choice.algo),
                                                  workspace_ptr(ws), choice.workspace_bytes, zero.of(t), d.w.get(),
                                                  grad_weight.data_ptr()));
}

void conv2d_backward_bias(const Tensor& grad_out, const Tensor& grad_bias) {
  ember::cuda::DeviceScope scope(grad_out.device().index);
  cudnnHandle_t handle = handle_on_stream(grad_bias);
  const DType t = grad_out.dtype();
  TensorDesc dy(grad_out.sizes(), t), db({1, grad_bias.size(0), 1, 1}, t);
  const Scale one(1.0), zero(0.0);
  EMBER_CUDA_CHECK(cudnnConvolutionBackwardBias(handle, one.of(t), dy.get(), grad_out.data_ptr(), zero.of(t),
                                                db.get(), grad_bias.data_ptr()));
}

}  // namespace ember::kernels::cuda
