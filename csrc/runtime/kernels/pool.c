/* pool.c - 2-d pooling and resampling on logical NCHW tensors (3-d C,H,W inputs
 * are one unbatched image): MAX_POOL2D, AVG_POOL2D, ADAPTIVE_{AVG,MAX}_POOL2D,
 * UPSAMPLE_NEAREST2D, UPSAMPLE_BILINEAR2D.
 *
 * The reference kernels follow torch's CPU kernels formula for formula (window
 * bounds, divisors, source indices, order of the float operations) and accept
 * any input and output strides. Outputs are channels-last when the input is
 * (as torch does), so conv -> pool -> conv chains never transpose. The fast
 * paths use XNNPACK's NHWC operators only for the cases where XNNPACK computes
 * the same thing as torch; everything else falls back to the reference. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "../internal.h"
#include "qmath.h"

static ptl_status q_max_pool2d(const ptl_call *call);
static ptl_status q_avg_pool2d(const ptl_call *call);
static ptl_status q_adaptive_avg_pool2d(const ptl_call *call);
static ptl_status q_upsample_nearest2d(const ptl_call *call);
static ptl_status q_upsample_bilinear2d(const ptl_call *call);
static ptl_status q_keep_qparams(const ptl_call *call);

/* ---- shared helpers ----------------------------------------------------- */

static int64_t attr_i(const ptl_attrs *a, int k, int64_t dflt) {
  return a->n_ints > k ? a->ints[k] : dflt;
}

static double attr_f(const ptl_attrs *a, int k, double dflt) {
  return a->n_floats > k ? a->floats[k] : dflt;
}

/* Checks the dtype (float32 or float16: half runs through a float32 copy; quint8
 * per tensor runs torch's quantized kernels, see the end of this file; adaptive
 * max pooling has none). */
static ptl_status check_float(const char *op, const ptl_tensor *x) {
  if (x->dtype == PTL_QUINT8 && strcmp(op, "adaptive_max_pool2d") != 0) {
    if (!x->qparams || x->qparams->count != 1)
      return ptl_error(PTL_ERR_UNSUPPORTED, "%s: only per-tensor quantized inputs are supported",
                       op);
    return PTL_OK;
  }
  if (x->dtype != PTL_FLOAT32 && x->dtype != PTL_FLOAT16)
    return ptl_error(PTL_ERR_DTYPE, "\"%s\" not implemented for '%s' (expected float32 or float16)",
                     op, ptl_dtype_name(x->dtype));
  return PTL_OK;
}

/* Pooling input: 3-d (C, H, W) or 4-d (N, C, H, W) with non-empty C, H, W. */
static ptl_status check_pool_input(const char *op, const ptl_tensor *x) {
  char b[PTL_SHAPE_BUF];
  if (x->ndim != 3 && x->ndim != 4)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size "
                     "for input, but got: %s",
                     op, ptl_shape_str(x, b, sizeof b));
  for (int d = x->ndim - 3; d < x->ndim; d++)
    if (x->shape[d] == 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Expected 3D or 4D (batch mode) tensor with optional 0 dim batch "
                       "size for input, but got: %s",
                       op, ptl_shape_str(x, b, sizeof b));
  return check_float(op, x);
}

/* Output desc: input's N and C with the new spatial size; channels-last
 * memory when the input is channels-last (and not also plain contiguous,
 * which is what torch's suggest_memory_format does for ambiguous shapes). */
static void pool_out_desc(const ptl_tensor *x, int64_t oh, int64_t ow, ptl_tensor_desc *out) {
  out->dtype = x->dtype;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  out->shape[x->ndim - 2] = oh;
  out->shape[x->ndim - 1] = ow;
  if (x->ndim == 4 && ptl_tensor_is_channels_last(x) && !ptl_tensor_is_contiguous(x)) {
    out->has_strides = true;
    ptl_channels_last_strides(out->shape, out->strides);
  }
}

/* torch's pooling_output_shape_pad_lr, incl. the ceil_mode rule that the last
 * window must start inside the input or the left padding. */
static int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil,
                             bool ceil_mode) {
  int64_t num = in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t q = num / stride;
  if ((num % stride != 0) && ((num < 0) != (stride < 0)))
    q--; /* floor division */
  int64_t out = q + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad)
    out--;
  return out;
}

/* 4-d view of the geometry of x and y: an unbatched 3-d input is one image. */
typedef struct {
  int64_t n, c, ih, iw, oh, ow;
  int64_t xs[4], ys[4]; /* element strides along n, c, h, w */
  const float *x;
  float *y;
} geom;

static void geom_init(const ptl_tensor *x, const ptl_tensor *y, geom *g) {
  int b = x->ndim == 4;
  g->n = b ? x->shape[0] : 1;
  g->c = x->shape[b];
  g->ih = x->shape[b + 1];
  g->iw = x->shape[b + 2];
  g->oh = y->shape[b + 1];
  g->ow = y->shape[b + 2];
  g->xs[0] = b ? x->strides[0] : 0;
  g->ys[0] = b ? y->strides[0] : 0;
  for (int d = 0; d < 3; d++) {
    g->xs[d + 1] = x->strides[b + d];
    g->ys[d + 1] = y->strides[b + d];
  }
  g->x = (const float *)ptl_tensor_data(x);
  g->y = (float *)ptl_tensor_data(y);
}

/* Runs fn once per (n, c) plane, on the threadpool when the work is large
 * enough to pay for it. Planes are independent, so results do not depend on
 * the thread count. */
typedef void (*plane_fn)(void *ctx, size_t plane);
static void for_each_plane(const geom *g, plane_fn fn, void *ctx, int64_t work_per_plane) {
  size_t planes = (size_t)(g->n * g->c);
  if (planes > 1 && (int64_t)planes * work_per_plane >= 32768) {
    ptl_parallel_for(fn, ctx, planes);
    return;
  }
  for (size_t p = 0; p < planes; p++)
    fn(ctx, p);
}

/* Channels-last (channel stride 1 in and out, C > 1): the reference then
 * walks output rows (n, oh) and keeps channels innermost, which is the same
 * arithmetic per element as the plane loops but reads memory in order and
 * vectorizes over C. */
static bool pixel_major(const geom *g) {
  return g->c > 1 && g->xs[1] == 1 && g->ys[1] == 1;
}

static void for_each_out_row(const geom *g, plane_fn fn, void *ctx, int64_t work_per_row) {
  size_t rows = (size_t)(g->n * g->oh);
  if (rows > 1 && (int64_t)rows * work_per_row >= 32768) {
    ptl_parallel_for(fn, ctx, rows);
    return;
  }
  for (size_t r = 0; r < rows; r++)
    fn(ctx, r);
}

static void plane_ptrs(const geom *g, size_t p, const float **x, float **y) {
  int64_t n = (int64_t)p / g->c, c = (int64_t)p % g->c;
  *x = g->x + n * g->xs[0] + c * g->xs[1];
  *y = g->y + n * g->ys[0] + c * g->ys[1];
}

/* ---- XNNPACK operator cache ----------------------------------------------
 * Pooling and resize operators hold no weights, but XNNPACK builds their
 * indirection buffers in setup and reuses them while the input size stays the
 * same, so keeping the operators around saves both the creation and that
 * work. A small round-robin cache under one mutex; the mutex is held through
 * setup and run because an operator is not reentrant. */
#define XCACHE_SLOTS 16
#define XKEY_WORDS 12
typedef struct {
  uint64_t key[XKEY_WORDS];
  xnn_operator_t op;
} xcache_entry;

static pthread_mutex_t g_xlock = PTHREAD_MUTEX_INITIALIZER;
static xcache_entry g_xcache[XCACHE_SLOTS];
static unsigned g_xnext;

static xnn_operator_t xcache_find(const uint64_t *key) {
  for (int i = 0; i < XCACHE_SLOTS; i++)
    if (g_xcache[i].op && memcmp(g_xcache[i].key, key, sizeof g_xcache[i].key) == 0)
      return g_xcache[i].op;
  return NULL;
}

static void xcache_add(const uint64_t *key, xnn_operator_t op) {
  xcache_entry *e = &g_xcache[g_xnext++ % XCACHE_SLOTS];
  if (e->op)
    xnn_delete_operator(e->op);
  memcpy(e->key, key, sizeof e->key);
  e->op = op;
}

enum { XK_MAXPOOL = 1, XK_AVGPOOL, XK_GAP, XK_RESIZE, XK_MAXPOOL_U8 };

/* Channels-last float32 input and output that XNNPACK can address as NHWC
 * with a pixel stride of C. */
static bool nhwc_ok(const ptl_tensor *x, const ptl_tensor *y) {
  return x->ndim == 4 && x->dtype == PTL_FLOAT32 && y->dtype == PTL_FLOAT32 &&
         ptl_tensor_is_channels_last(x) && ptl_tensor_is_channels_last(y) &&
         ptl_tensor_numel(x) > 0 && ptl_tensor_numel(y) > 0;
}

/* XNNPACK's max pooling drops NaN (its max instructions return the other
 * operand) and its output clamp turns a NaN average into -inf, where torch
 * propagates NaN. NaN inputs are rare, so the fast paths check: max pooling
 * scans its input (one vectorized pass over the dense NHWC block), averages
 * scan their much smaller output and hand non-finite results to the
 * reference, which recomputes every element. */
