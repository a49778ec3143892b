// Core CUDA kernels against the CPU reference: every elementwise op (forward and backward) and the
// copy/fill kernels in float32 and float64 over contiguous, strided and broadcast inputs; host<->device
// copies; the Philox random fills; the caching allocator's steady state.
#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include <ember/kernels/transpose_plan.h>

#include "../support/test_support.h"

using namespace ember;
using testing::compare_cuda_with_cpu;
using testing::random_tensor;

namespace {

// Tolerances: float32 kernels may differ from the CPU in the last bits of exp/log/tanh; float64 must
// agree to near machine precision.
double rtol_for(DType t) { return t == kFloat32 ? 1e-5 : 1e-12; }
double atol_for(DType t) { return t == kFloat32 ? 1e-6 : 1e-13; }

// A never-zero leaf: magnitudes in [low, high) with random signs unless `positive`.
Tensor nonzero_input(const Shape& sizes, uint64_t seed, double low, double high, bool positive) {
  Tensor magnitude = random_tensor(sizes, seed, low, high);
  if (!positive) {
    std::vector<double> m = magnitude.to_vector<double>();
    std::vector<double> s = random_tensor(sizes, seed + 7777).to_vector<double>();
    for (size_t i = 0; i < m.size(); ++i) m[i] *= s[i] < 0 ? -1.0 : 1.0;
    magnitude = from_vector(m, sizes);
  }
  return magnitude.set_requires_grad(true);
}

void require_match(const testing::TensorFn& fn, const TensorList& inputs, DType dtype) {
  std::string why = compare_cuda_with_cpu(fn, inputs, rtol_for(dtype), atol_for(dtype), dtype);
  INFO(why);
  CHECK(why.empty());
}

using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;
using Unary = std::function<Tensor(const Tensor&)>;

}  // namespace

TEST_CASE("cuda: binary elementwise ops match the CPU", "[cuda][core]") {
  std::vector<std::pair<const char*, Binary>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }},
  };
  for (DType dtype : {kFloat32, kFloat64}) {
    for (auto& [name, op] : ops) {
      INFO(name << " " << dtype_name(dtype));
      auto plain = [op = op](const TensorList& in) { return op(in[0], in[1]); };
      // Contiguous, and big enough for several blocks and a vector-load tail.
      require_match(plain, {nonzero_input({37, 129}, 1, 0.5, 2, false), nonzero_input({37, 129}, 2, 0.5, 2, false)},
                    dtype);
      // Broadcast: rank and size-1 dims on either side.
      require_match(plain, {nonzero_input({4, 5, 6}, 3, 0.5, 2, false), nonzero_input({5, 1}, 4, 0.5, 2, false)}, dtype);
      require_match(plain, {nonzero_input({1, 7}, 5, 0.5, 2, false), nonzero_input({9, 1}, 6, 0.5, 2, false)}, dtype);
      require_match(plain, {nonzero_input({}, 7, 0.5, 2, false), nonzero_input({3, 3}, 8, 0.5, 2, false)}, dtype);
      // Strided: a transpose and a step-2 slice made on the device.
      auto strided = [op = op](const TensorList& in) { return op(in[0].t(), in[1].slice(1, 0, 10, 2)); };
      require_match(strided, {nonzero_input({5, 33}, 9, 0.5, 2, false), nonzero_input({33, 10}, 10, 0.5, 2, false)},
                    dtype);
    }
  }
}

