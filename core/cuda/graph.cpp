#include <ember/core/cuda/check.h>
#include <ember/core/cuda_graph.h>

namespace ember::cuda {

namespace {
cudaGraph_t as_graph(void* g) { return static_cast<cudaGraph_t>(g); }
cudaGraphExec_t as_exec(void* e) { return static_cast<cudaGraphExec_t>(e); }
}  // namespace

void Graph::capture_begin() {
  EMBER_CHECK(!capturing_ && !captured(), "cuda::Graph: capture_begin on a graph that is already captured; reset() first");
  stream_ = current_stream();
  EMBER_CHECK(stream_.handle() != nullptr,
              "cuda::Graph: cannot capture the default stream; make another current (cuda::StreamGuard)");
  // Queued work that is not part of the step must not be captured: let it finish first.
  stream_.synchronize();
  pool_ = detail::begin_private_pool(stream_.device());
  // Relaxed: the caching allocator may still call cudaMalloc for the pool while capturing.
  cudaError_t status = cudaStreamBeginCapture(static_cast<cudaStream_t>(stream_.handle()), cudaStreamCaptureModeRelaxed);
  if (status != cudaSuccess) {
    detail::end_private_pool(stream_.device());
    detail::release_private_pool(stream_.device(), pool_);
    pool_ = 0;
    EMBER_CUDA_CHECK(status);
  }
  capturing_ = true;
}

void Graph::capture_end() {
  EMBER_CHECK(capturing_, "cuda::Graph: capture_end without capture_begin");
  capturing_ = false;
  cudaGraph_t graph = nullptr;
  cudaError_t status = cudaStreamEndCapture(static_cast<cudaStream_t>(stream_.handle()), &graph);
  detail::end_private_pool(stream_.device());
  if (status != cudaSuccess) {
    reset();
    EMBER_CUDA_CHECK(status);  // e.g. cudaErrorStreamCaptureInvalidated: something synchronised
  }
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  EMBER_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  exec_ = exec;
}

void Graph::capture(const std::function<void()>& work) {
  capture_begin();
  try {
    work();
  } catch (...) {
    // End the capture the exception interrupted (its partial graph is not wanted), then drop it.
    cudaGraph_t partial = nullptr;
    cudaStreamEndCapture(static_cast<cudaStream_t>(stream_.handle()), &partial);
    cudaGetLastError();
    if (partial) cudaGraphDestroy(partial);
    capturing_ = false;
    detail::end_private_pool(stream_.device());
    reset();
    throw;
  }
  capture_end();
}

void Graph::replay() {
  EMBER_CHECK(captured(), "cuda::Graph: replay before a successful capture");
  EMBER_CUDA_CHECK(cudaGraphLaunch(as_exec(exec_), static_cast<cudaStream_t>(stream_.handle())));
}

void Graph::reset() {
  if (exec_) {
    // The graph's kernels may still run: its memory must not be handed out before they finish.
    cudaStreamSynchronize(static_cast<cudaStream_t>(stream_.handle()));
    cudaGraphExecDestroy(as_exec(exec_));
  }
  if (graph_) cudaGraphDestroy(as_graph(graph_));
  if (pool_) detail::release_private_pool(stream_.device(), pool_);
  exec_ = nullptr;
  graph_ = nullptr;
  pool_ = 0;
}

Graph::~Graph() { reset(); }

}  // namespace ember::cuda