static bool any_nan(const float *x, int64_t n) {
  int bad = 0;
  for (int64_t i = 0; i < n; i++)
    bad |= x[i] != x[i];
  return bad != 0;
}

static bool any_nonfinite_nhwc(const geom *g) {
  int64_t n = g->n * g->oh * g->ow * g->c;
  int bad = 0;
  for (int64_t i = 0; i < n; i++)
    bad |= !(fabsf(g->y[i]) < INFINITY); /* NaN or inf */
  return bad != 0;
}

/* ---- max_pool2d ----------------------------------------------------------- */

typedef struct {
  int64_t kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil_mode;
} pool_params;

static ptl_status max_params(const ptl_attrs *a, pool_params *p) {
  p->kh = attr_i(a, 0, 1);
  p->kw = attr_i(a, 1, p->kh);
  p->sh = attr_i(a, 2, p->kh);
  p->sw = attr_i(a, 3, p->kw);
  p->ph = attr_i(a, 4, 0);
  p->pw = attr_i(a, 5, 0);
  p->dh = attr_i(a, 6, 1);
  p->dw = attr_i(a, 7, 1);
  p->ceil_mode = attr_i(a, 8, 0) != 0;
  return PTL_OK;
}

static ptl_status avg_params(const ptl_attrs *a, pool_params *p) {
  p->kh = attr_i(a, 0, 1);
  p->kw = attr_i(a, 1, p->kh);
  p->sh = attr_i(a, 2, p->kh);
  p->sw = attr_i(a, 3, p->kw);
  p->ph = attr_i(a, 4, 0);
  p->pw = attr_i(a, 5, 0);
  p->dh = p->dw = 1;
  p->ceil_mode = attr_i(a, 6, 0) != 0;
  return PTL_OK;
}

/* torch's checks (pooling_output_shape and pool2d_shape_check), in its order. */
static ptl_status pool_infer(const char *op, const ptl_tensor *x, const pool_params *p,
                             ptl_tensor_desc *out) {
  PTL_CHECK(check_pool_input(op, x));
  if (p->kh <= 0 || p->kw <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: kernel size should be greater than zero, but got kH: %lld kW: %lld", op,
                     (long long)p->kh, (long long)p->kw);
  if (p->sh <= 0 || p->sw <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: stride should be greater than zero, but got dH: %lld dW: %lld", op,
                     (long long)p->sh, (long long)p->sw);
  if (p->dh <= 0 || p->dw <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: dilation should be greater than zero, but got dilationH: %lld "
                     "dilationW: %lld",
                     op, (long long)p->dh, (long long)p->dw);
  const int64_t k[2] = {p->kh, p->kw}, pad[2] = {p->ph, p->pw}, dil[2] = {p->dh, p->dw};
  for (int i = 0; i < 2; i++) {
    if (pad[i] < 0)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: pad must be non-negative, but got pad: %lld",
                       op, (long long)pad[i]);
    if (pad[i] > ((k[i] - 1) * dil[i] + 1) / 2)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "%s: pad should be at most half of effective kernel size, but got "
                       "pad=%lld, kernel_size=%lld and dilation=%lld",
                       op, (long long)pad[i], (long long)k[i], (long long)dil[i]);
  }
  if (p->kw / 2 < p->pw || p->kh / 2 < p->ph)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: pad should be smaller than or equal to half of kernel size, but got "
                     "padW = %lld, padH = %lld, kW = %lld, kH = %lld",
                     op, (long long)p->pw, (long long)p->ph, (long long)p->kw, (long long)p->kh);
  int b = x->ndim - 3;
  int64_t c = x->shape[b], ih = x->shape[b + 1], iw = x->shape[b + 2];
  int64_t oh = pool_out_size(ih, p->kh, p->ph, p->sh, p->dh, p->ceil_mode);
  int64_t ow = pool_out_size(iw, p->kw, p->pw, p->sw, p->dw, p->ceil_mode);
  if (oh < 1 || ow < 1)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: Given input size: (%lldx%lldx%lld). Calculated output size: "
                     "(%lldx%lldx%lld). Output size is too small",
                     op, (long long)c, (long long)ih, (long long)iw, (long long)c, (long long)oh,
                     (long long)ow);
  pool_out_desc(x, oh, ow, out);
  return PTL_OK;
}

ptl_status ptl_max_pool2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  pool_params p;
  max_params(call->attrs, &p);
  return pool_infer("max_pool2d", call->in[0], &p, out);
}

typedef struct {
  geom g;
  pool_params p;
  int64_t divisor; /* avg: divisor_override, 0 none */
  bool include_pad;
} pool_ctx;

/* Kernel taps [*lo, *hi) of a window starting at `start` that land inside [0, in). */
static void tap_range(int64_t start, int64_t k, int64_t dil, int64_t in, int64_t *lo, int64_t *hi) {
  int64_t a = start < 0 ? (-start + dil - 1) / dil : 0;
  int64_t b = in > start ? (in - start + dil - 1) / dil : 0;
  *lo = a;
  *hi = b < k ? b : k;
}

/* Output columns [*lo, *hi) whose tap at input offset ow * stride + off is
 * inside [0, in). */
static void col_range(int64_t off, int64_t stride, int64_t in, int64_t out, int64_t *lo,
                      int64_t *hi) {
  int64_t a = off < 0 ? (-off + stride - 1) / stride : 0;
  int64_t b = in > off ? (in - off + stride - 1) / stride : 0;
  *lo = a;
  *hi = b < out ? b : out;
}

/* Plane loops go tap by tap over a whole output row (ky, kx outer, ow inner):
 * each output still sees its taps in torch's order (rows, then columns), but
 * the inner loop is branch-free and streams through memory. */
static void max_plane(void *vctx, size_t plane) {
  const pool_ctx *c = vctx;
  const geom *g = &c->g;
  const pool_params *p = &c->p;
  const float *x;
  float *y;
  plane_ptrs(g, plane, &x, &y);
  const int64_t xs3 = g->xs[3], ys3 = g->ys[3], sw = p->sw;
  for (int64_t oh = 0; oh < g->oh; oh++) {
    float *yr = y + oh * g->ys[2];
    for (int64_t ow = 0; ow < g->ow; ow++)
      yr[ow * ys3] = -INFINITY;
    int64_t hs = oh * p->sh - p->ph, ky0, ky1;
    tap_range(hs, p->kh, p->dh, g->ih, &ky0, &ky1);
    for (int64_t ky = ky0; ky < ky1; ky++) {
      const float *xr = x + (hs + ky * p->dh) * g->xs[2];
      for (int64_t kx = 0; kx < p->kw; kx++) {
        int64_t off = kx * p->dw - p->pw, o0, o1;
        col_range(off, sw, g->iw, g->ow, &o0, &o1);
        for (int64_t ow = o0; ow < o1; ow++) {
          float v = xr[(ow * sw + off) * xs3], m = yr[ow * ys3];
          yr[ow * ys3] = (v > m || isnan(v)) ? v : m; /* torch propagates NaN */
        }
      }
    }
  }
}

static void max_row_nhwc(void *vctx, size_t r) {
  const pool_ctx *c = vctx;
  const geom *g = &c->g;
  const pool_params *p = &c->p;
  int64_t n = (int64_t)r / g->oh, oh = (int64_t)r % g->oh, C = g->c;
  const float *xb = g->x + n * g->xs[0];
  float *yr = g->y + n * g->ys[0] + oh * g->ys[2];
  int64_t hs = oh * p->sh - p->ph, ky0, ky1;
  tap_range(hs, p->kh, p->dh, g->ih, &ky0, &ky1);
  for (int64_t ow = 0; ow < g->ow; ow++) {
    float *restrict yp = yr + ow * g->ys[3];
    int64_t ws = ow * p->sw - p->pw, kx0, kx1;
    tap_range(ws, p->kw, p->dw, g->iw, &kx0, &kx1);
    for (int64_t ch = 0; ch < C; ch++)
      yp[ch] = -INFINITY;
    for (int64_t ky = ky0; ky < ky1; ky++)
      for (int64_t kx = kx0; kx < kx1; kx++) {
        const float *restrict xp = xb + (hs + ky * p->dh) * g->xs[2] + (ws + kx * p->dw) * g->xs[3];
        for (int64_t ch = 0; ch < C; ch++) {
          float v = xp[ch], m = yp[ch];
          yp[ch] = (v > m || isnan(v)) ? v : m;
        }
      }
  }
}

ptl_status ptl_max_pool2d_ref(const ptl_call *call) {
  if (call->in[0]->dtype == PTL_QUINT8)
    return q_max_pool2d(call);
  if (call->in[0]->dtype != PTL_FLOAT32)
    return ptl_run_as_float32(call, ptl_max_pool2d_ref);
  pool_ctx c;
  geom_init(call->in[0], call->out[0], &c.g);
  max_params(call->attrs, &c.p);
  if (pixel_major(&c.g))
    for_each_out_row(&c.g, max_row_nhwc, &c, c.g.ow * c.g.c * c.p.kh * c.p.kw);
  else
    for_each_plane(&c.g, max_plane, &c, c.g.oh * c.g.ow * c.p.kh * c.p.kw);
  return PTL_OK;
}

/* Extra bottom/right padding that makes XNNPACK's floor output size equal
 * torch's (ceil_mode) size. */
static int64_t extra_pad(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil,
                         int64_t out) {
  int64_t need = (out - 1) * stride + (k - 1) * dil + 1 - (in + 2 * pad);
  return need > 0 ? need : 0;
}