TEST_CASE("cuda: unary elementwise ops and their backward kernels match the CPU", "[cuda][core]") {
  struct Case {
    const char* name;
    Unary op;
    double low, high;
    bool positive;  // the op needs positive inputs
  };
  std::vector<Case> cases = {
      {"neg", [](const Tensor& x) { return neg(x); }, 0.1, 2, false},
      {"exp", [](const Tensor& x) { return exp(x); }, 0.1, 2, false},
      {"log", [](const Tensor& x) { return log(x); }, 0.1, 3, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, 0.1, 3, true},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, 0.1, 2, false},
      {"pow -0.5", [](const Tensor& x) { return pow(x, -0.5); }, 0.1, 2, true},
      {"relu", [](const Tensor& x) { return relu(x); }, 0.1, 2, false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, 0.1, 8, false},
      {"tanh", [](const Tensor& x) { return tanh(x); }, 0.1, 3, false},
      {"abs", [](const Tensor& x) { return abs(x); }, 0.1, 2, false},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.7, 1.2); }, 0.1, 2, false},
      {"add scalar", [](const Tensor& x) { return add(x, 1.25); }, 0.1, 2, false},
      {"mul scalar", [](const Tensor& x) { return mul(x, -0.75); }, 0.1, 2, false},
      {"div scalar", [](const Tensor& x) { return div(x, 3.0); }, 0.1, 2, false},
  };
  for (DType dtype : {kFloat32, kFloat64}) {
    for (const Case& c : cases) {
      INFO(c.name << " " << dtype_name(dtype));
      auto plain = [op = c.op](const TensorList& in) { return op(in[0]); };
      require_match(plain, {nonzero_input({1000, 3}, 11, c.low, c.high, c.positive)}, dtype);
      require_match(plain, {nonzero_input({7}, 12, c.low, c.high, c.positive)}, dtype);  // smaller than a vector
      auto strided = [op = c.op](const TensorList& in) { return op(in[0].permute({2, 0, 1}).slice(1, 1, 6, 2)); };
      require_match(strided, {nonzero_input({6, 5, 9}, 13, c.low, c.high, c.positive)}, dtype);
      auto broadcast = [op = c.op](const TensorList& in) { return op(in[0].expand({4, 3, 5})); };
      require_match(broadcast, {nonzero_input({3, 1}, 14, c.low, c.high, c.positive)}, dtype);
    }
  }
}

TEST_CASE("cuda: eq and in-place axpy/mul_/div_/add_ match the CPU", "[cuda][core]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    Tensor a = random_tensor({50, 3}, 21, 0.5, 1.5, dtype);
    Tensor b = a.clone();
    std::vector<double> bv = b.to_vector<double>();
    for (size_t i = 0; i < bv.size(); i += 3) bv[i] += 1.0;
    b = from_vector(bv, {50, 3}, dtype);
    Tensor cpu_eq = eq(a, b);
    Tensor cuda_eq = eq(a.to(cuda_device(0)), b.to(cuda_device(0)));
    CHECK(cuda_eq.dtype() == kUInt8);
    CHECK(cuda_eq.to(kCPU).to_vector<uint8_t>() == cpu_eq.to_vector<uint8_t>());

    Tensor acc_cpu = random_tensor({50, 3}, 22, 0.5, 1.5, dtype);
    Tensor acc_cuda = acc_cpu.to(cuda_device(0));
    Tensor row = random_tensor({3}, 23, 0.5, 1.5, dtype);
    acc_cpu.add_(row, -0.5).mul_(3.0).div_(7.0).add_(0.25);
    acc_cuda.add_(row.to(cuda_device(0)), -0.5).mul_(3.0).div_(7.0).add_(0.25);
    std::string why;
    bool close = testing::all_close(acc_cuda.to(kCPU), acc_cpu, rtol_for(dtype), atol_for(dtype), &why);
    INFO(why);
    CHECK(close);
  }
}

