/* norm.c - BATCH_NORM (inference form: the statistics are inputs) and
 * LAYER_NORM.
 *
 * Batch norm folds the statistics into a per-channel scale and shift exactly
 * as torch's CPU kernel does (alpha = weight / sqrt(var + eps), beta = bias -
 * mean * alpha, y = x * alpha + beta), so results agree to the last bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static ptl_status check_float(const char *op, const ptl_tensor *x) {
  if (x->dtype != PTL_FLOAT32 && x->dtype != PTL_FLOAT16)
    return ptl_error(PTL_ERR_DTYPE, "\"%s\" not implemented for '%s' (expected float32 or float16)",
                     op, ptl_dtype_name(x->dtype));
  return PTL_OK;
}

/* Reads a 1-d parameter (any float dtype, any stride) as float. */
static float param_at(const ptl_tensor *t, int64_t i) {
  int64_t st = t->ndim > 0 ? t->strides[t->ndim - 1] : 0;
  const void *base = ptl_tensor_data(t);
  if (t->dtype == PTL_FLOAT32)
    return ((const float *)base)[i * st];
  return (float)ptl_load_f64(t->dtype, base, i * st);
}

/* ---- batch norm ----------------------------------------------------------- */

ptl_status ptl_batch_norm_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  if (x->ndim < 2)
    return ptl_error(PTL_ERR_SHAPE,
                     "batch_norm: expected an input with at least 2 dims (N, C, ...), but got "
                     "input of size %s",
                     ptl_shape_str(x, b1, sizeof b1));
  PTL_CHECK(check_float("batch_norm", x));
  int64_t c = x->shape[1];
  static const char *const names[5] = {"input", "running_mean", "running_var", "weight", "bias"};
  for (int i = 1; i < call->n_in && i < 5; i++) {
    const ptl_tensor *p = call->in[i];
    if (!p)
      continue;
    if (ptl_tensor_numel(p) != c || p->ndim != 1)
      return ptl_error(PTL_ERR_SHAPE,
                       "batch_norm: %s should contain %lld elements not %lld (%s of size %s, "
                       "input of size %s)",
                       names[i], (long long)c, (long long)ptl_tensor_numel(p), names[i],
                       ptl_shape_str(p, b2, sizeof b2), ptl_shape_str(x, b1, sizeof b1));
    if (!ptl_dtype_is_float(p->dtype))
      return ptl_error(PTL_ERR_DTYPE, "batch_norm: %s must be floating point, got %s", names[i],
                       ptl_dtype_name(p->dtype));
  }
  out->dtype = x->dtype;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  /* keep channels-last (torch's suggest_memory_format); anything else contiguous */
  if (x->ndim == 4 && ptl_tensor_is_channels_last(x) && !ptl_tensor_is_contiguous(x)) {
    out->has_strides = true;
    ptl_channels_last_strides(out->shape, out->strides);
  }
  return PTL_OK;
}

/* alpha, beta per channel, in float as torch's batch_norm_cpu_collect_linear_and_constant_terms */
static ptl_status bn_terms(const ptl_call *call, int64_t c, float **alpha_out, float **beta_out) {
  float *alpha = malloc(sizeof(float) * (size_t)(2 * (c > 0 ? c : 1)));
  if (!alpha)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "batch_norm: out of memory");
  float *beta = alpha + c;
  const ptl_tensor *mean = call->in[1], *var = call->in[2];
  const ptl_tensor *w = call->n_in > 3 ? call->in[3] : NULL;
  const ptl_tensor *b = call->n_in > 4 ? call->in[4] : NULL;
  float eps = (float)(call->attrs->n_floats > 0 ? call->attrs->floats[0] : 1e-5);
  for (int64_t i = 0; i < c; i++) {
    float invstd = 1.0f / sqrtf(param_at(var, i) + eps);
    float wv = w ? param_at(w, i) : 1.0f, bv = b ? param_at(b, i) : 0.0f;
    alpha[i] = invstd * wv;
    beta[i] = bv - param_at(mean, i) * alpha[i];
  }
  *alpha_out = alpha;
  *beta_out = beta;
  return PTL_OK;
}

typedef struct {
  const float *x;
  float *y;
  float a, b;
} bn_row_ctx;

static void bn_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  const bn_row_ctx *c = vctx;
  float *y = c->y + off[0];
  const float *x = c->x + off[1];
  for (int64_t i = 0; i < n; i++)
    y[i * st[0]] = x[i * st[1]] * c->a + c->b;
}

/* Reference: one channel at a time, walking the rest of the tensor (channel
 * dim removed) with the strided row iterator, so any layout works. */