/* XNNPACK pools read a padded position as the nearest input pixel (the
 * indirection buffer clamps), which equals torch's "padding never wins"
 * only when that pixel is inside the window: always true for dilation 1
 * (every window holds an input pixel, torch's padding and ceil_mode rules
 * guarantee it), and trivially when nothing is padded. */
/* quint8 max pooling with XNNPACK's u8 operator: torch's QNNPACK path
 * (ceil_mode off) reads padded taps as the nearest input pixel, and XNNPACK's
 * indirection buffer does the same, so the two agree bit for bit without
 * dilation (checked against the reference and torch in the tests). ceil_mode
 * (torch's generic kernel: padding never wins) stays with the reference. */
static ptl_status q_max_pool2d_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (x->ndim != 4 || !ptl_tensor_is_channels_last(x) || !ptl_tensor_is_channels_last(y) ||
      ptl_tensor_numel(x) == 0 || ptl_tensor_numel(y) == 0)
    return PTL_ERR_UNSUPPORTED;
  pool_params p;
  max_params(call->attrs, &p);
  /* with dilation, a padded tap's clamped pixel differs between XNNPACK and
   * QNNPACK (measured): leave dilated padded pooling to the reference */
  if ((p.dh != 1 || p.dw != 1) && (p.ph || p.pw))
    return PTL_ERR_UNSUPPORTED;
  if (p.ceil_mode || p.kh * p.kw == 1 || p.kh > UINT32_MAX || p.kw > UINT32_MAX ||
      p.sh > UINT32_MAX || p.sw > UINT32_MAX || p.dh > UINT32_MAX || p.dw > UINT32_MAX ||
      ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  geom g;
  geom_init(x, y, &g);
  uint64_t key[XKEY_WORDS] = {XK_MAXPOOL_U8,
                              (uint64_t)p.ph,
                              (uint64_t)p.pw,
                              (uint64_t)p.kh,
                              (uint64_t)p.kw,
                              (uint64_t)p.sh,
                              (uint64_t)p.sw,
                              (uint64_t)p.dh,
                              (uint64_t)p.dw,
                              (uint64_t)g.c,
                              0,
                              0};
  ptl_status s = PTL_ERR_UNSUPPORTED;
  pthread_mutex_lock(&g_xlock);
  xnn_operator_t op = xcache_find(key);
  if (!op) {
    if (xnn_create_max_pooling2d_nhwc_u8(
            (uint32_t)p.ph, (uint32_t)p.pw, (uint32_t)p.ph, (uint32_t)p.pw, (uint32_t)p.kh,
            (uint32_t)p.kw, (uint32_t)p.sh, (uint32_t)p.sw, (uint32_t)p.dh, (uint32_t)p.dw,
            (size_t)g.c, (size_t)g.c, (size_t)g.c, 0, 255, 0, &op) != xnn_status_success)
      op = NULL;
    else
      xcache_add(key, op);
  }
  if (op &&
      xnn_setup_max_pooling2d_nhwc_u8(
          op, (size_t)g.n, (size_t)g.ih, (size_t)g.iw, (const uint8_t *)ptl_tensor_data(x),
          (uint8_t *)ptl_tensor_data(y), (pthreadpool_t)ptl_threadpool()) == xnn_status_success &&
      xnn_run_operator(op, (pthreadpool_t)ptl_threadpool()) == xnn_status_success)
    s = PTL_OK;
  pthread_mutex_unlock(&g_xlock);
  if (s == PTL_OK)
    s = q_keep_qparams(call);
  return s;
}

/* quint8 max pooling on planes with unit column stride (NCHW, the layout an int8
 * model's stem hands over when its conv output is contiguous; XNNPACK takes only
 * NHWC). Without dilation every window holds an input pixel next to any padded
 * tap, so QNNPACK's clamped reads (ceil_mode off) and the generic kernel's
 * "padding never wins" (ceil_mode on) are both the max over the window's input
 * pixels, which is what this computes: per output row, the max of the window's
 * input rows into a line buffer with zeros for padding (0 never beats a real
 * byte), then the max of each window's kw bytes of it. Planes run on the
 * threadpool; each output byte is a max of the same bytes, so any split gives
 * the same result. */
#define QMP_SPAN 1024 /* line buffer bytes (on the stack) */

typedef struct {
  geom g;
  pool_params p;
  const uint8_t *x;
  uint8_t *y;
} qmp_ctx;

static void qmp_plane(void *vc, size_t plane) {
  const qmp_ctx *c = vc;
  const geom *g = &c->g;
  const pool_params *p = &c->p;
  int64_t n = (int64_t)plane / g->c, ch = (int64_t)plane % g->c;
  const uint8_t *x = c->x + n * g->xs[0] + ch * g->xs[1];
  uint8_t *y = c->y + n * g->ys[0] + ch * g->ys[1];
  uint8_t line[QMP_SPAN + 64]; /* the vector loop reads up to 33 bytes past the span */
  int64_t span = (g->ow - 1) * p->sw + p->kw, pw = p->pw, iw = g->iw;
  int64_t valid = iw < span - pw ? iw : span - pw; /* input columns the windows reach */
  memset(line, 0, sizeof line);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    int64_t h0 = oh * p->sh - p->ph, r0 = h0 > 0 ? h0 : 0;
    int64_t r1 = h0 + p->kh < g->ih ? h0 + p->kh : g->ih;
    uint8_t *restrict t = line + pw;
    memcpy(t, x + r0 * g->xs[2], (size_t)valid);
    for (int64_t r = r0 + 1; r < r1; r++) {
      const uint8_t *restrict xr = x + r * g->xs[2];
      for (int64_t w = 0; w < valid; w++)
        t[w] = xr[w] > t[w] ? xr[w] : t[w];
    }
    uint8_t *restrict yr = y + oh * g->ys[2];
    const uint8_t *restrict l = line;
    if (p->sw == 2 && p->kw == 3) { /* the ResNet stem */
      int64_t o = 0;
#ifdef __SSE2__
      /* 16 outputs from 34 line bytes: even and odd bytes split by packus */
      const __m128i lo8 = _mm_set1_epi16(0x00ff);
      for (; o + 16 <= g->ow; o += 16) {
        const uint8_t *b = l + 2 * o;
        __m128i v0 = _mm_loadu_si128((const __m128i *)b);
        __m128i v1 = _mm_loadu_si128((const __m128i *)(b + 16));
        __m128i w0 = _mm_loadu_si128((const __m128i *)(b + 2));
        __m128i w1 = _mm_loadu_si128((const __m128i *)(b + 18));
        __m128i ev = _mm_packus_epi16(_mm_and_si128(v0, lo8), _mm_and_si128(v1, lo8));
        __m128i od = _mm_packus_epi16(_mm_srli_epi16(v0, 8), _mm_srli_epi16(v1, 8));
        __m128i e2 = _mm_packus_epi16(_mm_and_si128(w0, lo8), _mm_and_si128(w1, lo8));
        _mm_storeu_si128((__m128i *)(yr + o), _mm_max_epu8(_mm_max_epu8(ev, od), e2));
      }
#endif
      for (; o < g->ow; o++) {
        uint8_t a = l[2 * o], b = l[2 * o + 1], d = l[2 * o + 2];
        uint8_t m = a > b ? a : b;
        yr[o] = m > d ? m : d;
      }
    } else {
      for (int64_t o = 0; o < g->ow; o++) {
        uint8_t m = 0;
        for (int64_t k = 0; k < p->kw; k++)
          m = l[o * p->sw + k] > m ? l[o * p->sw + k] : m;
        yr[o] = m;
      }
    }
  }
}

static ptl_status q_max_pool2d_planes(const ptl_call *call) {
  qmp_ctx c;
  geom_init(call->in[0], call->out[0], &c.g);
  max_params(call->attrs, &c.p);
  const geom *g = &c.g;
  const pool_params *p = &c.p;
  if (p->dh != 1 || p->dw != 1 || g->xs[3] != 1 || g->ys[3] != 1 || g->n * g->c == 0 ||
      g->oh <= 0 || g->ow <= 0 || p->sh <= 0 || p->sw <= 0 || p->kw <= 0 || p->kh <= 0 ||
      p->pw < 0 || p->ph < 0 || p->pw >= p->kw || p->ph >= p->kh ||
      (g->ow - 1) * p->sw + p->kw > QMP_SPAN)
    return PTL_ERR_UNSUPPORTED;
  /* every window holds an input pixel: the first and the last in each direction */
  if ((g->oh - 1) * p->sh - p->ph >= g->ih || (g->ow - 1) * p->sw - p->pw >= g->iw)
    return PTL_ERR_UNSUPPORTED;
  c.x = ptl_tensor_data(call->in[0]);
  c.y = ptl_tensor_data(call->out[0]);
  for_each_plane(g, qmp_plane, &c, g->oh * g->ow * p->kh * p->kw / 4);
  return q_keep_qparams(call);
}

