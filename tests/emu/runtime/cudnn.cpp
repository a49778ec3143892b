// The fake cuDNN: descriptors, the convolution passes (forward, backward data, backward filter) as
// naive loops accumulating in double, bias and tensor adds, algorithm queries and workspaces, with
// the real library's argument checks.
#include "internal.h"
#include <cudnn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

using namespace emu;
struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {
  int n = 0, c = 0, h = 0, w = 0;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  bool set = false;
};
struct cudnnFilterStruct {
  int k = 0, c = 0, h = 0, w = 0;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  bool set = false;
};
struct cudnnConvolutionStruct {
  int ph = 0, pw = 0, sh = 1, sw = 1, dh = 1, dw = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  bool set = false;
};
const char* cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    default: return "CUDNN_STATUS_OTHER";
  }
}
cudnnStatus_t cudnnCreate(cudnnHandle_t* h) {
  *h = new cudnnContext;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
  delete h;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
  h->stream = s;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  *d = new cudnnTensorStruct;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
static cudnnStatus_t bad(const char* what) {
  report("cuDNN: %s", what);
  return CUDNN_STATUS_BAD_PARAM;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f, cudnnDataType_t t, int n,
                                         int c, int h, int w) {
  if (f != CUDNN_TENSOR_NCHW) return bad("only NCHW emulated");
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return bad("cudnnSetTensor4dDescriptor: a dimension <= 0");
  *d = {n, c, h, w, t, true};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  *d = new cudnnFilterStruct;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t t, cudnnTensorFormat_t f, int k,
                                         int c, int h, int w) {
  if (f != CUDNN_TENSOR_NCHW) return bad("only NCHW filters emulated");
  if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return bad("cudnnSetFilter4dDescriptor: a dimension <= 0");
  *d = {k, c, h, w, t, true};
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  *d = new cudnnConvolutionStruct;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int ph, int pw, int u, int v, int dh,
                                              int dw, cudnnConvolutionMode_t mode, cudnnDataType_t t) {
  if (ph < 0 || pw < 0 || u <= 0 || v <= 0 || dh <= 0 || dw <= 0) return bad("cudnnSetConvolution2dDescriptor: bad values");
  d->ph = ph; d->pw = pw; d->sh = u; d->sw = v; d->dh = dh; d->dw = dw; d->mode = mode; d->type = t; d->set = true;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
  d->math = m;
  return CUDNN_STATUS_SUCCESS;
}

static size_t dsize(cudnnDataType_t t) { return t == CUDNN_DATA_DOUBLE ? 8 : 4; }
static size_t tbytes(const cudnnTensorStruct* d) { return size_t(d->n) * d->c * d->h * d->w * dsize(d->type); }
static size_t fbytes(const cudnnFilterStruct* d) { return size_t(d->k) * d->c * d->h * d->w * dsize(d->type); }

// Shapes consistent with y = conv(x, w)?
static cudnnStatus_t check_conv(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                                cudnnTensorDescriptor_t y) {
  if (!x->set || !w->set || !c->set || !y->set) return bad("descriptor used before being set");
  if (x->type != w->type || x->type != y->type) return bad("data types of x, w, y differ");
  if (c->type != x->type) report("WARNING: cuDNN: convolution compute type differs from the data type");
  if (c->mode != CUDNN_CROSS_CORRELATION) return bad("only cross-correlation emulated");
  if (x->c != w->c) return bad("x channels != filter channels");
  int p = (x->h + 2 * c->ph - c->dh * (w->h - 1) - 1) / c->sh + 1;
  int q = (x->w + 2 * c->pw - c->dw * (w->w - 1) - 1) / c->sw + 1;
  if (y->n != x->n || y->c != w->k || y->h != p || y->w != q) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "output descriptor %dx%dx%dx%d, expected %dx%dx%dx%d", y->n, y->c, y->h, y->w, x->n,
                  w->k, p, q);
    return bad(buf);
  }
  return CUDNN_STATUS_SUCCESS;
}