ptl_status ptl_batch_norm_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (x->dtype != PTL_FLOAT32)
    return ptl_run_as_float32(call, ptl_batch_norm_ref);
  int64_t c = x->shape[1];
  float *alpha, *beta;
  PTL_CHECK(bn_terms(call, c, &alpha, &beta));
  int nd = x->ndim - 1;
  int64_t shape[PTL_MAX_DIMS], st[2][PTL_MAX_DIMS];
  for (int d = 0, k = 0; d < x->ndim; d++) {
    if (d == 1)
      continue;
    shape[k] = x->shape[d];
    st[0][k] = y->strides[d];
    st[1][k] = x->strides[d];
    k++;
  }
  const float *xd = ptl_tensor_data(x);
  float *yd = ptl_tensor_data(y);
  for (int64_t i = 0; i < c; i++) {
    bn_row_ctx rc = {xd + i * x->strides[1], yd + i * y->strides[1], alpha[i], beta[i]};
    ptl_for_each_row(nd, shape, 2, (const int64_t(*)[PTL_MAX_DIMS])st, bn_row, &rc);
  }
  free(alpha);
  return PTL_OK;
}

/* Fast paths over dense memory, split in chunks for the threadpool. Each
 * element is computed the same way whatever the split. */
typedef struct {
  const float *x;
  float *y;
  const float *alpha, *beta;
  int64_t c, inner, chunk, total; /* NCHW: inner = H*W; NHWC: c per pixel */
} bn_fast_ctx;

#define BN_CHUNK 16384

/* NHWC: chunk = a run of pixels; the inner loop over C vectorizes. */
static void bn_nhwc_chunk(void *vctx, size_t k) {
  const bn_fast_ctx *c = vctx;
  int64_t p0 = (int64_t)k * c->chunk, p1 = p0 + c->chunk;
  if (p1 > c->total)
    p1 = c->total;
  const float *restrict alpha = c->alpha, *restrict beta = c->beta;
  int64_t ch = c->c;
  for (int64_t p = p0; p < p1; p++) {
    const float *restrict x = c->x + p * ch;
    float *restrict y = c->y + p * ch;
    for (int64_t i = 0; i < ch; i++)
      y[i] = x[i] * alpha[i] + beta[i];
  }
}

/* NCHW: chunk = a run of (n, c) planes; the loop over one plane vectorizes. */
static void bn_nchw_chunk(void *vctx, size_t k) {
  const bn_fast_ctx *c = vctx;
  int64_t p0 = (int64_t)k * c->chunk, p1 = p0 + c->chunk;
  if (p1 > c->total)
    p1 = c->total;
  for (int64_t p = p0; p < p1; p++) {
    float a = c->alpha[p % c->c], b = c->beta[p % c->c];
    const float *restrict x = c->x + p * c->inner;
    float *restrict y = c->y + p * c->inner;
    for (int64_t i = 0; i < c->inner; i++)
      y[i] = x[i] * a + b;
  }
}

ptl_status ptl_batch_norm_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (x->dtype != PTL_FLOAT32 || y->dtype != PTL_FLOAT32)
    return PTL_ERR_UNSUPPORTED;
  int64_t numel = ptl_tensor_numel(x), c = x->shape[1];
  if (numel == 0)
    return PTL_ERR_UNSUPPORTED;
  bool nhwc = ptl_tensor_is_channels_last(x) && ptl_tensor_is_channels_last(y);
  bool nchw = ptl_tensor_is_contiguous(x) && ptl_tensor_is_contiguous(y);
  if (!nhwc && !nchw)
    return PTL_ERR_UNSUPPORTED;
  int64_t inner = numel / (x->shape[0] * c);
  /* both layouts coincide for C == 1 or H*W == 1 ([N, C] too): vectorize the longer loop */
  if (nchw && (!nhwc || inner >= c))
    nhwc = false;
  else
    nhwc = true;
  float *alpha, *beta;
  PTL_CHECK(bn_terms(call, c, &alpha, &beta));
  bn_fast_ctx fc = {ptl_tensor_data(x), ptl_tensor_data(y), alpha, beta, c, inner, 0, 0};
  void (*fn)(void *, size_t);
  if (nhwc) {
    fn = bn_nhwc_chunk;
    fc.total = numel / c;
    fc.chunk = BN_CHUNK / c > 0 ? BN_CHUNK / c : 1;
  } else {
    fn = bn_nchw_chunk;
    int64_t planes = numel / fc.inner;
    fc.total = planes;
    fc.chunk = BN_CHUNK / fc.inner > 0 ? BN_CHUNK / fc.inner : 1;
  }
  size_t chunks = (size_t)((fc.total + fc.chunk - 1) / fc.chunk);
  if (chunks > 1)
    ptl_parallel_for(fn, &fc, chunks);
  else
    fn(&fc, 0);
  free(alpha);
  return PTL_OK;
}

/* ---- layer norm ----------------------------------------------------------- */