ptl_status ptl_max_pool2d_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (x->dtype == PTL_QUINT8) {
    ptl_status s = q_max_pool2d_fast(call);
    return s == PTL_ERR_UNSUPPORTED ? q_max_pool2d_planes(call) : s;
  }
  if (!nhwc_ok(x, y))
    return PTL_ERR_UNSUPPORTED;
  pool_params p;
  max_params(call->attrs, &p);
  geom g;
  geom_init(x, y, &g);
  int64_t eb = extra_pad(g.ih, p.kh, p.ph, p.sh, p.dh, g.oh);
  int64_t er = extra_pad(g.iw, p.kw, p.pw, p.sw, p.dw, g.ow);
  bool padded = p.ph || p.pw || eb || er;
  if ((p.dh != 1 || p.dw != 1) && padded)
    return PTL_ERR_UNSUPPORTED;
  if (p.kh * p.kw == 1 || p.kh > UINT32_MAX || p.kw > UINT32_MAX || p.sh > UINT32_MAX ||
      p.sw > UINT32_MAX)
    return PTL_ERR_UNSUPPORTED; /* XNNPACK rejects 1x1 pooling */
  if (any_nan(g.x, g.n * g.ih * g.iw * g.c) || ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  uint64_t key[XKEY_WORDS] = {
      XK_MAXPOOL,     (uint64_t)p.ph, (uint64_t)(p.pw + er), (uint64_t)(p.ph + eb),
      (uint64_t)p.pw, (uint64_t)p.kh, (uint64_t)p.kw,        (uint64_t)p.sh,
      (uint64_t)p.sw, (uint64_t)p.dh, (uint64_t)p.dw,        (uint64_t)g.c};
  ptl_status s = PTL_ERR_UNSUPPORTED;
  pthread_mutex_lock(&g_xlock);
  xnn_operator_t op = xcache_find(key);
  if (!op) {
    if (xnn_create_max_pooling2d_nhwc_f32(
            (uint32_t)p.ph, (uint32_t)(p.pw + er), (uint32_t)(p.ph + eb), (uint32_t)p.pw,
            (uint32_t)p.kh, (uint32_t)p.kw, (uint32_t)p.sh, (uint32_t)p.sw, (uint32_t)p.dh,
            (uint32_t)p.dw, (size_t)g.c, (size_t)g.c, (size_t)g.c, -INFINITY, INFINITY, 0,
            &op) != xnn_status_success)
      op = NULL;
    else
      xcache_add(key, op);
  }
  if (op &&
      xnn_setup_max_pooling2d_nhwc_f32(op, (size_t)g.n, (size_t)g.ih, (size_t)g.iw, g.x, g.y,
                                       (pthreadpool_t)ptl_threadpool()) == xnn_status_success &&
      xnn_run_operator(op, (pthreadpool_t)ptl_threadpool()) == xnn_status_success)
    s = PTL_OK;
  pthread_mutex_unlock(&g_xlock);
  return s;
}

/* ---- avg_pool2d ----------------------------------------------------------- */

ptl_status ptl_avg_pool2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  pool_params p;
  avg_params(call->attrs, &p);
  /* i[8] divisor_override: 0 means none (torch rejects an explicit 0 in Python) */
  return pool_infer("avg_pool2d", call->in[0], &p, out);
}

/* torch's avg_pool2d: the window is clipped to the padded input for the
 * count_include_pad divisor, then to the input for the sum. Sums are built
 * tap by tap over the output row, in torch's per-output order. */
static void avg_plane(void *vctx, size_t plane) {
  const pool_ctx *c = vctx;
  const geom *g = &c->g;
  const pool_params *p = &c->p;
  const float *x;
  float *y;
  plane_ptrs(g, plane, &x, &y);
  const int64_t xs3 = g->xs[3], ys3 = g->ys[3], sw = p->sw;
  for (int64_t oh = 0; oh < g->oh; oh++) {
    float *yr = y + oh * g->ys[2];
    for (int64_t ow = 0; ow < g->ow; ow++)
      yr[ow * ys3] = 0.0f;
    int64_t hs = oh * p->sh - p->ph, ky0, ky1;
    tap_range(hs, p->kh, 1, g->ih, &ky0, &ky1);
    for (int64_t ky = ky0; ky < ky1; ky++) {
      const float *xr = x + (hs + ky) * g->xs[2];
      for (int64_t kx = 0; kx < p->kw; kx++) {
        int64_t off = kx - p->pw, o0, o1;
        col_range(off, sw, g->iw, g->ow, &o0, &o1);
        for (int64_t ow = o0; ow < o1; ow++)
          yr[ow * ys3] += xr[(ow * sw + off) * xs3];
      }
    }
    int64_t h0 = hs, h1 = h0 + p->kh;
    h1 = h1 < g->ih + p->ph ? h1 : g->ih + p->ph;
    int64_t ph = h1 - h0;
    h0 = h0 > 0 ? h0 : 0;
    h1 = h1 < g->ih ? h1 : g->ih;
    for (int64_t ow = 0; ow < g->ow; ow++) {
      int64_t w0 = ow * sw - p->pw, w1 = w0 + p->kw;
      w1 = w1 < g->iw + p->pw ? w1 : g->iw + p->pw;
      int64_t pool_size = ph * (w1 - w0);
      w0 = w0 > 0 ? w0 : 0;
      w1 = w1 < g->iw ? w1 : g->iw;
      if (h0 >= h1 || w0 >= w1) {
        yr[ow * ys3] = 0.0f;
        continue;
      }
      int64_t div = c->divisor ? c->divisor : c->include_pad ? pool_size : (h1 - h0) * (w1 - w0);
      yr[ow * ys3] = yr[ow * ys3] / (float)div;
    }
  }
}

static void avg_row_nhwc(void *vctx, size_t r) {
  const pool_ctx *c = vctx;
  const geom *g = &c->g;
  const pool_params *p = &c->p;
  int64_t n = (int64_t)r / g->oh, oh = (int64_t)r % g->oh, C = g->c;
  const float *xb = g->x + n * g->xs[0];
  float *yr = g->y + n * g->ys[0] + oh * g->ys[2];
  for (int64_t ow = 0; ow < g->ow; ow++) {
    float *restrict yp = yr + ow * g->ys[3];
    int64_t h0 = oh * p->sh - p->ph, w0 = ow * p->sw - p->pw;
    int64_t h1 = h0 + p->kh, w1 = w0 + p->kw;
    h1 = h1 < g->ih + p->ph ? h1 : g->ih + p->ph;
    w1 = w1 < g->iw + p->pw ? w1 : g->iw + p->pw;
    int64_t pool_size = (h1 - h0) * (w1 - w0);
    h0 = h0 > 0 ? h0 : 0;
    w0 = w0 > 0 ? w0 : 0;
    h1 = h1 < g->ih ? h1 : g->ih;
    w1 = w1 < g->iw ? w1 : g->iw;
    for (int64_t ch = 0; ch < C; ch++)
      yp[ch] = 0.0f;
    if (h0 >= h1 || w0 >= w1)
      continue;
    int64_t div = c->divisor ? c->divisor : c->include_pad ? pool_size : (h1 - h0) * (w1 - w0);
    for (int64_t ih = h0; ih < h1; ih++)
      for (int64_t iw = w0; iw < w1; iw++) {
        const float *restrict xp = xb + ih * g->xs[2] + iw * g->xs[3];
        for (int64_t ch = 0; ch < C; ch++)
          yp[ch] += xp[ch];
      }
    float fd = (float)div;
    for (int64_t ch = 0; ch < C; ch++)
      yp[ch] = yp[ch] / fd;
  }
}

ptl_status ptl_avg_pool2d_ref(const ptl_call *call) {
  if (call->in[0]->dtype == PTL_QUINT8)
    return q_avg_pool2d(call);
  if (call->in[0]->dtype != PTL_FLOAT32)
    return ptl_run_as_float32(call, ptl_avg_pool2d_ref);
  pool_ctx c;
  geom_init(call->in[0], call->out[0], &c.g);
  avg_params(call->attrs, &c.p);
  c.include_pad = attr_i(call->attrs, 7, 1) != 0;
  c.divisor = attr_i(call->attrs, 8, 0);
  if (pixel_major(&c.g))
    for_each_out_row(&c.g, avg_row_nhwc, &c, c.g.ow * c.g.c * c.p.kh * c.p.kw);
  else
    for_each_plane(&c.g, avg_plane, &c, c.g.oh * c.g.ow * c.p.kh * c.p.kw);
  return PTL_OK;
}

/* XNNPACK divides a window by the number of input pixels in it whenever the
 * operator has padding (and by kh*kw otherwise, when every window is full).
 * That is torch's divisor exactly when there is no divisor_override and
 * either count_include_pad is off or there is no user padding (then torch's
 * clipped ceil_mode windows also count only input pixels). */
