// Stream capture and graph replay: a capturing stream records its queued work (arguments by value)
// instead of running it; cudaGraphLaunch re-enqueues the recorded nodes in order. Cross-stream capture:
// an event recorded in a capture forks any stream that waits on it into that capture, and every
// forked branch must be joined back into the origin stream before cudaStreamEndCapture. Streams run in
// issue order here, so the nodes in issue order are a valid topological order of the captured graph:
// only the dependencies needed to find unjoined work are tracked.
#include "internal.h"

#include <algorithm>
#include <string>

using namespace emu;

static unsigned long long g_capture_serial = 0;

// The capture an event was recorded in, while it is still active (nullptr once it has ended).
static CUgraph_st* live_capture(unsigned long long serial) {
  for (cudaStream_t st : g_streams)
    if (st->capture && st->capture->serial == serial) return st->capture;
  return nullptr;
}

namespace emu {
void capture_node(CUstream_st* rec, std::string described, std::function<void()> work) {
  CUgraph_st* g = rec->capture;
  for (size_t d : rec->frontier) g->has_dependent[d] = true;
  g->nodes.emplace_back(std::move(described), std::move(work));
  g->issued_by.push_back(rec->id);
  g->has_dependent.push_back(false);
  rec->frontier.assign(1, g->nodes.size() - 1);
}

void capture_record(CUevent_st* e, CUstream_st* rec) {
  e->capture_serial = rec->capture ? rec->capture->serial : 0;
  e->frontier = rec->capture ? rec->frontier : std::vector<size_t>{};
  e->stream_id = rec->id;
}

cudaError_t capture_wait(CUstream_st* rec, cudaStream_t s, CUevent_st* e) {
  if (e->capture_serial == 0) return cudaSuccess;  // recorded outside a capture: it has already run here
  CUgraph_st* g = live_capture(e->capture_serial);
  if (!g) {
    report("WARNING: stream %p waits on an event recorded in a capture that has ended (emulated: ignored)",
           static_cast<void*>(s));
    return cudaSuccess;
  }
  if (rec->capture && rec->capture != g) {
    report("WARNING: stream %p waits on an event of another stream capture (CUDA: cudaErrorStreamCaptureIsolation; "
           "emulated: ignored)", static_cast<void*>(s));
    return cudaSuccess;
  }
  if (!rec->capture) {
    if (rec == &g_null_stream) {  // the legacy stream cannot capture: CUDA refuses this join
      report_returned("the legacy default stream waits on an event recorded in a capture: invalidates the capture");
      g->invalidated = true;
      return cudaErrorStreamCaptureUnsupported;
    }
    rec->capture = g;
    rec->forked = true;
    rec->frontier.clear();
    g_detail = "forks s" + std::to_string(rec->id) + " into the capture of s" + std::to_string(g->origin_id);
  } else {
    g_detail = "s" + std::to_string(rec->id) + " now depends on s" + std::to_string(e->stream_id) + " (a join)";
  }
  trace_event("graph", "cudaStreamWaitEvent", s, "capture");
  g_detail.clear();
  for (size_t d : e->frontier)
    if (std::find(rec->frontier.begin(), rec->frontier.end(), d) == rec->frontier.end()) rec->frontier.push_back(d);
  return cudaSuccess;
}
}  // namespace emu

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
  rec->capture->serial = ++g_capture_serial;
  rec->capture->origin_id = rec->id;
  rec->capture->mode = mode;
  rec->forked = false;
  rec->frontier.clear();
  ++g_active_captures;
  trace_event("graph", "cudaStreamBeginCapture", s, "host");
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* g) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  CUstream_st* rec = stream_rec(s);
  if (!rec || !rec->capture) return cudaErrorIllegalState;
  CUgraph_st* graph = rec->capture;
  if (rec->forked) {  // CUDA ends a capture only on its origin stream, and the attempt spoils it
    report_returned("cudaStreamEndCapture on stream %p, which was forked into the capture of s%d, not its origin",
                    static_cast<void*>(s), graph->origin_id);
    graph->invalidated = true;
    return cudaErrorStreamCaptureUnmatched;
  }
  --g_active_captures;
  // Unjoined: captured work that no later node depends on and that the origin's frontier leaves out.
  std::set<int> unjoined_streams;
  for (size_t i = 0; i < graph->nodes.size(); ++i)
    if (!graph->has_dependent[i] && !std::count(rec->frontier.begin(), rec->frontier.end(), i))
      unjoined_streams.insert(graph->issued_by[i]);
  std::string unjoined;
  for (int id : unjoined_streams) unjoined += (unjoined.empty() ? "s" : ", s") + std::to_string(id);
  g_detail = std::to_string(graph->nodes.size()) + " nodes" + (graph->invalidated ? " (invalidated)" : "") +
             (unjoined.empty() ? "" : " (unjoined: " + unjoined + ")");
  trace_event("graph", "cudaStreamEndCapture", s, "host");
  g_detail.clear();
  for (cudaStream_t st : g_streams) {  // the origin and every stream forked into its capture stop capturing
    if (st->capture != graph) continue;
    st->capture = nullptr;
    st->forked = false;
    st->frontier.clear();
  }
  cudaError_t result = cudaSuccess;
  if (graph->invalidated) {
    result = cudaErrorStreamCaptureInvalidated;
  } else if (!unjoined.empty()) {
    report_returned("cudaStreamEndCapture on stream %p: work captured on %s was not joined back into the origin "
                    "s%d (record an event after it and make the origin wait on it): the capture is invalidated",
                    static_cast<void*>(s), unjoined.c_str(), graph->origin_id);
    result = cudaErrorStreamCaptureUnjoined;
  }
  if (result != cudaSuccess) {
    delete graph;
    *g = nullptr;
    return result;
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