ptl_status ptl_layer_norm_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  int64_t k = call->attrs->n_ints > 0 ? call->attrs->ints[0] : 1;
  if (k < 1)
    return ptl_error(PTL_ERR_SHAPE,
                     "layer_norm: Expected normalized_shape to be at least 1-dimensional, i.e., "
                     "containing at least one element, but got %lld normalized dims",
                     (long long)k);
  if (k > x->ndim)
    return ptl_error(PTL_ERR_SHAPE,
                     "layer_norm: %lld normalized dims, but input of size %s has only %d dims",
                     (long long)k, ptl_shape_str(x, b1, sizeof b1), x->ndim);
  PTL_CHECK(check_float("layer_norm", x));
  const int64_t *ns = x->shape + x->ndim - k;
  for (int i = 1; i < call->n_in && i < 3; i++) {
    const ptl_tensor *p = call->in[i];
    if (!p)
      continue;
    if (p->ndim != k || memcmp(p->shape, ns, sizeof(int64_t) * (size_t)k) != 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "layer_norm: Expected %s to be of same shape as normalized_shape, but "
                       "got %s of shape %s and normalized_shape = %s",
                       i == 1 ? "weight" : "bias", i == 1 ? "weight" : "bias",
                       ptl_shape_str(p, b1, sizeof b1), ptl_dims_str((int)k, ns, b2, sizeof b2));
    if (!ptl_dtype_is_float(p->dtype))
      return ptl_error(PTL_ERR_DTYPE, "layer_norm: %s must be floating point, got %s",
                       i == 1 ? "weight" : "bias", ptl_dtype_name(p->dtype));
  }
  out->dtype = x->dtype;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  return PTL_OK;
}

typedef struct {
  const float *x;
  float *y;
  const float *gamma, *beta; /* contiguous float copies, or NULL */
  int64_t n;                 /* row length */
  float eps;
} ln_ctx;

/* One row: two-pass mean and biased variance in double (torch's rowwise
 * moments are accurate to float rounding; double keeps us within 1e-6),
 * then torch's (x * rstd + (-rstd * mean)) * gamma + beta in float. */
static void ln_row(void *vctx, size_t r) {
  const ln_ctx *c = vctx;
  const float *x = c->x + (int64_t)r * c->n;
  float *y = c->y + (int64_t)r * c->n;
  double sum = 0.0;
  for (int64_t i = 0; i < c->n; i++)
    sum += x[i];
  double mean = sum / (double)c->n, sq = 0.0;
  for (int64_t i = 0; i < c->n; i++) {
    double d = x[i] - mean;
    sq += d * d;
  }
  float var = (float)(sq / (double)c->n);
  float rstd = 1.0f / sqrtf((var > 0.0f ? var : 0.0f) + c->eps);
  float bias = -rstd * (float)mean;
  for (int64_t i = 0; i < c->n; i++) {
    float g = c->gamma ? c->gamma[i] : 1.0f, b = c->beta ? c->beta[i] : 0.0f;
    y[i] = (x[i] * rstd + bias) * g + b;
  }
}

/* A contiguous float32 copy of an optional parameter (NULL stays NULL). */
static ptl_status as_f32_contig(ptl_tensor *t, ptl_tensor **out) {
  *out = NULL;
  if (!t)
    return PTL_OK;
  if (t->dtype == PTL_FLOAT32)
    return ptl_tensor_contiguous(t, out);
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = PTL_FLOAT32;
  a.ints[1] = 0;
  return ptl_op_run(PTL_OP_COPY, &a, &t, 1, out, 1);
}

ptl_status ptl_layer_norm_ref(const ptl_call *call) {
  ptl_tensor *x = call->in[0], *y = call->out[0];
  int64_t k = call->attrs->n_ints > 0 ? call->attrs->ints[0] : 1;
  int64_t n = ptl_numel_of((int)k, x->shape + x->ndim - k);
  int64_t numel = ptl_tensor_numel(x);
  if (numel == 0)
    return PTL_OK;
  ptl_tensor *xc = NULL, *g = NULL, *b = NULL, *yc = NULL;
  ptl_status s = as_f32_contig(x, &xc);
  if (s == PTL_OK)
    s = as_f32_contig(call->n_in > 1 ? call->in[1] : NULL, &g);
  if (s == PTL_OK)
    s = as_f32_contig(call->n_in > 2 ? call->in[2] : NULL, &b);
  /* write straight into y when it is contiguous float32, else via a temporary */
  bool direct = y->dtype == PTL_FLOAT32 && ptl_tensor_is_contiguous(y);
  if (s == PTL_OK) {
    if (direct) {
      yc = y;
      ptl_tensor_retain(y);
    } else {
      s = ptl_tensor_create(PTL_FLOAT32, y->ndim, y->shape, &yc);
    }
  }
  if (s == PTL_OK) {
    ln_ctx c = {ptl_tensor_data(xc),
                ptl_tensor_data(yc),
                g ? ptl_tensor_data(g) : NULL,
                b ? ptl_tensor_data(b) : NULL,
                n,
                (float)(call->attrs->n_floats > 0 ? call->attrs->floats[0] : 1e-5)};
    size_t rows = (size_t)(numel / n);
    if (rows > 1 && numel >= 32768)
      ptl_parallel_for(ln_row, &c, rows);
    else
      for (size_t r = 0; r < rows; r++)
        ln_row(&c, r);
    if (!direct) {
      ptl_attrs a = {0};
      a.n_ints = 2;
      a.ints[0] = y->dtype;
      a.ints[1] = 1;
      s = ptl_op_run(PTL_OP_COPY, &a, &yc, 1, &y, 1);
    }
  }
  ptl_tensor_release(xc);
  ptl_tensor_release(g);
  ptl_tensor_release(b);
  ptl_tensor_release(yc);
  return s;
}