ptl_status ptl_avg_pool2d_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (!nhwc_ok(x, y))
    return PTL_ERR_UNSUPPORTED;
  pool_params p;
  avg_params(call->attrs, &p);
  bool include_pad = attr_i(call->attrs, 7, 1) != 0;
  if (attr_i(call->attrs, 8, 0) != 0 || (include_pad && (p.ph || p.pw)))
    return PTL_ERR_UNSUPPORTED;
  geom g;
  geom_init(x, y, &g);
  int64_t eb = extra_pad(g.ih, p.kh, p.ph, p.sh, 1, g.oh);
  int64_t er = extra_pad(g.iw, p.kw, p.pw, p.sw, 1, g.ow);
  if (p.kh * p.kw == 1 || p.kh > UINT32_MAX || p.kw > UINT32_MAX || p.sh > UINT32_MAX ||
      p.sw > UINT32_MAX)
    return PTL_ERR_UNSUPPORTED;
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  uint64_t key[XKEY_WORDS] = {XK_AVGPOOL,
                              (uint64_t)p.ph,
                              (uint64_t)(p.pw + er),
                              (uint64_t)(p.ph + eb),
                              (uint64_t)p.pw,
                              (uint64_t)p.kh,
                              (uint64_t)p.kw,
                              (uint64_t)p.sh,
                              (uint64_t)p.sw,
                              (uint64_t)g.c,
                              0,
                              0};
  ptl_status s = PTL_ERR_UNSUPPORTED;
  pthread_mutex_lock(&g_xlock);
  xnn_operator_t op = xcache_find(key);
  if (!op) {
    if (xnn_create_average_pooling2d_nhwc_f32(
            (uint32_t)p.ph, (uint32_t)(p.pw + er), (uint32_t)(p.ph + eb), (uint32_t)p.pw,
            (uint32_t)p.kh, (uint32_t)p.kw, (uint32_t)p.sh, (uint32_t)p.sw, (size_t)g.c,
            (size_t)g.c, (size_t)g.c, -INFINITY, INFINITY, 0, &op) != xnn_status_success)
      op = NULL;
    else
      xcache_add(key, op);
  }
  if (op &&
      xnn_setup_average_pooling2d_nhwc_f32(op, (size_t)g.n, (size_t)g.ih, (size_t)g.iw, g.x, g.y,
                                           (pthreadpool_t)ptl_threadpool()) == xnn_status_success &&
      xnn_run_operator(op, (pthreadpool_t)ptl_threadpool()) == xnn_status_success)
    s = PTL_OK;
  pthread_mutex_unlock(&g_xlock);
  if (s == PTL_OK && any_nonfinite_nhwc(&g))
    s = PTL_ERR_UNSUPPORTED;
  return s;
}

/* ---- adaptive pooling ----------------------------------------------------- */

ptl_status ptl_adaptive_pool2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0];
  char b[PTL_SHAPE_BUF];
  if (x->ndim != 3 && x->ndim != 4)
    return ptl_error(PTL_ERR_SHAPE, "%s(): Expected 3D or 4D tensor, but got %s", op,
                     ptl_shape_str(x, b, sizeof b));
  for (int d = x->ndim - 3; d < x->ndim; d++)
    if (x->shape[d] == 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s(): Expected input to have non-zero size for non-batch dimensions, "
                       "but input has sizes %s with dimension %d being empty",
                       op, ptl_shape_str(x, b, sizeof b), d);
  PTL_CHECK(check_float(op, x));
  if (call->attrs->n_ints < 2)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: expected the output size (2 ints)", op);
  int64_t oh = call->attrs->ints[0], ow = call->attrs->ints[1];
  if (oh < 0 || ow < 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: elements of output_size must be greater than or equal to 0 but "
                     "received {%lld, %lld}",
                     op, (long long)oh, (long long)ow);
  pool_out_desc(x, oh, ow, out);
  return PTL_OK;
}

/* torch's start_index / end_index: floor(i*in/out), ceil((i+1)*in/out). */
static int64_t ad_start(int64_t i, int64_t out, int64_t in) {
  return (i / out) * in + ((i % out) * in) / out;
}
static int64_t ad_end(int64_t i, int64_t out, int64_t in) {
  return 1 + ((i + 1) * in - 1) / out;
}

static void adaptive_avg_plane(void *vctx, size_t plane) {
  const geom *g = vctx;
  const float *x;
  float *y;
  plane_ptrs(g, plane, &x, &y);
  if (g->oh == 1 && g->ow == 1) {
    /* torch takes mean() here: a double sum stays as close to its cascade sum */
    double sum = 0.0;
    for (int64_t ih = 0; ih < g->ih; ih++)
      for (int64_t iw = 0; iw < g->iw; iw++)
        sum += x[ih * g->xs[2] + iw * g->xs[3]];
    y[0] = (float)(sum / (double)(g->ih * g->iw));
    return;
  }
  for (int64_t oh = 0; oh < g->oh; oh++) {
    int64_t h0 = ad_start(oh, g->oh, g->ih), h1 = ad_end(oh, g->oh, g->ih);
    for (int64_t ow = 0; ow < g->ow; ow++) {
      int64_t w0 = ad_start(ow, g->ow, g->iw), w1 = ad_end(ow, g->ow, g->iw);
      float sum = 0.0f;
      for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = w0; iw < w1; iw++)
          sum += x[ih * g->xs[2] + iw * g->xs[3]];
      y[oh * g->ys[2] + ow * g->ys[3]] = sum / (float)(h1 - h0) / (float)(w1 - w0);
    }
  }
}

ptl_status ptl_adaptive_avg_pool2d_ref(const ptl_call *call) {
  if (call->in[0]->dtype == PTL_QUINT8)
    return q_adaptive_avg_pool2d(call);
  if (call->in[0]->dtype != PTL_FLOAT32)
    return ptl_run_as_float32(call, ptl_adaptive_avg_pool2d_ref);
  geom g;
  geom_init(call->in[0], call->out[0], &g);
  if (g.oh * g.ow == 0)
    return PTL_OK;
  for_each_plane(&g, adaptive_avg_plane, &g, g.ih * g.iw);
  return PTL_OK;
}

/* Global average of contiguous NCHW planes: eight double lanes keep the sum
 * accurate (torch's mean is a cascade sum) and let the loop vectorize. */
typedef struct {
  const float *x;
  float *y;
  int64_t hw, c, ys0, ys1;
} gap_ctx;

static void gap_plane(void *vctx, size_t plane) {
  const gap_ctx *c = vctx;
  const float *x = c->x + (int64_t)plane * c->hw;
  double acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= c->hw; i += 8)
    for (int k = 0; k < 8; k++)
      acc[k] += x[i + k];
  double sum = 0.0;
  for (; i < c->hw; i++)
    sum += x[i];
  sum += ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  int64_t n = (int64_t)plane / c->c, ch = (int64_t)plane % c->c;
  c->y[n * c->ys0 + ch * c->ys1] = (float)(sum / (double)c->hw);
}

/* XNNPACK's global average sums in float, pixel by pixel: fine for a 7x7 head
 * (~2e-7 from torch's mean) but ~4e-6 relative by 112x112. Larger planes
 * take a double-accumulating NHWC loop (vectorized over channels) instead. */
#define GAP_XNN_MAX_PIXELS 256

static void gap_nhwc_batch(void *vctx, size_t n) {
  const geom *g = vctx;
  int64_t C = g->c, hw = g->ih * g->iw;
  const float *x = g->x + (int64_t)n * g->xs[0];
  float *y = g->y + (int64_t)n * g->ys[0];
  double *acc = calloc((size_t)C, sizeof(double));
  if (!acc) { /* no scratch: per-channel sums, same result */
    for (int64_t c = 0; c < C; c++) {
      double sum = 0.0;
      for (int64_t p = 0; p < hw; p++)
        sum += x[p * C + c];
      y[c] = (float)(sum / (double)hw);
    }
    return;
  }
  for (int64_t p = 0; p < hw; p++) {
    const float *restrict px = x + p * C;
    for (int64_t c = 0; c < C; c++)
      acc[c] += px[c];
  }
  for (int64_t c = 0; c < C; c++)
    y[c] = (float)(acc[c] / (double)hw);
  free(acc);
}

static ptl_status gap_nhwc(const geom *g) {
  if (g->n > 1 && g->n * g->ih * g->iw * g->c >= 65536)
    ptl_parallel_for(gap_nhwc_batch, (void *)g, (size_t)g->n);
  else
    for (int64_t n = 0; n < g->n; n++)
      gap_nhwc_batch((void *)g, (size_t)n);
  return PTL_OK;
}

/* quint8 global average pooling (output 1x1, the classifier head) over
 * channels-last pixels: the per-channel integer sums accumulate pixel by pixel
 * into an int32 row (vectorized over C, exact, so the same sums as the
 * reference's), then the reference's QNNPACK requantization (1x1 output always
 * tiles the input). */
static ptl_status q_global_avg_fast(const ptl_call *call) {
  geom g;
  geom_init(call->in[0], call->out[0], &g);
  if (g.oh != 1 || g.ow != 1 || g.xs[1] != 1 || g.c < 2 || g.n * g.c == 0 ||
      g.ih * g.iw > (INT32_MAX / 255) || g.ih * g.iw == 0)
    return PTL_ERR_UNSUPPORTED;
  const uint8_t *x = ptl_tensor_data(call->in[0]);
  uint8_t *y = ptl_tensor_data(call->out[0]);
  int32_t *acc = malloc(sizeof(int32_t) * (size_t)g.c);
  if (!acc)
    return PTL_ERR_UNSUPPORTED;
  float s = call->in[0]->qparams->scale[0];
  int32_t zp = call->in[0]->qparams->zero_point[0];
  int64_t size = g.ih * g.iw, C = g.c;
  float scale = s / (s * (float)size);
  for (int64_t n = 0; n < g.n; n++) {
    memset(acc, 0, sizeof(int32_t) * (size_t)C);
    for (int64_t ih = 0; ih < g.ih; ih++)
      for (int64_t iw = 0; iw < g.iw; iw++) {
        const uint8_t *restrict px = x + n * g.xs[0] + ih * g.xs[2] + iw * g.xs[3];
        int32_t *restrict a = acc;
        for (int64_t c = 0; c < C; c++)
          a[c] += px[c];
      }
    for (int64_t c = 0; c < C; c++)
      y[n * g.ys[0] + c * g.ys[1]] =
          (uint8_t)ptl_requantize((int32_t)(acc[c] - (int64_t)zp * size), scale, zp, 0, 255);
  }
  free(acc);
  return q_keep_qparams(call);
}

