// The emulator's self-tests of cross-stream stream capture: a stream that waits on an event recorded in
// a capture joins it (fork), and must be joined back before the capture ends. Tagged [emu]: the
// unjoined case provokes an EMU ERROR on purpose (./run runs [emu] with EMU_ERRORS_FAIL=0).
#include <catch2/catch.hpp>

namespace emu { int error_count(); }

namespace {
// *p = 10 * *p + digit: the final value spells the order in which the launches ran.
__global__ void append_digit(int* p, int digit) {
  if (threadIdx.x == 0) *p = *p * 10 + digit;
}

int read_back(const int* d) {
  int h = -1;
  cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost);
  return h;
}

cudaStreamCaptureStatus capture_status(cudaStream_t s) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  cudaStreamIsCapturing(s, &st);
  return st;
}
}  // namespace

TEST_CASE("emu: fork/join capture records the forked stream's work into the graph", "[emu]") {
  int* d = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int));
  cudaMemset(d, 0, sizeof(int));
  cudaStream_t s = nullptr, t = nullptr;
  cudaEvent_t forked = nullptr, joined = nullptr;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  cudaStreamCreateWithFlags(&t, cudaStreamNonBlocking);
  cudaEventCreateWithFlags(&forked, cudaEventDisableTiming);
  cudaEventCreateWithFlags(&joined, cudaEventDisableTiming);
  int errors = emu::error_count();
  emu::TraceCounts before = emu::trace_counts();

  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  append_digit<<<1, 32, 0, s>>>(d, 1);
  REQUIRE(cudaEventRecord(forked, s) == cudaSuccess);
  REQUIRE(cudaStreamWaitEvent(t, forked, 0) == cudaSuccess);
  CHECK(capture_status(t) == cudaStreamCaptureStatusActive);
  append_digit<<<1, 32, 0, t>>>(d, 2);
  REQUIRE(cudaEventRecord(joined, t) == cudaSuccess);
  REQUIRE(cudaStreamWaitEvent(s, joined, 0) == cudaSuccess);
  append_digit<<<1, 32, 0, s>>>(d, 3);
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  REQUIRE(graph != nullptr);
  CHECK(capture_status(s) == cudaStreamCaptureStatusNone);
  CHECK(capture_status(t) == cudaStreamCaptureStatusNone);
  CHECK(read_back(d) == 0);  // nothing ran while capturing, on either stream
  CHECK(emu::trace_counts().captured_nodes - before.captured_nodes == 3);

  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  for (int replay = 0; replay < 2; ++replay) {
    cudaMemsetAsync(d, 0, sizeof(int), s);
    REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(read_back(d) == 123);  // the branch on t ran after the fork and before the join
  }
  CHECK(emu::trace_counts().replayed_nodes - before.replayed_nodes == 6);
  CHECK(emu::error_count() == errors);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaEventDestroy(forked);
  cudaEventDestroy(joined);
  cudaStreamDestroy(s);
  cudaStreamDestroy(t);
  cudaFree(d);
}