TEST_CASE("cuda: copy, fill and dtype conversion kernels match the CPU", "[cuda][core]") {
  Device gpu = cuda_device(0);
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    Tensor host = random_tensor({8, 6, 5}, 31, -3, 3, dtype);
    Tensor dev = host.to(gpu);
    CHECK(dev.is_cuda());
    CHECK(dev.dtype() == dtype);
    // contiguous() of a permuted/sliced view runs the strided copy kernel on the device.
    Tensor view_cpu = host.permute({2, 0, 1}).slice(2, 1, 6, 2);
    Tensor view_gpu = dev.permute({2, 0, 1}).slice(2, 1, 6, 2);
    CHECK(view_gpu.contiguous().to(kCPU).to_vector<double>() == view_cpu.contiguous().to_vector<double>());
    // Conversions on the device, to every dtype.
    for (DType target : {kFloat32, kFloat64, kInt64, kUInt8}) {
      INFO("to " << dtype_name(target));
      Tensor source_cpu = target == kUInt8 ? mul(add(host, 3.0), 20.0) : host;
      Tensor converted = source_cpu.to(gpu).to(target);
      CHECK(converted.dtype() == target);
      CHECK(converted.to(kCPU).to_vector<double>() == source_cpu.to(target).to_vector<double>());
    }
    // copy_ with broadcasting into a non-contiguous destination.
    Tensor dst_cpu = zeros({6, 4}, dtype), dst_gpu = zeros({6, 4}, TensorOptions(dtype).with_device(gpu));
    Tensor src = random_tensor({1, 6}, 32, -1, 1, dtype);
    dst_cpu.t().copy_(src);
    dst_gpu.t().copy_(src.to(gpu));
    CHECK(dst_gpu.to(kCPU).to_vector<double>() == dst_cpu.to_vector<double>());
    // fill_ through a strided view touches only the view.
    Tensor fill_cpu = zeros({5, 8}, dtype), fill_gpu = zeros({5, 8}, TensorOptions(dtype).with_device(gpu));
    fill_cpu.slice(1, 1, 8, 3).fill_(2.5);
    fill_gpu.slice(1, 1, 8, 3).fill_(2.5);
    CHECK(fill_gpu.to(kCPU).to_vector<double>() == fill_cpu.to_vector<double>());
    // The differentiable copies (clone, contiguous, to) send gradients back across the device.
    require_match([](const TensorList& in) { return in[0].t().contiguous() * 2.0; },
                  {nonzero_input({9, 4}, 33, 0.5, 1.5, false)}, dtype);
    require_match([](const TensorList& in) { return in[0].clone() * in[0]; }, {nonzero_input({17}, 34, 0.5, 1.5, false)},
                  dtype);
  }
}

// Transposed copies take the shared-memory tile kernel (kernels/transpose_plan.h): partial tiles,
// batch dims on either side of the tile dims, a sliced source, 4- and 8-byte dtypes. Exact.
TEST_CASE("cuda: tiled transposed copies match the CPU", "[cuda][core]") {
  Device gpu = cuda_device(0);
  struct Case {
    Shape shape;
    std::vector<int64_t> order;
  };
  const std::vector<Case> cases = {{{3, 37, 70}, {2, 0, 1}}, {{64, 96}, {1, 0}}, {{2, 100, 129}, {0, 2, 1}},
                                   {{33, 4, 40}, {2, 1, 0}}};
  for (DType dtype : {kFloat32, kFloat64, kInt64}) {
    for (const Case& c : cases) {
      INFO(dtype_name(dtype) << " " << shape_str(c.shape));
      Tensor host = mul(random_tensor(c.shape, 41, -3, 3, kFloat64), 100.0).to(dtype);
      Tensor view_cpu = host.permute(c.order), view_gpu = host.to(gpu).permute(c.order);
      kernels::TransposePlan plan;
      REQUIRE(kernels::plan_transposed_copy(view_gpu, empty(view_gpu.sizes(), TensorOptions(dtype)), plan));
      CHECK(view_gpu.contiguous().to(kCPU).to_vector<double>() == view_cpu.contiguous().to_vector<double>());
    }
    // A transpose of a sliced source (column stride 70, rows starting at column 5).
    Tensor host = mul(random_tensor({37, 70}, 42, -3, 3, kFloat64), 100.0).to(dtype);
    Tensor gpu_view = host.to(gpu).slice(1, 5, 70).t();
    CHECK(gpu_view.contiguous().to(kCPU).to_vector<double>() == host.slice(1, 5, 70).t().contiguous().to_vector<double>());
  }
}