ptl_status ptl_adaptive_avg_pool2d_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (x->dtype == PTL_QUINT8)
    return q_global_avg_fast(call);
  if (x->dtype != PTL_FLOAT32 || x->ndim != 4 || y->shape[2] != 1 || y->shape[3] != 1 ||
      ptl_tensor_numel(y) == 0)
    return PTL_ERR_UNSUPPORTED;
  geom g;
  geom_init(x, y, &g);
  if (ptl_tensor_is_contiguous(x)) {
    gap_ctx c = {g.x, g.y, g.ih * g.iw, g.c, g.ys[0], g.ys[1]};
    size_t planes = (size_t)(g.n * g.c);
    if ((int64_t)planes * c.hw >= 32768 && planes > 1)
      ptl_parallel_for(gap_plane, &c, planes);
    else
      for (size_t p = 0; p < planes; p++)
        gap_plane(&c, p);
    return PTL_OK;
  }
  /* the ResNet / MobileNet head: channels-last features to an [N, C] vector */
  if (!ptl_tensor_is_channels_last(x) || (g.c > 1 && g.ys[1] != 1) || (g.n > 1 && g.ys[0] != g.c))
    return PTL_ERR_UNSUPPORTED;
  if (g.ih * g.iw > GAP_XNN_MAX_PIXELS)
    return gap_nhwc(&g);
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  uint64_t key[XKEY_WORDS] = {XK_GAP, (uint64_t)g.c};
  ptl_status s = PTL_ERR_UNSUPPORTED;
  pthread_mutex_lock(&g_xlock);
  xnn_operator_t op = xcache_find(key);
  if (!op) {
    if (xnn_create_global_average_pooling_nwc_f32((size_t)g.c, (size_t)g.c, (size_t)g.c, -INFINITY,
                                                  INFINITY, 0, &op) != xnn_status_success)
      op = NULL;
    else
      xcache_add(key, op);
  }
  if (op &&
      xnn_setup_global_average_pooling_nwc_f32(op, (size_t)g.n, (size_t)(g.ih * g.iw), g.x, g.y,
                                               (pthreadpool_t)ptl_threadpool()) ==
          xnn_status_success &&
      xnn_run_operator(op, (pthreadpool_t)ptl_threadpool()) == xnn_status_success)
    s = PTL_OK;
  pthread_mutex_unlock(&g_xlock);
  if (s == PTL_OK && any_nonfinite_nhwc(&g))
    s = PTL_ERR_UNSUPPORTED;
  return s;
}

static void adaptive_max_plane(void *vctx, size_t plane) {
  const geom *g = vctx;
  const float *x;
  float *y;
  plane_ptrs(g, plane, &x, &y);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    int64_t h0 = ad_start(oh, g->oh, g->ih), h1 = ad_end(oh, g->oh, g->ih);
    for (int64_t ow = 0; ow < g->ow; ow++) {
      int64_t w0 = ad_start(ow, g->ow, g->iw), w1 = ad_end(ow, g->ow, g->iw);
      float m = -INFINITY;
      for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = w0; iw < w1; iw++) {
          float v = x[ih * g->xs[2] + iw * g->xs[3]];
          m = (v > m || isnan(v)) ? v : m;
        }
      y[oh * g->ys[2] + ow * g->ys[3]] = m;
    }
  }
}

ptl_status ptl_adaptive_max_pool2d_ref(const ptl_call *call) {
  if (call->in[0]->dtype != PTL_FLOAT32)
    return ptl_run_as_float32(call, ptl_adaptive_max_pool2d_ref);
  geom g;
  geom_init(call->in[0], call->out[0], &g);
  if (g.oh * g.ow == 0)
    return PTL_OK;
  for_each_plane(&g, adaptive_max_plane, &g, g.ih * g.iw);
  return PTL_OK;
}

/* ---- upsampling ----------------------------------------------------------- */

ptl_status ptl_upsample2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0];
  char b[PTL_SHAPE_BUF];
  if (x->ndim != 4)
    return ptl_error(PTL_ERR_SHAPE, "%s: expected a 4-d (N, C, H, W) input, but got %s", op,
                     ptl_shape_str(x, b, sizeof b));
  PTL_CHECK(check_float(op, x));
  if (call->attrs->n_ints < 2)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: expected the output size (2 ints)", op);
  int64_t oh = call->attrs->ints[0], ow = call->attrs->ints[1];
  if (x->shape[2] <= 0 || x->shape[3] <= 0 || oh <= 0 || ow <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: Input and output sizes should be greater than 0, but got input (H: "
                     "%lld, W: %lld) output (H: %lld, W: %lld)",
                     op, (long long)x->shape[2], (long long)x->shape[3], (long long)oh,
                     (long long)ow);
  pool_out_desc(x, oh, ow, out);
  return PTL_OK;
}

/* torch's compute_scales_value: 1/scale_factor when one was given. */
static float scale_value(double scale, int64_t in, int64_t out) {
  return scale > 0.0 ? (float)(1.0 / scale) : (float)in / (float)out;
}

/* torch's nearest_idx (upsample 'nearest'). */
static int64_t nearest_idx(int64_t o, int64_t in, int64_t out, float scale) {
  if (out == in)
    return o;
  if (out == 2 * in)
    return o >> 1;
  int64_t i = (int64_t)floorf((float)o * scale);
  return i < in - 1 ? i : in - 1;
}

typedef struct {
  geom g;
  int64_t *hi, *wi; /* source rows / columns (element offsets for columns) */
} nearest_ctx;

static void nearest_plane(void *vctx, size_t plane) {
  const nearest_ctx *c = vctx;
  const geom *g = &c->g;
  const float *x;
  float *y;
  plane_ptrs(g, plane, &x, &y);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    const float *row = x + c->hi[oh] * g->xs[2];
    float *dst = y + oh * g->ys[2];
    for (int64_t ow = 0; ow < g->ow; ow++)
      dst[ow * g->ys[3]] = row[c->wi[ow]];
  }
}

static void nearest_row_nhwc(void *vctx, size_t r) {
  const nearest_ctx *c = vctx;
  const geom *g = &c->g;
  int64_t n = (int64_t)r / g->oh, oh = (int64_t)r % g->oh;
  const float *row = g->x + n * g->xs[0] + c->hi[oh] * g->xs[2];
  float *yr = g->y + n * g->ys[0] + oh * g->ys[2];
  for (int64_t ow = 0; ow < g->ow; ow++)
    memcpy(yr + ow * g->ys[3], row + c->wi[ow], sizeof(float) * (size_t)g->c);
}

ptl_status ptl_upsample_nearest2d_ref(const ptl_call *call) {
  if (call->in[0]->dtype == PTL_QUINT8)
    return q_upsample_nearest2d(call);
  if (call->in[0]->dtype != PTL_FLOAT32)
    return ptl_run_as_float32(call, ptl_upsample_nearest2d_ref);
  nearest_ctx c;
  geom_init(call->in[0], call->out[0], &c.g);
  const geom *g = &c.g;
  c.hi = malloc(sizeof(int64_t) * (size_t)(g->oh + g->ow));
  if (!c.hi)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "upsample_nearest2d: out of memory");
  c.wi = c.hi + g->oh;
  float sh = scale_value(attr_f(call->attrs, 0, 0.0), g->ih, g->oh);
  float sw = scale_value(attr_f(call->attrs, 1, 0.0), g->iw, g->ow);
  for (int64_t i = 0; i < g->oh; i++)
    c.hi[i] = nearest_idx(i, g->ih, g->oh, sh);
  for (int64_t i = 0; i < g->ow; i++)
    c.wi[i] = nearest_idx(i, g->iw, g->ow, sw) * g->xs[3];
  if (pixel_major(g))
    for_each_out_row(g, nearest_row_nhwc, &c, g->ow * g->c);
  else
    for_each_plane(g, nearest_plane, &c, g->oh * g->ow);
  free(c.hi);
  return PTL_OK;
}

/* torch's linear interpolation indices and weights along one axis
 * (area_pixel_compute_scale / _source_index, guard_index_and_lambda). */
typedef struct {
  int64_t i0, off; /* first source index and the step to the second (0 or 1) */
  float l0, l1;
} lin_w;

static void linear_weights(int64_t in, int64_t out, bool align_corners, double scale, lin_w *w) {
  float ratio;
  if (align_corners)
    ratio = out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
  else
    ratio = scale_value(scale, in, out);
  for (int64_t o = 0; o < out; o++) {
    if (out == in) {
      w[o] = (lin_w){o, 0, 1.0f, 0.0f};
      continue;
    }
    float real;
    if (align_corners) {
      real = ratio * (float)o;
    } else {
      /* torch's r * (o + 0.5) - 0.5 is compiled into one fused multiply-add
       * (GCC contracts it on x86-64 AVX2 and AArch64 builds); rounding it in
       * two steps moves the coordinate by an ulp, ~3e-6 in the output */
      real = fmaf(ratio, (float)o + 0.5f, -0.5f);
      if (real < 0.0f)
        real = 0.0f;
    }
    int64_t i0 = (int64_t)floorf(real);
    if (i0 > in - 1)
      i0 = in - 1;
    float l1 = real - (float)i0;
    l1 = l1 < 0.0f ? 0.0f : l1 > 1.0f ? 1.0f : l1;
    w[o] = (lin_w){i0, i0 < in - 1 ? 1 : 0, 1.0f - l1, l1};
  }
}