// Two candidates: algo 1 uses tensor cores (TF32), algo 0 FMA; both need a workspace.
template <typename Perf, typename Algo>
static void fill_perf(int requested, int* returned, Perf* perf) {
  Perf tf32{static_cast<Algo>(1), CUDNN_STATUS_SUCCESS, 0.1f, size_t(1) << 20, CUDNN_DETERMINISTIC, CUDNN_TENSOR_OP_MATH, {}};
  Perf fma{static_cast<Algo>(0), CUDNN_STATUS_SUCCESS, 0.2f, 4096, CUDNN_DETERMINISTIC, CUDNN_DEFAULT_MATH, {}};
  *returned = 0;
  if (requested >= 1) perf[(*returned)++] = tf32;
  if (requested >= 2) perf[(*returned)++] = fma;
}
static size_t algo_workspace(int algo) { return algo == 1 ? size_t(1) << 20 : 4096; }

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w,
                                                     cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y,
                                                     int requested, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  cudnnStatus_t s = check_conv(x, w, c, y);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  fill_perf<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(requested, returned, perf);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, cudnnFilterDescriptor_t w, cudnnTensorDescriptor_t dy,
                                                          cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t dx,
                                                          int requested, int* returned,
                                                          cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  cudnnStatus_t s = check_conv(dx, w, c, dy);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  fill_perf<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(requested, returned, perf);
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x, cudnnTensorDescriptor_t dy,
                                                            cudnnConvolutionDescriptor_t c, cudnnFilterDescriptor_t w,
                                                            int requested, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  cudnnStatus_t s = check_conv(x, w, c, dy);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  fill_perf<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(requested, returned, perf);
  return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t check_ws(int algo, void* ws, size_t bytes, const char* what) {
  if (algo != 0 && algo != 1) return bad("algorithm not returned by the heuristics");
  if (algo == 1) report("WARNING: cuDNN %s runs the tensor-core (TF32) algorithm", what);
  if (bytes < algo_workspace(algo)) return bad("workspace smaller than the algorithm needs");
  if (!check_device_range(ws, algo_workspace(algo), "cuDNN workspace")) return CUDNN_STATUS_BAD_PARAM;
  return CUDNN_STATUS_SUCCESS;
}

struct ConvGeo {
  int N, C, H, W, K, R, S, P, Q, ph, pw, sh, sw, dh, dw;
};
static ConvGeo geo(cudnnTensorDescriptor_t x, cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t c,
                   cudnnTensorDescriptor_t y) {
  return {x->n, x->c, x->h, x->w, w->k, w->h, w->w, y->h, y->w, c->ph, c->pw, c->sh, c->sw, c->dh, c->dw};
}
// For each (n,k,p,q,c,r,s) tap inside the image: f(x index, w index, y index).
template <typename F>
static void for_taps(const ConvGeo& g, F f) {
  for (int n = 0; n < g.N; ++n)
    for (int k = 0; k < g.K; ++k)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q)
          for (int c = 0; c < g.C; ++c)
            for (int r = 0; r < g.R; ++r) {
              int h = p * g.sh - g.ph + r * g.dh;
              if (h < 0 || h >= g.H) continue;
              for (int s = 0; s < g.S; ++s) {
                int w = q * g.sw - g.pw + s * g.dw;
                if (w < 0 || w >= g.W) continue;
                f(((size_t(n) * g.C + c) * g.H + h) * g.W + w, ((size_t(k) * g.C + c) * g.R + r) * g.S + s,
                  ((size_t(n) * g.K + k) * g.P + p) * g.Q + q);
              }
            }
}

template <typename T>
static void conv_compute(int pass, ConvGeo g, const void* alpha_p, const void* beta_p, const T* x, const T* w, const T* dy,
                         T* out, size_t out_count) {
  T alpha = *static_cast<const T*>(alpha_p), beta = *static_cast<const T*>(beta_p);
  std::vector<double> acc(out_count, 0.0);  // cuDNN's reductions are far more accurate than a naive float sum
  if (pass == 0) for_taps(g, [&](size_t xi, size_t wi, size_t yi) { acc[yi] += x[xi] * w[wi]; });
  if (pass == 1) for_taps(g, [&](size_t xi, size_t wi, size_t yi) { acc[xi] += dy[yi] * w[wi]; });
  if (pass == 2) for_taps(g, [&](size_t xi, size_t wi, size_t yi) { acc[wi] += dy[yi] * x[xi]; });
  for (size_t i = 0; i < out_count; ++i) {
    T a = static_cast<T>(acc[i]);
    out[i] = beta == T(0) ? alpha * a : alpha * a + beta * out[i];
  }
}