TEST_CASE("cuda: host<->device round trips keep every value", "[cuda][core]") {
  Device gpu = cuda_device(0);
  for (DType dtype : {kFloat32, kFloat64, kInt64, kUInt8}) {
    INFO(dtype_name(dtype));
    Tensor host = random_tensor({3, 1001}, 41, 0, 100).to(dtype);
    CHECK(host.to(gpu).to(kCPU).to_vector<double>() == host.to_vector<double>());
    // A strided host source and a strided host destination.
    Tensor strided = host.t();
    CHECK(strided.to(gpu).to(kCPU).to_vector<double>() == strided.to_vector<double>());
    Tensor dst = zeros({1001, 3}, dtype).t();
    dst.copy_(host.to(gpu));
    CHECK(dst.to_vector<double>() == host.to_vector<double>());
    // non_blocking copies are ordered on the current stream; the synchronising read sees them.
    Tensor async = host.to(gpu, /*non_blocking=*/true).to(kCPU, /*non_blocking=*/false);
    CHECK(async.to_vector<double>() == host.to_vector<double>());
  }
  // Cross-device copy_ with a dtype change in the same call.
  Tensor dst = zeros({4}, TensorOptions(kFloat32).with_device(gpu));
  dst.copy_(from_vector<double>({1.5, -2, 3, 4}, {4}));
  CHECK(dst.to(kCPU).to_vector<float>() == std::vector<float>{1.5f, -2.0f, 3.0f, 4.0f});
}

TEST_CASE("cuda: rand and randn on CUDA equal the CPU stream for the same seed", "[cuda][core]") {
  for (DType dtype : {kFloat32, kFloat64}) {
    INFO(dtype_name(dtype));
    for (int64_t n : {1, 3, 4, 1001, 65537}) {
      INFO("n = " << n);
      Generator cpu_gen(2024), gpu_gen(2024);
      Tensor u_cpu = rand({n}, dtype, &cpu_gen);
      Tensor u_gpu = rand({n}, TensorOptions(dtype).with_device(cuda_device(0)), &gpu_gen);
      std::string uniform_why;
      bool uniform_close = testing::all_close(u_gpu.to(kCPU), u_cpu, 0, dtype == kFloat32 ? 1e-7 : 1e-15, &uniform_why);
      INFO(uniform_why);
      CHECK(uniform_close);
      // Box-Muller uses log/cos/sin, whose last bits may differ between libm and CUDA's math library.
      Tensor n_cpu = randn({n}, dtype, &cpu_gen);
      Tensor n_gpu = randn({n}, TensorOptions(dtype).with_device(cuda_device(0)), &gpu_gen);
      std::string normal_why;
      double tol = dtype == kFloat32 ? 1e-5 : 1e-12;
      bool normal_close = testing::all_close(n_gpu.to(kCPU), n_cpu, tol, tol, &normal_why);
      INFO(normal_why);
      CHECK(normal_close);
      CHECK(cpu_gen.state().offset == gpu_gen.state().offset);
    }
    // Fills of views one element into their storage (no vector stores) and of a transposed view.
    Generator cpu_gen(77), gpu_gen(77);
    Tensor host = zeros({1002}, dtype), device = zeros({1002}, TensorOptions(dtype).with_device(cuda_device(0)));
    Tensor host_view = host.narrow(0, 1, 1001), device_view = device.narrow(0, 1, 1001);
    uniform_(host_view, -2.0, 2.0, &cpu_gen);
    uniform_(device_view, -2.0, 2.0, &gpu_gen);
    CHECK(testing::all_close(device.to(kCPU), host, 0, dtype == kFloat32 ? 1e-7 : 1e-15));
    normal_(host_view, 0.0, 1.0, &cpu_gen);
    normal_(device_view, 0.0, 1.0, &gpu_gen);
    CHECK(testing::all_close(device.to(kCPU), host, 1e-5, 1e-5));
    Tensor host_t = zeros({7, 9}, dtype).t(), device_t = zeros({7, 9}, TensorOptions(dtype).with_device(cuda_device(0))).t();
    uniform_(host_t, 0.0, 1.0, &cpu_gen);
    uniform_(device_t, 0.0, 1.0, &gpu_gen);
    CHECK(testing::all_close(device_t.to(kCPU), host_t, 0, dtype == kFloat32 ? 1e-7 : 1e-15));
  }
}