typedef struct {
  geom g;
  lin_w *hw, *ww;
} bilinear_ctx;

static void bilinear_plane(void *vctx, size_t plane) {
  const bilinear_ctx *c = vctx;
  const geom *g = &c->g;
  const float *x;
  float *y;
  plane_ptrs(g, plane, &x, &y);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    const lin_w *h = &c->hw[oh];
    const float *r0 = x + h->i0 * g->xs[2], *r1 = r0 + h->off * g->xs[2];
    float *dst = y + oh * g->ys[2];
    for (int64_t ow = 0; ow < g->ow; ow++) {
      const lin_w *w = &c->ww[ow];
      int64_t a = w->i0 * g->xs[3], b = a + w->off * g->xs[3];
      /* the order of torch's generic kernel: width first, then height */
      float t0 = r0[a] * w->l0 + r0[b] * w->l1;
      float t1 = r1[a] * w->l0 + r1[b] * w->l1;
      dst[ow * g->ys[3]] = t0 * h->l0 + t1 * h->l1;
    }
  }
}

static void bilinear_row_nhwc(void *vctx, size_t r) {
  const bilinear_ctx *c = vctx;
  const geom *g = &c->g;
  int64_t n = (int64_t)r / g->oh, oh = (int64_t)r % g->oh, C = g->c;
  const lin_w *h = &c->hw[oh];
  const float *r0 = g->x + n * g->xs[0] + h->i0 * g->xs[2], *r1 = r0 + h->off * g->xs[2];
  float *yr = g->y + n * g->ys[0] + oh * g->ys[2];
  for (int64_t ow = 0; ow < g->ow; ow++) {
    const lin_w *w = &c->ww[ow];
    int64_t a = w->i0 * g->xs[3], b = a + w->off * g->xs[3];
    const float *restrict p00 = r0 + a, *restrict p01 = r0 + b, *restrict p10 = r1 + a,
                          *restrict p11 = r1 + b;
    float *restrict yp = yr + ow * g->ys[3];
    for (int64_t ch = 0; ch < C; ch++) {
      float t0 = p00[ch] * w->l0 + p01[ch] * w->l1;
      float t1 = p10[ch] * w->l0 + p11[ch] * w->l1;
      yp[ch] = t0 * h->l0 + t1 * h->l1;
    }
  }
}

ptl_status ptl_upsample_bilinear2d_ref(const ptl_call *call) {
  if (call->in[0]->dtype == PTL_QUINT8)
    return q_upsample_bilinear2d(call);
  if (call->in[0]->dtype != PTL_FLOAT32)
    return ptl_run_as_float32(call, ptl_upsample_bilinear2d_ref);
  bilinear_ctx c;
  geom_init(call->in[0], call->out[0], &c.g);
  const geom *g = &c.g;
  bool ac = attr_i(call->attrs, 2, 0) != 0;
  c.hw = malloc(sizeof(lin_w) * (size_t)(g->oh + g->ow));
  if (!c.hw)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "upsample_bilinear2d: out of memory");
  c.ww = c.hw + g->oh;
  linear_weights(g->ih, g->oh, ac, attr_f(call->attrs, 0, 0.0), c.hw);
  linear_weights(g->iw, g->ow, ac, attr_f(call->attrs, 1, 0.0), c.ww);
  if (pixel_major(g))
    for_each_out_row(g, bilinear_row_nhwc, &c, g->ow * g->c * 4);
  else
    for_each_plane(g, bilinear_plane, &c, g->oh * g->ow * 4);
  free(c.hw);
  return PTL_OK;
}

/* XNNPACK computes its scale as in/out from the sizes; torch uses
 * 1/scale_factor when one was given. They agree when both give the same
 * float (and always for align_corners, where torch ignores scale_factor, and
 * for an unchanged size, which both copy). */
static bool same_ratio(double scale, int64_t in, int64_t out) {
  return scale <= 0.0 || in == out || (float)(1.0 / scale) == (float)in / (float)out;
}

/* XNNPACK's half-pixel source coordinate is o * r + (0.5 * r - 0.5), torch's
 * r * (o + 0.5) - 0.5: the same float only when every step is exact, i.e. for
 * a power-of-two ratio (x2, x4 upsampling, /2 downsampling) on sizes well
 * inside float's mantissa. Other ratios differ by a few ulps of the
 * coordinate, which shows as ~1e-5 relative in the output: reference then. */
static bool half_pixel_exact(int64_t in, int64_t out) {
  if (in == out)
    return true;
  int e;
  float r = (float)in / (float)out;
  return frexpf(r, &e) == 0.5f && in < (1 << 16) && out < (1 << 16);
}

ptl_status ptl_upsample_bilinear2d_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (!nhwc_ok(x, y))
    return PTL_ERR_UNSUPPORTED;
  geom g;
  geom_init(x, y, &g);
  bool ac = attr_i(call->attrs, 2, 0) != 0;
  if (!ac && (!same_ratio(attr_f(call->attrs, 0, 0.0), g.ih, g.oh) ||
              !same_ratio(attr_f(call->attrs, 1, 0.0), g.iw, g.ow) ||
              !half_pixel_exact(g.ih, g.oh) || !half_pixel_exact(g.iw, g.ow)))
    return PTL_ERR_UNSUPPORTED;
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  uint32_t flags = ac ? XNN_FLAG_ALIGN_CORNERS : 0;
  uint64_t key[XKEY_WORDS] = {XK_RESIZE, (uint64_t)g.c, flags};
  ptl_status s = PTL_ERR_UNSUPPORTED;
  pthread_mutex_lock(&g_xlock);
  xnn_operator_t op = xcache_find(key);
  if (!op) {
    if (xnn_create_resize_bilinear2d_nhwc_f32((size_t)g.c, (size_t)g.c, (size_t)g.c, flags, &op) !=
        xnn_status_success)
      op = NULL;
    else
      xcache_add(key, op);
  }
  if (op &&
      xnn_setup_resize_bilinear2d_nhwc_f32(op, (size_t)g.n, (size_t)g.ih, (size_t)g.iw,
                                           (size_t)g.oh, (size_t)g.ow, g.x, g.y,
                                           (pthreadpool_t)ptl_threadpool()) == xnn_status_success &&
      xnn_run_operator(op, (pthreadpool_t)ptl_threadpool()) == xnn_status_success)
    s = PTL_OK;
  pthread_mutex_unlock(&g_xlock);
  return s;
}

/* ---- quint8 ----------------------------------------------------------------
 * torch's quantized CPU kernels under the qnnpack engine (checked against torch
 * 2.13 on ties). The output keeps the input's scale and zero point, attached on
 * every run. Fast paths: XNNPACK's u8 max pooling for channels-last inputs
 * without ceil_mode (see q_max_pool2d_fast), an own loop for planes with unit
 * column stride without dilation (q_max_pool2d_planes); everything else is
 * reference only (XNNPACK's qu8 average pooling requantizes in fixed point where torch's
 * qnnpack path is fp32, so they differ on ties; its u8 bilinear resize uses its
 * own fixed-point weights).
 *  - max_pool2d: the max of the integers in the window (padding never wins);
 *    without ceil_mode torch runs QNNPACK, which reads a padded tap as the
 *    nearest input pixel (differs from the float op only with dilation > 1).
 *  - avg_pool2d, ceil_mode off (torch's QNNPACK path): padding counts as the
 *    zero point and the divisor is always kh * kw: QNNPACK ignores
 *    count_include_pad=False and divisor_override, and so does torch there.
 *    acc = sum - zp * kh * kw, y = ptl_requantize(acc, s / (s * kh * kw)).
 *  - avg_pool2d, ceil_mode on (torch's generic kernel): torch's float divisor
 *    rules, acc = sum - zp * count, y = nearbyint(float(acc) * (1 / divisor) + zp),
 *    for channels-last inputs (its NHWC kernel) nearbyint(...) + zp.
 *  - adaptive_avg_pool2d: torch's floor/ceil windows; when they tile the input
 *    (torch's QNNPACK path) ptl_requantize(acc, s / (s * size)), otherwise
 *    (its generic kernel) nearbyint(float(acc) * (1 / size) + zp).
 *  - upsample_nearest2d: a copy of the source integers.
 *  - upsample_bilinear2d: torch's quantized kernel, interpolating the raw
 *    integers in float, subtracting the zero point, y = quantize(r * s). */
typedef struct {
  geom g;
  const uint8_t *x;
  uint8_t *y;
} qgeom;

static void qgeom_init(const ptl_call *call, qgeom *q) {
  geom_init(call->in[0], call->out[0], &q->g);
  q->x = ptl_tensor_data(call->in[0]);
  q->y = ptl_tensor_data(call->out[0]);
}

static inline int64_t qx_off(const geom *g, int64_t n, int64_t c, int64_t h, int64_t w) {
  return n * g->xs[0] + c * g->xs[1] + h * g->xs[2] + w * g->xs[3];
}
static inline int64_t qy_off(const geom *g, int64_t n, int64_t c, int64_t h, int64_t w) {
  return n * g->ys[0] + c * g->ys[1] + h * g->ys[2] + w * g->ys[3];
}