static cudnnStatus_t conv_run(int pass, cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t x, const void* xp,
                              cudnnFilterDescriptor_t w, const void* wp, cudnnConvolutionDescriptor_t c,
                              cudnnTensorDescriptor_t y, const void* yp, void* out, int algo, void* ws, size_t wsb,
                              const void* beta, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  cudnnStatus_t s = check_conv(x, w, c, y);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  s = check_ws(algo, ws, wsb, what);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  if (pass != 1 && !check_device_range(xp, tbytes(x), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 2 && !check_device_range(wp, fbytes(w), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 0 && !check_device_range(yp, tbytes(y), what)) return CUDNN_STATUS_BAD_PARAM;
  size_t out_bytes = pass == 0 ? tbytes(y) : pass == 1 ? tbytes(x) : fbytes(w);
  if (!check_device_range(out, out_bytes, what)) return CUDNN_STATUS_BAD_PARAM;
  ConvGeo g = geo(x, w, c, y);
  bool dbl = x->type == CUDNN_DATA_DOUBLE;
  size_t count = out_bytes / dsize(x->type);
  // alpha/beta are read at call time (host pointers).
  double a = dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  double b = dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  char detail[200];
  std::snprintf(detail, sizeof detail, "x %dx%dx%dx%d w %dx%dx%dx%d algo %d beta %g", g.N, g.C, g.H, g.W, g.K, g.C, g.R,
                g.S, algo, b);
  g_detail = detail;
  enqueue(h->stream, what, [=] {
    if (dbl) {
      conv_compute<double>(pass, g, &a, &b, static_cast<const double*>(xp), static_cast<const double*>(wp),
                           static_cast<const double*>(yp), static_cast<double*>(out), count);
    } else {
      float af = static_cast<float>(a), bf = static_cast<float>(b);
      conv_compute<float>(pass, g, &af, &bf, static_cast<const float*>(xp), static_cast<const float*>(wp),
                          static_cast<const float*>(yp), static_cast<float*>(out), count);
    }
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t xd, const void* x,
                                      cudnnFilterDescriptor_t wd, const void* w, cudnnConvolutionDescriptor_t cd,
                                      cudnnConvolutionFwdAlgo_t algo, void* ws, size_t wsb, const void* beta,
                                      cudnnTensorDescriptor_t yd, void* y) {
  return conv_run(0, h, alpha, xd, x, wd, w, cd, yd, nullptr, y, algo, ws, wsb, beta, "cudnnConvolutionForward");
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha, cudnnFilterDescriptor_t wd, const void* w,
                                           cudnnTensorDescriptor_t dyd, const void* dy, cudnnConvolutionDescriptor_t cd,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* ws, size_t wsb, const void* beta,
                                           cudnnTensorDescriptor_t dxd, void* dx) {
  return conv_run(1, h, alpha, dxd, nullptr, wd, w, cd, dyd, dy, dx, algo, ws, wsb, beta, "cudnnConvolutionBackwardData");
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t xd, const void* x,
                                             cudnnTensorDescriptor_t dyd, const void* dy, cudnnConvolutionDescriptor_t cd,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t wsb,
                                             const void* beta, cudnnFilterDescriptor_t dwd, void* dw) {
  return conv_run(2, h, alpha, xd, x, dwd, nullptr, cd, dyd, dy, dw, algo, ws, wsb, beta, "cudnnConvolutionBackwardFilter");
}

// C = alpha * A + beta * C, A broadcast along its size-1 dims; db = alpha * sum(dy over n, h, w) + beta * db.
template <typename T>
static void add_tensor(const cudnnTensorStruct a, const T* A, T alpha, const cudnnTensorStruct c, T* C, T beta) {
  for (int n = 0; n < c.n; ++n)
    for (int ch = 0; ch < c.c; ++ch)
      for (int h = 0; h < c.h; ++h)
        for (int w = 0; w < c.w; ++w) {
          size_t ci = ((size_t(n) * c.c + ch) * c.h + h) * c.w + w;
          size_t ai = ((size_t(a.n == 1 ? 0 : n) * a.c + (a.c == 1 ? 0 : ch)) * a.h + (a.h == 1 ? 0 : h)) * a.w +
                      (a.w == 1 ? 0 : w);
          C[ci] = beta == T(0) ? alpha * A[ai] : alpha * A[ai] + beta * C[ci];
        }
}
cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t ad, const void* A,
                             const void* beta, cudnnTensorDescriptor_t cd, void* C) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!ad->set || !cd->set || ad->type != cd->type) return bad("cudnnAddTensor: descriptors");
  if ((ad->n != 1 && ad->n != cd->n) || (ad->c != 1 && ad->c != cd->c) || (ad->h != 1 && ad->h != cd->h) ||
      (ad->w != 1 && ad->w != cd->w))
    return bad("cudnnAddTensor: A does not broadcast to C");
  if (!check_device_range(A, tbytes(ad), "cudnnAddTensor A") || !check_device_range(C, tbytes(cd), "cudnnAddTensor C"))
    return CUDNN_STATUS_BAD_PARAM;
  cudnnTensorStruct a = *ad, c = *cd;
  bool dbl = a.type == CUDNN_DATA_DOUBLE;
  double al = dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  double be = dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  g_detail = "C " + std::to_string(c.n) + "x" + std::to_string(c.c) + "x" + std::to_string(c.h) + "x" + std::to_string(c.w);
  enqueue(h->stream, "cudnnAddTensor", [=] {
    if (dbl) add_tensor<double>(a, static_cast<const double*>(A), al, c, static_cast<double*>(C), be);
    else add_tensor<float>(a, static_cast<const float*>(A), float(al), c, static_cast<float*>(C), float(be));
  });
  return CUDNN_STATUS_SUCCESS;
}
template <typename T>
static void bias_grad(const cudnnTensorStruct d, const T* dy, T alpha, T beta, T* db) {
  for (int ch = 0; ch < d.c; ++ch) {
    double s = 0;
    for (int n = 0; n < d.n; ++n)
      for (int i = 0; i < d.h * d.w; ++i) s += dy[(size_t(n) * d.c + ch) * d.h * d.w + i];
    db[ch] = beta == T(0) ? alpha * T(s) : alpha * T(s) + beta * db[ch];
  }
}
cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t h, const void* alpha, cudnnTensorDescriptor_t dyd, const void* dy,
                                           const void* beta, cudnnTensorDescriptor_t dbd, void* db) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  if (!dyd->set || !dbd->set || dyd->type != dbd->type) return bad("cudnnConvolutionBackwardBias: descriptors");
  if (dbd->n != 1 || dbd->c != dyd->c || dbd->h != 1 || dbd->w != 1) return bad("cudnnConvolutionBackwardBias: db must be 1xCx1x1");
  if (!check_device_range(dy, tbytes(dyd), "cudnnConvolutionBackwardBias dy") ||
      !check_device_range(db, tbytes(dbd), "cudnnConvolutionBackwardBias db"))
    return CUDNN_STATUS_BAD_PARAM;
  cudnnTensorStruct d = *dyd;
  bool dbl = d.type == CUDNN_DATA_DOUBLE;
  double al = dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  double be = dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  g_detail = "dy " + std::to_string(d.n) + "x" + std::to_string(d.c) + "x" + std::to_string(d.h) + "x" + std::to_string(d.w);
  enqueue(h->stream, "cudnnConvolutionBackwardBias", [=] {
    if (dbl) bias_grad<double>(d, static_cast<const double*>(dy), al, be, static_cast<double*>(db));
    else bias_grad<float>(d, static_cast<const float*>(dy), float(al), float(be), static_cast<float*>(db));
  });
  return CUDNN_STATUS_SUCCESS;
}