TEST_CASE("emu: an unjoined fork fails cudaStreamEndCapture and leaves both streams usable", "[emu]") {
  int* d = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int));
  cudaMemset(d, 0, sizeof(int));
  cudaStream_t s = nullptr, t = nullptr;
  cudaEvent_t forked = nullptr;
  cudaStreamCreate(&s);
  cudaStreamCreate(&t);
  cudaEventCreate(&forked);
  int errors = emu::error_count();

  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  append_digit<<<1, 32, 0, s>>>(d, 1);
  cudaEventRecord(forked, s);
  cudaStreamWaitEvent(t, forked, 0);
  append_digit<<<1, 32, 0, t>>>(d, 2);  // never joined back into s
  cudaGraph_t graph = reinterpret_cast<cudaGraph_t>(&graph);
  CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureUnjoined);
  CHECK(graph == nullptr);
  CHECK(emu::error_count() > errors);
  CHECK(capture_status(s) == cudaStreamCaptureStatusNone);
  CHECK(capture_status(t) == cudaStreamCaptureStatusNone);
  CHECK(read_back(d) == 0);

  // Both run eagerly again, and s can capture anew.
  append_digit<<<1, 32, 0, t>>>(d, 4);
  append_digit<<<1, 32, 0, s>>>(d, 5);
  CHECK(cudaStreamSynchronize(t) == cudaSuccess);
  CHECK(cudaStreamSynchronize(s) == cudaSuccess);
  CHECK(read_back(d) == 45);
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  append_digit<<<1, 32, 0, s>>>(d, 6);
  CHECK(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  CHECK(graph != nullptr);
  CHECK(read_back(d) == 45);
  cudaGraphDestroy(graph);
  cudaEventDestroy(forked);
  cudaStreamDestroy(s);
  cudaStreamDestroy(t);
  cudaFree(d);
}

TEST_CASE("emu: a fork joined through another forked stream, EndCapture belongs to the origin", "[emu]") {
  int* d = nullptr;
  cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int));
  cudaMemset(d, 0, sizeof(int));
  cudaStream_t s = nullptr, t = nullptr, u = nullptr;
  cudaEvent_t e_s = nullptr, e_t = nullptr, e_u = nullptr;
  for (cudaStream_t* st : {&s, &t, &u}) cudaStreamCreate(st);
  for (cudaEvent_t* e : {&e_s, &e_t, &e_u}) cudaEventCreate(e);
  int errors = emu::error_count();

  // s forks t, t forks u; u's work joins t, t's joins s: u's branch reaches the origin through t.
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  cudaEventRecord(e_s, s);
  cudaStreamWaitEvent(t, e_s, 0);
  append_digit<<<1, 32, 0, t>>>(d, 1);
  cudaEventRecord(e_t, t);
  cudaStreamWaitEvent(u, e_t, 0);
  append_digit<<<1, 32, 0, u>>>(d, 2);
  cudaEventRecord(e_u, u);
  cudaStreamWaitEvent(t, e_u, 0);
  cudaEventRecord(e_t, t);
  cudaStreamWaitEvent(s, e_t, 0);
  CHECK(cudaStreamEndCapture(t, nullptr) == cudaErrorStreamCaptureUnmatched);  // not t's capture to end
  cudaGraph_t graph = nullptr;
  CHECK(cudaStreamEndCapture(s, &graph) == cudaErrorStreamCaptureInvalidated);  // the attempt spoilt it
  CHECK(emu::error_count() == errors + 1);

  // The same capture without the misuse ends cleanly.
  REQUIRE(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
  cudaEventRecord(e_s, s);
  cudaStreamWaitEvent(t, e_s, 0);
  append_digit<<<1, 32, 0, t>>>(d, 1);
  cudaEventRecord(e_t, t);
  cudaStreamWaitEvent(u, e_t, 0);
  append_digit<<<1, 32, 0, u>>>(d, 2);
  cudaEventRecord(e_u, u);
  cudaStreamWaitEvent(t, e_u, 0);
  cudaEventRecord(e_t, t);
  cudaStreamWaitEvent(s, e_t, 0);
  REQUIRE(cudaStreamEndCapture(s, &graph) == cudaSuccess);
  CHECK(emu::error_count() == errors + 1);
  for (cudaStream_t st : {s, t, u}) CHECK(capture_status(st) == cudaStreamCaptureStatusNone);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  REQUIRE(cudaGraphLaunch(exec, s) == cudaSuccess);
  cudaStreamSynchronize(s);
  CHECK(read_back(d) == 12);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  for (cudaEvent_t e : {e_s, e_t, e_u}) cudaEventDestroy(e);
  for (cudaStream_t st : {s, t, u}) cudaStreamDestroy(st);
  cudaFree(d);
}