static ptl_status q_keep_qparams(const ptl_call *call) {
  const ptl_qparams *p = call->in[0]->qparams;
  return ptl_qparams_set_per_tensor(call->out[0], p->scale[0], p->zero_point[0]);
}

static inline uint8_t clamp_u8f(float v) {
  return v < 0.0f ? 0 : v > 255.0f ? 255 : (uint8_t)v;
}

static ptl_status q_max_pool2d(const ptl_call *call) {
  qgeom q;
  qgeom_init(call, &q);
  pool_params p;
  max_params(call->attrs, &p);
  const geom *g = &q.g;
  bool qnnp = !p.ceil_mode; /* torch's QNNPACK path */
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t oh = 0; oh < g->oh; oh++) {
        int64_t h0 = oh * p.sh - p.ph, ky0, ky1;
        tap_range(h0, p.kh, p.dh, g->ih, &ky0, &ky1);
        for (int64_t ow = 0; ow < g->ow; ow++) {
          int64_t w0 = ow * p.sw - p.pw, kx0, kx1;
          tap_range(w0, p.kw, p.dw, g->iw, &kx0, &kx1);
          int m = 0;
          if (qnnp) {
            /* QNNPACK's indirection buffer reads a padded tap as the nearest
             * input pixel: with dilation that pixel can lie outside the window */
            for (int64_t ky = 0; ky < p.kh; ky++)
              for (int64_t kx = 0; kx < p.kw; kx++) {
                int64_t ih = h0 + ky * p.dh, iw = w0 + kx * p.dw;
                ih = ih < 0 ? 0 : ih >= g->ih ? g->ih - 1 : ih;
                iw = iw < 0 ? 0 : iw >= g->iw ? g->iw - 1 : iw;
                int v = q.x[qx_off(g, n, c, ih, iw)];
                m = v > m ? v : m;
              }
          } else {
            for (int64_t ky = ky0; ky < ky1; ky++)
              for (int64_t kx = kx0; kx < kx1; kx++) {
                int v = q.x[qx_off(g, n, c, h0 + ky * p.dh, w0 + kx * p.dw)];
                m = v > m ? v : m;
              }
          }
          q.y[qy_off(g, n, c, oh, ow)] = (uint8_t)m;
        }
      }
  return q_keep_qparams(call);
}

static ptl_status q_avg_pool2d(const ptl_call *call) {
  qgeom q;
  qgeom_init(call, &q);
  pool_params p;
  avg_params(call->attrs, &p);
  bool include_pad = attr_i(call->attrs, 7, 1) != 0;
  int64_t divisor = attr_i(call->attrs, 8, 0);
  const geom *g = &q.g;
  float s = call->in[0]->qparams->scale[0];
  int32_t zp = call->in[0]->qparams->zero_point[0];
  float qnnp_scale = s / (s * (float)(p.kh * p.kw));
  /* torch's generic kernel has an NHWC variant (for channels-last inputs) that
   * rounds before adding the zero point; the NCHW one after */
  const ptl_tensor *xt = call->in[0];
  bool nhwc = xt->ndim == 4 && ptl_tensor_is_channels_last(xt) && !ptl_tensor_is_contiguous(xt);
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t c = 0; c < g->c; c++)
      for (int64_t oh = 0; oh < g->oh; oh++)
        for (int64_t ow = 0; ow < g->ow; ow++) {
          int64_t hs = oh * p.sh - p.ph, ws = ow * p.sw - p.pw;
          int64_t he = hs + p.kh < g->ih + p.ph ? hs + p.kh : g->ih + p.ph;
          int64_t we = ws + p.kw < g->iw + p.pw ? ws + p.kw : g->iw + p.pw;
          int64_t pool_size = (he - hs) * (we - ws);
          hs = hs > 0 ? hs : 0;
          ws = ws > 0 ? ws : 0;
          he = he < g->ih ? he : g->ih;
          we = we < g->iw ? we : g->iw;
          int64_t count = (he - hs) * (we - ws);
          int32_t sum = 0;
          for (int64_t ih = hs; ih < he; ih++)
            for (int64_t iw = ws; iw < we; iw++)
              sum += q.x[qx_off(g, n, c, ih, iw)];
          uint8_t r;
          if (!p.ceil_mode) {
            /* QNNPACK: padded taps read the zero point, divisor kh * kw */
            int32_t acc = sum - zp * (int32_t)count;
            r = (uint8_t)ptl_requantize(acc, qnnp_scale, zp, 0, 255);
          } else {
            int64_t d = divisor ? divisor : include_pad ? pool_size : count;
            float m = (float)(1.0 / (double)d);
            float v = (float)(sum - zp * (int32_t)count) * m;
            r = clamp_u8f(nhwc ? nearbyintf(v) + (float)zp : nearbyintf(v + (float)zp));
          }
          q.y[qy_off(g, n, c, oh, ow)] = r;
        }
  return q_keep_qparams(call);
}

static ptl_status q_adaptive_avg_pool2d(const ptl_call *call) {
  qgeom q;
  qgeom_init(call, &q);
  const geom *g = &q.g;
  float s = call->in[0]->qparams->scale[0];
  int32_t zp = call->in[0]->qparams->zero_point[0];
  /* torch takes QNNPACK's average pooling when the windows tile the input */
  bool qnnp = g->oh > 0 && g->ow > 0 && g->ih % g->oh == 0 && g->iw % g->ow == 0;
  for (int64_t oh = 0; oh < g->oh; oh++) {
    int64_t h0 = ad_start(oh, g->oh, g->ih), h1 = ad_end(oh, g->oh, g->ih);
    for (int64_t ow = 0; ow < g->ow; ow++) {
      int64_t w0 = ad_start(ow, g->ow, g->iw), w1 = ad_end(ow, g->ow, g->iw);
      int64_t size = (h1 - h0) * (w1 - w0);
      float scale = s / (s * (float)size), m = (float)(1.0 / (double)size);
      for (int64_t n = 0; n < g->n; n++)
        for (int64_t c = 0; c < g->c; c++) {
          int64_t sum = 0;
          for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++)
              sum += q.x[qx_off(g, n, c, ih, iw)];
          int32_t acc = (int32_t)(sum - (int64_t)zp * size);
          q.y[qy_off(g, n, c, oh, ow)] = qnnp ? (uint8_t)ptl_requantize(acc, scale, zp, 0, 255)
                                              : clamp_u8f(nearbyintf((float)acc * m + (float)zp));
        }
    }
  }
  return q_keep_qparams(call);
}

static ptl_status q_upsample_nearest2d(const ptl_call *call) {
  qgeom q;
  qgeom_init(call, &q);
  const geom *g = &q.g;
  float sh = scale_value(attr_f(call->attrs, 0, 0.0), g->ih, g->oh);
  float sw = scale_value(attr_f(call->attrs, 1, 0.0), g->iw, g->ow);
  for (int64_t oh = 0; oh < g->oh; oh++) {
    int64_t ih = nearest_idx(oh, g->ih, g->oh, sh);
    for (int64_t ow = 0; ow < g->ow; ow++) {
      int64_t iw = nearest_idx(ow, g->iw, g->ow, sw);
      for (int64_t n = 0; n < g->n; n++)
        for (int64_t c = 0; c < g->c; c++)
          q.y[qy_off(g, n, c, oh, ow)] = q.x[qx_off(g, n, c, ih, iw)];
    }
  }
  return q_keep_qparams(call);
}

static ptl_status q_upsample_bilinear2d(const ptl_call *call) {
  qgeom q;
  qgeom_init(call, &q);
  const geom *g = &q.g;
  bool ac = attr_i(call->attrs, 2, 0) != 0;
  lin_w *hw = malloc(sizeof(lin_w) * (size_t)(g->oh + g->ow));
  if (!hw)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "upsample_bilinear2d: out of memory");
  lin_w *ww = hw + g->oh;
  linear_weights(g->ih, g->oh, ac, attr_f(call->attrs, 0, 0.0), hw);
  linear_weights(g->iw, g->ow, ac, attr_f(call->attrs, 1, 0.0), ww);
  float s = call->in[0]->qparams->scale[0];
  int32_t zp = call->in[0]->qparams->zero_point[0];
  float inv = 1.0f / s, zpf = (float)zp;
  for (int64_t oh = 0; oh < g->oh; oh++) {
    const lin_w *h = &hw[oh];
    for (int64_t ow = 0; ow < g->ow; ow++) {
      const lin_w *w = &ww[ow];
      int64_t h1 = h->i0 + h->off, w1 = w->i0 + w->off;
      for (int64_t n = 0; n < g->n; n++)
        for (int64_t c = 0; c < g->c; c++) {
          float x00 = q.x[qx_off(g, n, c, h->i0, w->i0)], x01 = q.x[qx_off(g, n, c, h->i0, w1)];
          float x10 = q.x[qx_off(g, n, c, h1, w->i0)], x11 = q.x[qx_off(g, n, c, h1, w1)];
          float t0 = w->l0 * x00 + w->l1 * x01;
          float t1 = w->l0 * x10 + w->l1 * x11;
          float r = h->l0 * t0 + h->l1 * t1 - zpf;
          /* torch: quantize_val(s, zp, r * s) = nearbyint(float(r * s * (1 / s)) + zp) */
          float v = (r * s) * inv;
          q.y[qy_off(g, n, c, oh, ow)] = clamp_u8f(nearbyintf(v + zpf));
        }
    }
  }
  free(hw);
  return q_keep_qparams(call);
}