// cudnnFind*Ex: times every algorithm by running it (synchronously), so it overwrites the output
// buffer with garbage; not allowed while capturing.
template <typename Perf, typename Algo>
static cudnnStatus_t find_ex(cudnnHandle_t h, cudnnTensorDescriptor_t x, const void* xp, cudnnFilterDescriptor_t w,
                             const void* wp, cudnnConvolutionDescriptor_t c, cudnnTensorDescriptor_t y, const void* yp,
                             void* out, size_t out_bytes, int requested, int* returned, Perf* perf, void* ws,
                             size_t wsb, int pass, const char* what) {
  std::lock_guard<std::recursive_mutex> lock(g_mutex);
  cudnnStatus_t s = check_conv(x, w, c, y);
  if (s != CUDNN_STATUS_SUCCESS) return s;
  CUstream_st* rec = stream_rec(h->stream);
  if (rec && rec->capture) {
    report_returned("%s during graph capture (it synchronises)", what);
    rec->capture->invalidated = true;
    return CUDNN_STATUS_NOT_SUPPORTED;
  }
  if (pass != 1 && !check_device_range(xp, tbytes(x), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 2 && !check_device_range(wp, fbytes(w), what)) return CUDNN_STATUS_BAD_PARAM;
  if (pass != 0 && !check_device_range(yp, tbytes(y), what)) return CUDNN_STATUS_BAD_PARAM;
  if (!check_device_range(out, out_bytes, what)) return CUDNN_STATUS_BAD_PARAM;
  if (wsb > 0 && !check_device_range(ws, wsb, what)) return CUDNN_STATUS_BAD_PARAM;
  g_detail = "(synchronous: times every algorithm) workspace " + std::to_string(wsb) + " bytes";
  ++g_counts.library;
  trace_event("library", what, h->stream, "sync");
  g_detail.clear();
  {
    DeviceAccess access;
    std::memset(out, 0xFF, out_bytes);  // the timing runs leave garbage behind
  }
  int all = 0;
  Perf tmp[2];
  fill_perf<Perf, Algo>(2, &all, tmp);
  *returned = 0;
  for (int i = 0; i < all && *returned < requested; ++i) {
    if (tmp[i].memory > wsb) tmp[i].status = CUDNN_STATUS_NOT_SUPPORTED;  // cuDNN reports it as failed/omits it
    perf[(*returned)++] = tmp[i];
  }
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t xd, const void* x,
                                                     cudnnFilterDescriptor_t wd, const void* w, cudnnConvolutionDescriptor_t cd,
                                                     cudnnTensorDescriptor_t yd, void* y, int requested, int* returned,
                                                     cudnnConvolutionFwdAlgoPerf_t* perf, void* ws, size_t wsb) {
  return find_ex<cudnnConvolutionFwdAlgoPerf_t, cudnnConvolutionFwdAlgo_t>(h, xd, x, wd, w, cd, yd, nullptr, y, tbytes(yd),
      requested, returned, perf, ws, wsb, 0, "cudnnFindConvolutionForwardAlgorithmEx");
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(cudnnHandle_t h, cudnnFilterDescriptor_t wd, const void* w,
                                                          cudnnTensorDescriptor_t dyd, const void* dy,
                                                          cudnnConvolutionDescriptor_t cd, cudnnTensorDescriptor_t dxd, void* dx,
                                                          int requested, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf,
                                                          void* ws, size_t wsb) {
  return find_ex<cudnnConvolutionBwdDataAlgoPerf_t, cudnnConvolutionBwdDataAlgo_t>(h, dxd, nullptr, wd, w, cd, dyd, dy, dx,
      tbytes(dxd), requested, returned, perf, ws, wsb, 1, "cudnnFindConvolutionBackwardDataAlgorithmEx");
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(cudnnHandle_t h, cudnnTensorDescriptor_t xd, const void* x,
                                                            cudnnTensorDescriptor_t dyd, const void* dy,
                                                            cudnnConvolutionDescriptor_t cd, cudnnFilterDescriptor_t dwd, void* dw,
                                                            int requested, int* returned,
                                                            cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws, size_t wsb) {
  return find_ex<cudnnConvolutionBwdFilterAlgoPerf_t, cudnnConvolutionBwdFilterAlgo_t>(h, xd, x, dwd, nullptr, cd, dyd, dy, dw,
      fbytes(dwd), requested, returned, perf, ws, wsb, 2, "cudnnFindConvolutionBackwardFilterAlgorithmEx");
}