TEST_CASE("cuda: the caching allocator reaches a steady state without cudaMalloc", "[cuda][core]") {
  Device gpu = cuda_device(0);
  auto step = [&] {
    Tensor x = rand({256, 128}, TensorOptions(kFloat32).with_device(gpu)).set_requires_grad(true);
    Tensor y = sum(tanh(x * 2.0 + 1.0) * x);
    y.backward();
    return y.item();
  };
  step();  // warm-up: fills the cache with this workload's block sizes
  step();
  cuda::synchronize();
  cuda::AllocatorStats before = cuda::allocator_stats();
  for (int i = 0; i < 10; ++i) step();
  cuda::synchronize();
  cuda::AllocatorStats after = cuda::allocator_stats();
  CHECK(after.num_device_allocs == before.num_device_allocs);
  CHECK(after.num_device_frees == before.num_device_frees);
  CHECK(after.num_allocs > before.num_allocs);
  CHECK(after.cache_hits - before.cache_hits == after.num_allocs - before.num_allocs);
  CHECK(after.reserved_bytes == before.reserved_bytes);

  // empty_cache hands the unused blocks back; the next allocation calls cudaMalloc again.
  cuda::empty_cache();
  cuda::AllocatorStats emptied = cuda::allocator_stats();
  CHECK(emptied.reserved_bytes <= after.reserved_bytes);
  Tensor fresh = empty({1 << 20}, TensorOptions(kFloat32).with_device(gpu));
  CHECK(cuda::allocator_stats().num_device_allocs > emptied.num_device_allocs);
}

TEST_CASE("cuda: ops refuse operands on different devices", "[cuda][core]") {
  Tensor a = ones({2, 3}, kFloat32);
  Tensor b = ones({2, 3}, TensorOptions(kFloat32).with_device(cuda_device(0)));
  try {
    add(a, b);
    FAIL("expected a device mismatch error");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.find("add") != std::string::npos);
    CHECK(what.find("cpu") != std::string::npos);
    CHECK(what.find("cuda:0") != std::string::npos);
  }
}

TEST_CASE("cuda: contiguous operands at every alignment take the vector or the scalar path alike",
          "[cuda][core]") {
  // Narrowing a 1-D tensor by 0..3 elements keeps it contiguous but moves its start off the
  // 16-byte boundary that the vector loads need; the tail (n not a multiple of the vector width)
  // takes the scalar loop in both paths.
  for (DType dtype : {kFloat32, kFloat64}) {
    for (int64_t shift = 0; shift < 4; ++shift) {
      INFO(dtype_name(dtype) << " shift " << shift);
      auto shifted_mul = [shift](const TensorList& in) {
        return mul(in[0].narrow(0, shift, 1000), in[1].narrow(0, 3 - shift, 1000));
      };
      require_match(shifted_mul, {nonzero_input({1003}, 11, 0.5, 2, false), nonzero_input({1003}, 12, 0.5, 2, false)},
                    dtype);
      auto shifted_exp = [shift](const TensorList& in) { return exp(in[0].narrow(0, shift, 1001)); };
      require_match(shifted_exp, {nonzero_input({1004}, 13, 0.1, 1, false)}, dtype);
    }
  }
}
