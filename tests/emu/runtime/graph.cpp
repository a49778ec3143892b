// Stream capture and graph replay: a capturing stream records its queued work (arguments by value)
// instead of running it; cudaGraphLaunch re-enqueues the recorded nodes in order.
#include "internal.h"

#include <string>

using namespace emu;
cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec) return cudaErrorInvalidResourceHandle;
  if (rec == &g_null_stream) {
    report("cudaStreamBeginCapture on the legacy default stream");
    return cudaErrorStreamCaptureUnsupported;
  }
  if (rec->capture) return cudaErrorIllegalState;
  rec->capture = new CUgraph_st;
  rec->capture_mode = mode;
  rec->invalidated = false;
  ++g_active_captures;
  trace_event("graph", "cudaStreamBeginCapture", s, "host");
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec || !rec->capture) return cudaErrorIllegalState;
  --g_active_captures;
  CUgraph_st* graph = rec->capture;
  g_detail = std::to_string(graph->nodes.size()) + " nodes" + (rec->invalidated ? " (invalidated)" : "");
  trace_event("graph", "cudaStreamEndCapture", s, "host");
  g_detail.clear();
  rec->capture = nullptr;
  if (rec->invalidated) {
    delete graph;
    *g = nullptr;
    rec->invalidated = false;
    return cudaErrorStreamCaptureInvalidated;
  }
  *g = graph;
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* e, cudaGraph_t g, unsigned long long) {
  if (!g) return cudaErrorInvalidValue;
  *e = new CUgraphExec_st{g->nodes};
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!e) return cudaErrorInvalidValue;
  ++g_counts.graph_launches;
  g_detail = std::to_string(e->nodes.size()) + " nodes";
  trace_event("graph", "cudaGraphLaunch", s, stream_rec(s) && stream_rec(s)->capture ? "capture" : "eager");
  g_detail.clear();
  ++g_replaying;
  for (auto& node : e->nodes) {
    cudaError_t err = enqueue(s, node.first.c_str(), node.second);
    if (err != cudaSuccess) {
      --g_replaying;
      return err;
    }
  }
  --g_replaying;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
  delete g;
  return cudaSuccess;
}
