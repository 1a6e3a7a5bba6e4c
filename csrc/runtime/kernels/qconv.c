/* qconv.c - quantized convolution and linear: QCONV2D, QCONV_TRANSPOSE2D,
 * QLINEAR (layouts in ops.def).
 *
 * The arithmetic is torch 2.13's 'qnnpack' engine (checked bit for bit against it):
 *  - bias: float32 quantized to int32 with scale float(double(w_scale) * double(x_scale))
 *    and zero point 0, by torch's scalar quantize_val: nearbyint(b * (1.0f / scale))
 *    (QuantizeBias in torch's QuantUtils.h, per tensor or per output channel);
 *  - accumulator: acc = qbias + sum (x - x_zp) * (w - w_zp) in int32 (wrapping);
 *  - requantization scale, in float, as generate_requantization_scales does:
 *      (w_scale * x_scale) * (1.f / out_scale)
 *    (multiplying by the reciprocal, not dividing: the two differ in the last bit
 *    for some scales);
 *  - output: ptl_requantize (float multiply, clamp, round half even, + zp) into
 *    [relu ? out_zp : 0, 255].
 * The XNNPACK fast paths are given that same requantization scale directly (input
 * scale = the requantization scale, kernel and output scales 1, so XNNPACK's own
 * input * kernel / output is exact) and the already quantized int32 bias; their fp32
 * requantization (multiply, clamp in float, round half even, add zero point) is
 * ptl_requantize's, so the reference and fast paths give the same bits.
 * One QNNPACK quirk is reproduced in the reference: when acc * scale is beyond int32,
 * QNNPACK's float->int32 conversion (cvtps) gives INT32_MIN, which saturates down to
 * the output floor (0, or out_zp with relu) where a clamp would give 255. XNNPACK
 * clamps in float first, so the fast paths only run when no accumulator can get
 * there (pick_mode bounds |acc| * scale below 2^31). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "../internal.h"
#include "qgemm.h"
#include "qdw.h"
#include "qmath.h"

/* ---- parameters ----------------------------------------------------------- */

typedef struct {
  bool transposed;
  int64_t n, c, h, w;     /* input */
  int64_t o, kh, kw;      /* output channels, kernel */
  int64_t groups, ig, og; /* channels per group: input, output */
  int64_t sh, sw, pt, pl, dh, dw, oph, opw;
  int64_t oh, ow;
} qgeom;

/* Per output channel quantities shared by every path. */
typedef struct {
  int64_t count;
  float *rscale;  /* requantization scale */
  int32_t *wzp;   /* weight zero point */
  int32_t *qbias; /* quantized bias (zeros without one) */
  bool per_channel;
  bool cached;        /* the arrays belong to the weight's cache entry (qchan_entry) */
  int32_t xzp, ozp;   /* input zp, output zp */
  int32_t qmin, qmax; /* output clamp: floor (relu: ozp), ceiling (fused relu6: < 255) */
  float oscale;
} qchan;

static void qchan_free(qchan *q) {
  if (!q->cached) {
    free(q->rscale);
    free(q->wzp);
    free(q->qbias);
  }
  memset(q, 0, sizeof *q);
}

static int64_t attr_i(const ptl_attrs *a, int k, int64_t def) {
  return a->n_ints > k ? a->ints[k] : def;
}

/* x quint8 per tensor, w qint8 per tensor or per channel (axis `waxis`, one entry
 * per output channel), bias float32 [O]. */
static ptl_status check_operands(const ptl_call *call, int64_t o, int waxis) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  if (x->dtype != PTL_QUINT8)
    return ptl_error(PTL_ERR_DTYPE,
                     "%s (qnnpack): Expected input data type QUInt8 (ptlite.quint8) but got %s", op,
                     ptl_dtype_name(x->dtype));
  if (!x->qparams || x->qparams->count != 1)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: expected a per-tensor quantized input", op);
  if (w->dtype != PTL_QINT8)
    return ptl_error(PTL_ERR_DTYPE,
                     "%s (qnnpack): Expected weight data type QInt8 (ptlite.qint8) but got %s", op,
                     ptl_dtype_name(w->dtype));
  const ptl_qparams *wq = w->qparams;
  if (!wq)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: weight has no quantization parameters", op);
  if (wq->count != 1 && (wq->axis != waxis || wq->count != o))
    return ptl_error(PTL_ERR_UNSUPPORTED,
                     "%s: per-channel weight quantization must be along the output channel axis "
                     "%d with %lld scales (got axis %d with %lld scales, weight %s)",
                     op, waxis, (long long)o, (int)wq->axis, (long long)wq->count,
                     ptl_shape_str(w, b1, sizeof b1));
  if (b && b->dtype != PTL_FLOAT32)
    return ptl_error(PTL_ERR_DTYPE, "%s: expected a float32 bias (ptlite.float), but got %s", op,
                     ptl_dtype_name(b->dtype));
  if (b && (b->ndim != 1 || b->shape[0] != o))
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: expected bias to be 1-dimensional with %lld elements (weight %s), but "
                     "got bias of size %s",
                     op, (long long)o, ptl_shape_str(w, b1, sizeof b1),
                     ptl_shape_str(b, b2, sizeof b2));
  return PTL_OK;
}

/* The per-channel arrays of q (scalars already set): requantization scales, weight zero
 * points, quantized bias. */
static ptl_status qchan_compute(const ptl_call *call, int64_t o, double oscale_attr, qchan *q) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  size_t n = (size_t)(o > 0 ? o : 1);
  q->rscale = malloc(sizeof(float) * n);
  q->wzp = malloc(sizeof(int32_t) * n);
  q->qbias = calloc(n, sizeof(int32_t));
  if (!q->rscale || !q->wzp || !q->qbias) {
    qchan_free(q);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
  }
  const float xs = x->qparams->scale[0];
  const float inv_os = 1.f / q->oscale;
  const float *bd = b ? ptl_tensor_data(b) : NULL;
  for (int64_t c = 0; c < o; c++) {
    int64_t k = q->per_channel ? c : 0;
    float ws = w->qparams->scale[k];
    q->wzp[c] = w->qparams->zero_point[k];
    float r = (ws * xs) * inv_os;
    if (!(r > 0.0f) || !isnormal(r)) {
      qchan_free(q);
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "%s: failed to create op with requantization scale: %g: requantization "
                       "scale must be finite and positive (input scale %g, weight scale %g, "
                       "output scale %g)",
                       op, (double)r, (double)xs, (double)ws, (double)oscale_attr);
    }
    q->rscale[c] = r;
    if (bd) {
      /* torch: quantize_per_tensor/channel(bias, w_scale * x_scale, 0, qint32) with the
       * product in double and the scalar two-rounding quantize_val */
      float bs = (float)((double)ws * (double)xs);
      float inv = 1.0f / bs;
      float v = nearbyintf(bd[c * b->strides[0]] * inv);
      int32_t qb;
      if (isnan(v))
        qb = INT32_MIN;
      else if ((double)v <= (double)INT32_MIN)
        qb = INT32_MIN;
      else if ((double)v >= (double)INT32_MAX)
        qb = INT32_MAX;
      else
        qb = (int32_t)v;
      q->qbias[c] = qb;
    }
  }
  return PTL_OK;
}

/* The per-channel arrays cached on the weight (one entry per weight and op, refreshed in
 * place when the call's parameters change): deriving them costs three allocations and a
 * division and rounding per channel on every call, about 1% of an int8 mobilenet. An
 * entry is used only when every input it was derived from is equal: the key (weight
 * version, op, channel counts) and, compared here, the scalar parameters, the bias
 * identity, and the bits of the weight scales / zero points and of the bias values
 * (copies: a bias freed and another allocated at its address must not match). */
enum { MODE_QCHAN = 5 };

typedef struct {
  int64_t count, wcount;
  uint64_t params[5];
  bool has_bias;
  float *bias, *wscale, *rscale; /* [count], [wcount], [count] */
  int32_t *wzp_src, *wzp, *qbias;
} qchan_entry;

static void qchan_entry_destroy(void *obj) {
  qchan_entry *e = obj;
  if (!e)
    return;
  free(e->bias);
  free(e->wscale);
  free(e->rscale);
  free(e->wzp_src);
  free(e->wzp);
  free(e->qbias);
  free(e);
}

static uint64_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* Whether e was derived from exactly these inputs (params: see qchan_make). */
static bool qchan_entry_matches(const qchan_entry *e, const uint64_t *params, const ptl_tensor *w,
                                const float *bias) {
  size_t n = (size_t)e->count, nw = (size_t)e->wcount;
  return memcmp(e->params, params, sizeof e->params) == 0 && e->has_bias == (bias != NULL) &&
         memcmp(e->wscale, w->qparams->scale, nw * sizeof(float)) == 0 &&
         memcmp(e->wzp_src, w->qparams->zero_point, nw * sizeof(int32_t)) == 0 &&
         (!bias || memcmp(e->bias, bias, n * sizeof(float)) == 0);
}

/* Stores q's arrays and their inputs in e (sizes fixed by the key). */
static void qchan_entry_fill(qchan_entry *e, const uint64_t *params, const ptl_tensor *w,
                             const float *bias, const qchan *q) {
  size_t n = (size_t)e->count, nw = (size_t)e->wcount;
  memcpy(e->params, params, sizeof e->params);
  e->has_bias = bias != NULL;
  if (bias)
    memcpy(e->bias, bias, n * sizeof(float));
  memcpy(e->wscale, w->qparams->scale, nw * sizeof(float));
  memcpy(e->wzp_src, w->qparams->zero_point, nw * sizeof(int32_t));
  memcpy(e->rscale, q->rscale, n * sizeof(float));
  memcpy(e->wzp, q->wzp, n * sizeof(int32_t));
  memcpy(e->qbias, q->qbias, n * sizeof(int32_t));
}

static qchan_entry *qchan_entry_new(int64_t count, int64_t wcount) {
  qchan_entry *e = calloc(1, sizeof *e);
  size_t n = (size_t)(count > 0 ? count : 1), nw = (size_t)(wcount > 0 ? wcount : 1);
  if (!e)
    return NULL;
  e->count = count;
  e->wcount = wcount;
  e->bias = malloc(n * sizeof(float));
  e->wscale = malloc(nw * sizeof(float));
  e->rscale = malloc(n * sizeof(float));
  e->wzp_src = malloc(nw * sizeof(int32_t));
  e->wzp = malloc(n * sizeof(int32_t));
  e->qbias = malloc(n * sizeof(int32_t));
  if (!e->bias || !e->wscale || !e->rscale || !e->wzp_src || !e->wzp || !e->qbias) {
    qchan_entry_destroy(e);
    return NULL;
  }
  return e;
}

/* Output scale / zero point / clamp attributes and the derived per-channel quantities
 * (from the weight's cache when nothing they depend on changed). */
static ptl_status qchan_make(const ptl_call *call, int64_t o, bool relu, int64_t qmax_attr,
                             int64_t ozp_attr, double oscale_attr, qchan *q) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0];
  ptl_tensor *w = call->in[1];
  const ptl_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  memset(q, 0, sizeof *q);
  if (ozp_attr < 0 || ozp_attr > 255)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: output zero_point %lld is out of range for quint8 [0, 255]", op,
                     (long long)ozp_attr);
  if (qmax_attr < (relu ? ozp_attr : 0) || qmax_attr > 255)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: output clamp maximum %lld is out of range: expected [%lld, 255] (the "
                     "output floor is %lld)",
                     op, (long long)qmax_attr, (long long)(relu ? ozp_attr : 0),
                     (long long)(relu ? ozp_attr : 0));
  q->count = o;
  q->oscale = (float)oscale_attr;
  q->ozp = (int32_t)ozp_attr;
  q->qmin = relu ? q->ozp : 0;
  q->qmax = (int32_t)qmax_attr;
  q->xzp = x->qparams->zero_point[0];
  q->per_channel = w->qparams->count != 1;
  /* the bias values are compared as one dense array: other biases are not cached */
  const float *bias = b ? ptl_tensor_data(b) : NULL;
  bool cacheable = !b || o <= 1 || b->strides[0] == 1;
  if (!cacheable)
    return qchan_compute(call, o, oscale_attr, q);
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = (uint64_t)call->op | (uint64_t)MODE_QCHAN << 16;
  key[2] = (uint64_t)o;
  key[3] = (uint64_t)w->qparams->count;
  const uint64_t params[5] = {
      f32_bits(x->qparams->scale[0]) | (uint64_t)(uint32_t)q->xzp << 32,
      f32_bits(q->oscale) | (uint64_t)(uint32_t)q->ozp << 32,
      (uint64_t)(uint32_t)q->qmin | (uint64_t)(uint32_t)q->qmax << 32,
      (uint64_t)(uintptr_t)bias,
      b ? ptl_tensor_version(b) : 0,
  };
  qchan_entry *e = ptl_packed_find(w, key);
  if (e && qchan_entry_matches(e, params, w, bias)) {
    q->rscale = e->rscale;
    q->wzp = e->wzp;
    q->qbias = e->qbias;
    q->cached = true;
    return PTL_OK;
  }
  PTL_CHECK(qchan_compute(call, o, oscale_attr, q));
  if (!e) {
    e = qchan_entry_new(o, w->qparams->count);
    if (!e || ptl_packed_add(w, key, e, qchan_entry_destroy) != PTL_OK)
      return PTL_OK; /* not cached: this call still has its own arrays */
  }
  qchan_entry_fill(e, params, w, bias, q);
  return PTL_OK;
}

/* Validates a (transposed) convolution in torch's order; messages like torch's. */
static ptl_status conv_parse(const ptl_call *call, qgeom *g) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_attrs *a = call->attrs;
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  memset(g, 0, sizeof *g);
  g->transposed = call->op == PTL_OP_QCONV_TRANSPOSE2D;
  if (x->ndim != 4)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: Expected activation tensor to have 4 dimensions, got %d (input of size "
                     "%s)",
                     op, (int)x->ndim, ptl_shape_str(x, b1, sizeof b1));
  if (w->ndim != 4)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: expected weight to be 4-dimensional to match the 4-dimensional input, "
                     "but got weight of size %s",
                     op, ptl_shape_str(w, b1, sizeof b1));
  g->n = x->shape[0];
  g->c = x->shape[1];
  g->h = x->shape[2];
  g->w = x->shape[3];
  g->kh = w->shape[2];
  g->kw = w->shape[3];
  g->sh = attr_i(a, 0, 1);
  g->sw = attr_i(a, 1, 1);
  g->pt = attr_i(a, 2, 0);
  g->pl = attr_i(a, 3, 0);
  if (g->transposed) {
    g->oph = attr_i(a, 4, 0);
    g->opw = attr_i(a, 5, 0);
    g->dh = attr_i(a, 6, 1);
    g->dw = attr_i(a, 7, 1);
    g->groups = attr_i(a, 8, 1);
  } else {
    g->dh = attr_i(a, 4, 1);
    g->dw = attr_i(a, 5, 1);
    g->groups = attr_i(a, 6, 1);
  }
  if (g->sh <= 0 || g->sw <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: non-positive stride is not supported (got [%lld, %lld])", op,
                     (long long)g->sh, (long long)g->sw);
  if (g->pt < 0 || g->pl < 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: negative padding is not supported (got [%lld, %lld])", op,
                     (long long)g->pt, (long long)g->pl);
  if (g->oph < 0 || g->opw < 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: negative output_padding is not supported (got [%lld, %lld])", op,
                     (long long)g->oph, (long long)g->opw);
  if (g->dh <= 0 || g->dw <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: dilation should be greater than zero, but got [%lld, %lld]", op,
                     (long long)g->dh, (long long)g->dw);
  if (g->groups <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: non-positive groups is not supported (got %lld)", op,
                     (long long)g->groups);
  if (!g->transposed) {
    if (w->shape[0] % g->groups != 0 || w->shape[0] < g->groups)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Given groups=%lld, expected weight to be divisible by %lld at "
                       "dimension 0, but got weight of size %s instead",
                       op, (long long)g->groups, (long long)g->groups,
                       ptl_shape_str(w, b1, sizeof b1));
    g->o = w->shape[0];
    g->og = g->o / g->groups;
    g->ig = w->shape[1];
    if (g->c != g->ig * g->groups)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Given groups=%lld, weight of size %s, expected input%s to have %lld "
                       "channels, but got %lld channels instead",
                       op, (long long)g->groups, ptl_shape_str(w, b1, sizeof b1),
                       ptl_shape_str(x, b2, sizeof b2), (long long)(g->ig * g->groups),
                       (long long)g->c);
  } else {
    if (g->c != w->shape[0] || g->c % g->groups != 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Given transposed=1, groups=%lld, weight of size %s, expected input%s "
                       "to have %lld channels, but got %lld channels instead",
                       op, (long long)g->groups, ptl_shape_str(w, b1, sizeof b1),
                       ptl_shape_str(x, b2, sizeof b2), (long long)w->shape[0], (long long)g->c);
    g->ig = g->c / g->groups;
    g->og = w->shape[1];
    g->o = g->og * g->groups;
  }
  int64_t ekh = g->dh * (g->kh - 1) + 1, ekw = g->dw * (g->kw - 1) + 1;
  if (!g->transposed) {
    int64_t ph = g->h + 2 * g->pt, pw = g->w + 2 * g->pl;
    if (ph < ekh || pw < ekw)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Calculated padded input size per channel: (%lld x %lld). Kernel "
                       "size: (%lld x %lld). Kernel size can't be greater than actual input "
                       "size (input %s, weight %s)",
                       op, (long long)ph, (long long)pw, (long long)ekh, (long long)ekw,
                       ptl_shape_str(x, b2, sizeof b2), ptl_shape_str(w, b1, sizeof b1));
    g->oh = (ph - ekh) / g->sh + 1;
    g->ow = (pw - ekw) / g->sw + 1;
  } else {
    /* torch's quantized deconvolution takes any output_padding (the float one wants it
     * below stride or dilation): the extra rows / columns get the bias only */
    g->oh = (g->h - 1) * g->sh - 2 * g->pt + ekh + g->oph;
    g->ow = (g->w - 1) * g->sw - 2 * g->pl + ekw + g->opw;
    if (g->oh <= 0 || g->ow <= 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Given input size per channel: (%lld x %lld). Calculated output size "
                       "per channel: (%lld x %lld). Output size is too small (input %s, weight "
                       "%s)",
                       op, (long long)g->h, (long long)g->w, (long long)g->oh, (long long)g->ow,
                       ptl_shape_str(x, b2, sizeof b2), ptl_shape_str(w, b1, sizeof b1));
  }
  /* per-channel transposed weights [I, O/g, kH, kW] are quantized along axis 1,
   * which only names every output channel once when groups == 1 */
  int waxis = g->transposed ? 1 : 0;
  if (g->transposed && w->qparams && w->qparams->count != 1 && g->groups != 1)
    return ptl_error(PTL_ERR_UNSUPPORTED,
                     "%s: per-channel quantized weights with groups=%lld are not supported", op,
                     (long long)g->groups);
  return check_operands(call, g->o, waxis);
}

static bool conv_relu(const ptl_call *call) {
  return call->op == PTL_OP_QCONV2D && attr_i(call->attrs, 7, 0) != 0;
}

/* QCONV2D version 2: i[9] the output clamp maximum (a fused relu6 / hardtanh). */
static int64_t conv_qmax(const ptl_call *call) {
  return call->op == PTL_OP_QCONV2D ? attr_i(call->attrs, 9, 255) : 255;
}

static int64_t conv_ozp(const ptl_call *call) {
  return attr_i(call->attrs, call->op == PTL_OP_QCONV2D ? 8 : 9, 0);
}

static double out_scale(const ptl_call *call) {
  return call->attrs->n_floats > 0 ? call->attrs->floats[0] : 1.0;
}

static ptl_status conv_prepare(const ptl_call *call, qgeom *g, qchan *q) {
  PTL_CHECK(conv_parse(call, g));
  PTL_CHECK(
      qchan_make(call, g->o, conv_relu(call), conv_qmax(call), conv_ozp(call), out_scale(call), q));
  ptl_status s = ptl_qparams_set_per_tensor(call->out[0], q->oscale, q->ozp);
  if (s != PTL_OK)
    qchan_free(q);
  return s;
}

/* Output: quint8 NCHW shape with channels-last memory, as torch's quantized convs
 * return it (and what XNNPACK writes), so conv chains never transpose. */
static ptl_status qconv_infer(const ptl_call *call, ptl_tensor_desc *out) {
  qgeom g;
  PTL_CHECK(conv_parse(call, &g));
  int64_t ozp = conv_ozp(call);
  if (ozp < 0 || ozp > 255)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: output zero_point %lld is out of range for quint8 [0, 255]",
                     ptl_op_name(call->op), (long long)ozp);
  out->dtype = PTL_QUINT8;
  out->ndim = 4;
  out->shape[0] = g.n;
  out->shape[1] = g.o;
  out->shape[2] = g.oh;
  out->shape[3] = g.ow;
  out->has_strides = true;
  ptl_channels_last_strides(out->shape, out->strides);
  return PTL_OK;
}

ptl_status ptl_qconv2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  return qconv_infer(call, out);
}

ptl_status ptl_qconv_transpose2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  return qconv_infer(call, out);
}

/* ---- reference kernels ---------------------------------------------------- */

typedef struct {
  const qgeom *g;
  const qchan *q;
  const uint8_t *x;
  const int8_t *w;
  uint8_t *y;
  int64_t xs[4], ws[4], ys[4];
} qref_ctx;

/* Exact int32 accumulation (wrapping like QNNPACK's): summed in int64 and
 * truncated, which is the same value modulo 2^32 without signed overflow. */
static inline uint8_t finish(const qchan *q, int64_t o, int64_t sum) {
  int32_t acc = (int32_t)(uint32_t)((uint64_t)sum + (uint64_t)(uint32_t)q->qbias[o]);
  if (!(fabsf((float)acc * q->rscale[o]) < 2147483648.0f))
    return (uint8_t)q->qmin; /* QNNPACK's cvtps overflow (see the top of the file) */
  return (uint8_t)ptl_requantize(acc, q->rscale[o], q->ozp, q->qmin, q->qmax);
}

/* One (n, o) output plane; taps in padding contribute (x_zp - x_zp) * w = 0. */
static void qconv2d_ref_plane(void *vctx, size_t idx) {
  const qref_ctx *r = vctx;
  const qgeom *g = r->g;
  int64_t n = (int64_t)idx / g->o, o = (int64_t)idx % g->o;
  int64_t grp = o / g->og;
  const uint8_t *xn = r->x + n * r->xs[0] + grp * g->ig * r->xs[1];
  const int8_t *wo = r->w + o * r->ws[0];
  int32_t xzp = r->q->xzp, wzp = r->q->wzp[o];
  uint8_t *yo = r->y + n * r->ys[0] + o * r->ys[1];
  for (int64_t oy = 0; oy < g->oh; oy++) {
    for (int64_t ox = 0; ox < g->ow; ox++) {
      int64_t sum = 0;
      for (int64_t ci = 0; ci < g->ig; ci++) {
        const uint8_t *xc = xn + ci * r->xs[1];
        const int8_t *wc = wo + ci * r->ws[1];
        for (int64_t ky = 0; ky < g->kh; ky++) {
          int64_t iy = oy * g->sh - g->pt + ky * g->dh;
          if (iy < 0 || iy >= g->h)
            continue;
          for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t ix = ox * g->sw - g->pl + kx * g->dw;
            if (ix < 0 || ix >= g->w)
              continue;
            sum += (int64_t)((int32_t)xc[iy * r->xs[2] + ix * r->xs[3]] - xzp) *
                   ((int32_t)wc[ky * r->ws[2] + kx * r->ws[3]] - wzp);
          }
        }
      }
      yo[oy * r->ys[2] + ox * r->ys[3]] = finish(r->q, o, sum);
    }
  }
}

/* Transposed conv as a gather: output (y, x) takes input (iy, ix) through tap
 * (ky, kx) when y + pad - ky * dilation == iy * stride. */
static void qconv_transpose2d_ref_plane(void *vctx, size_t idx) {
  const qref_ctx *r = vctx;
  const qgeom *g = r->g;
  int64_t n = (int64_t)idx / g->o, o = (int64_t)idx % g->o;
  int64_t grp = o / g->og, oc = o % g->og;
  int32_t xzp = r->q->xzp, wzp = r->q->wzp[o];
  uint8_t *yo = r->y + n * r->ys[0] + o * r->ys[1];
  for (int64_t oy = 0; oy < g->oh; oy++) {
    for (int64_t ox = 0; ox < g->ow; ox++) {
      int64_t sum = 0;
      for (int64_t ci = 0; ci < g->ig; ci++) {
        int64_t ic = grp * g->ig + ci;
        const uint8_t *xc = r->x + n * r->xs[0] + ic * r->xs[1];
        const int8_t *wc = r->w + ic * r->ws[0] + oc * r->ws[1];
        for (int64_t ky = 0; ky < g->kh; ky++) {
          int64_t ty = oy + g->pt - ky * g->dh;
          if (ty < 0 || ty % g->sh != 0 || ty / g->sh >= g->h)
            continue;
          int64_t iy = ty / g->sh;
          for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t tx = ox + g->pl - kx * g->dw;
            if (tx < 0 || tx % g->sw != 0 || tx / g->sw >= g->w)
              continue;
            sum += (int64_t)((int32_t)xc[iy * r->xs[2] + (tx / g->sw) * r->xs[3]] - xzp) *
                   ((int32_t)wc[ky * r->ws[2] + kx * r->ws[3]] - wzp);
          }
        }
      }
      yo[oy * r->ys[2] + ox * r->ys[3]] = finish(r->q, o, sum);
    }
  }
}

static ptl_status qconv_ref_common(const ptl_call *call, void (*plane)(void *, size_t)) {
  qgeom g;
  qchan q;
  PTL_CHECK(conv_prepare(call, &g, &q));
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  ptl_tensor *y = call->out[0];
  qref_ctx r = {&g, &q, ptl_tensor_data(x), ptl_tensor_data(w), ptl_tensor_data(y), {0}, {0}, {0}};
  memcpy(r.xs, x->strides, sizeof r.xs);
  memcpy(r.ws, w->strides, sizeof r.ws);
  memcpy(r.ys, y->strides, sizeof r.ys);
  size_t planes = (size_t)(g.n * g.o);
  /* planes are independent and each is exact integer arithmetic: any thread count
   * gives the same bits */
  if (planes > 0 && g.oh * g.ow > 0)
    ptl_parallel_for(plane, &r, planes);
  qchan_free(&q);
  return PTL_OK;
}

ptl_status ptl_qconv2d_ref(const ptl_call *call) {
  return qconv_ref_common(call, qconv2d_ref_plane);
}

ptl_status ptl_qconv_transpose2d_ref(const ptl_call *call) {
  return qconv_ref_common(call, qconv_transpose2d_ref_plane);
}

/* ---- linear --------------------------------------------------------------- */

typedef struct {
  int64_t m, k, n; /* rows, input features, output features */
} lgeom;

static ptl_status linear_parse(const ptl_call *call, lgeom *g) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  if (x->ndim < 2) /* torch's qnnpack linear takes no 1-d input either */
    return ptl_error(PTL_ERR_SHAPE, "%s: Input tensor rank should be >= 2, got input of size %s",
                     op, ptl_shape_str(x, b1, sizeof b1));
  if (w->ndim != 2)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: expected a 2-dimensional weight [out_features, in_features], got %s", op,
                     ptl_shape_str(w, b1, sizeof b1));
  g->k = x->shape[x->ndim - 1];
  g->n = w->shape[0];
  g->m = ptl_numel_of(x->ndim - 1, x->shape);
  if (w->shape[1] != g->k)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: input size does not match weight dimension 1 size: got %lld but "
                     "expected %lld (input %s, weight %s)",
                     op, (long long)g->k, (long long)w->shape[1], ptl_shape_str(x, b1, sizeof b1),
                     ptl_shape_str(w, b2, sizeof b2));
  return check_operands(call, g->n, 0);
}

ptl_status ptl_qlinear_infer(const ptl_call *call, ptl_tensor_desc *out) {
  lgeom g;
  PTL_CHECK(linear_parse(call, &g));
  int64_t ozp = attr_i(call->attrs, 1, 0);
  if (ozp < 0 || ozp > 255)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: output zero_point %lld is out of range for quint8 [0, 255]",
                     ptl_op_name(call->op), (long long)ozp);
  const ptl_tensor *x = call->in[0];
  out->dtype = PTL_QUINT8;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  out->shape[x->ndim - 1] = g.n;
  return PTL_OK;
}

static ptl_status linear_prepare(const ptl_call *call, lgeom *g, qchan *q) {
  PTL_CHECK(linear_parse(call, g));
  PTL_CHECK(qchan_make(call, g->n, attr_i(call->attrs, 0, 0) != 0, attr_i(call->attrs, 2, 255),
                       attr_i(call->attrs, 1, 0), out_scale(call), q));
  ptl_status s = ptl_qparams_set_per_tensor(call->out[0], q->oscale, q->ozp);
  if (s != PTL_OK)
    qchan_free(q);
  return s;
}

/* Element offset of row `m` (flat index over all dims but the last) of t. */
static int64_t row_offset(const ptl_tensor *t, int64_t m) {
  int64_t off = 0;
  for (int d = t->ndim - 2; d >= 0; d--) {
    int64_t s = t->shape[d];
    off += (m % s) * t->strides[d];
    m /= s;
  }
  return off;
}

typedef struct {
  const lgeom *g;
  const qchan *q;
  const ptl_tensor *x, *w, *y;
} lref_ctx;

static void qlinear_ref_row(void *vctx, size_t idx) {
  const lref_ctx *r = vctx;
  const lgeom *g = r->g;
  int64_t m = (int64_t)idx;
  const uint8_t *xr = (const uint8_t *)ptl_tensor_data(r->x) + row_offset(r->x, m);
  uint8_t *yr = (uint8_t *)ptl_tensor_data(r->y) + row_offset(r->y, m);
  const int8_t *wd = ptl_tensor_data(r->w);
  int64_t xk = r->x->strides[r->x->ndim - 1], yn = r->y->strides[r->y->ndim - 1];
  int64_t w0 = r->w->strides[0], w1 = r->w->strides[1];
  int32_t xzp = r->q->xzp;
  for (int64_t j = 0; j < g->n; j++) {
    int32_t wzp = r->q->wzp[j];
    int64_t sum = 0;
    for (int64_t k = 0; k < g->k; k++)
      sum += (int64_t)((int32_t)xr[k * xk] - xzp) * ((int32_t)wd[j * w0 + k * w1] - wzp);
    yr[j * yn] = finish(r->q, j, sum);
  }
}

ptl_status ptl_qlinear_ref(const ptl_call *call) {
  lgeom g;
  qchan q;
  PTL_CHECK(linear_prepare(call, &g, &q));
  lref_ctx r = {&g, &q, call->in[0], call->in[1], call->out[0]};
  if (g.m > 0 && g.n > 0)
    ptl_parallel_for(qlinear_ref_row, &r, (size_t)g.m);
  qchan_free(&q);
  return PTL_OK;
}

/* ---- XNNPACK fast paths -----------------------------------------------------
 * Three flavours, chosen by the weight's quantization:
 *  - QU8: per-tensor weights. qint8 weights become uint8 by + 128 with kernel zero
 *    point w_zp + 128 (what QNNPACK itself does), activations go in as they are.
 *  - QC8: per-channel symmetric weights (every zero point 0). XNNPACK's qc8 ops
 *    take signed activations: quint8 x becomes qs8 x - 128 (x ^ 0x80) with zero
 *    point x_zp - 128 in a scratch copy, and the qs8 output goes back by ^ 0x80.
 *    Linear has no qc8 fully-connected op here: it runs as a 1x1 qc8 conv over
 *    an M x 1 image.
 *  - anything else (per-channel weights with nonzero zero points, per-channel
 *    transposed conv, requantization scales >= 256, ...) returns UNSUPPORTED and
 *    the reference kernel runs.
 * The operator is cached on the weight tensor; calls hold the Python GIL, so one
 * operator is never set up from two threads at once (C callers running one weight
 * on several threads must serialise, as for the float convs). */

enum { MODE_QU8 = 1, MODE_QC8 = 2 };

/* Below this many multiply-adds XNNPACK's setup and thread dispatch (about 1.5 us)
 * cost more than the reference loop; both give the same bits, so the choice is free. */
#define QFAST_MIN_MACS 1024

/* make_key's last words, which depend on the call's quantization (zero points, clamp,
 * bias identity, hash of the per-channel arrays); the rest name weight, op and geometry. */
enum { QOP_QWORDS = 5 };

typedef struct {
  xnn_operator_t op;
  int64_t count;
  float *rscale; /* what the operator was built from, checked on every hit */
  int32_t *qbias;
  int32_t *wzp;
  uint64_t qkey[QOP_QWORDS];
} packed_q;

static void packed_q_destroy(void *obj) {
  packed_q *p = obj;
  if (!p)
    return;
  if (p->op)
    xnn_delete_operator(p->op);
  free(p->rscale);
  free(p->qbias);
  free(p->wzp);
  free(p);
}

static bool packed_q_matches(const packed_q *p, const qchan *q) {
  size_t n = (size_t)q->count;
  return p->op && p->count == q->count && memcmp(p->rscale, q->rscale, n * sizeof(float)) == 0 &&
         memcmp(p->qbias, q->qbias, n * sizeof(int32_t)) == 0 &&
         memcmp(p->wzp, q->wzp, n * sizeof(int32_t)) == 0;
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t n) {
  const unsigned char *s = data;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* The key: weight version, op and mode, the given geometry words, zero points,
 * clamp floor, bias identity, and a hash of every per-channel scale / zero point /
 * bias bit pattern (the stored arrays are compared exactly on a hit as well). */
static int make_key(const ptl_call *call, int mode, const qchan *q, const int64_t *geo, int ngeo,
                    uint64_t *key) {
  const ptl_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  memset(key, 0, sizeof(uint64_t) * PTL_PACKED_KEY_WORDS);
  int k = 0;
  key[k++] = ptl_tensor_version(call->in[1]);
  key[k++] = (uint64_t)call->op | (uint64_t)mode << 16;
  for (int i = 0; i < ngeo && k < PTL_PACKED_KEY_WORDS - 6; i++)
    key[k++] = (uint64_t)geo[i];
  key[k++] = (uint64_t)(uint32_t)q->xzp | (uint64_t)(uint32_t)q->ozp << 32;
  key[k++] = (uint64_t)(uint32_t)q->qmin | (uint64_t)(uint32_t)q->qmax << 32;
  key[k++] = (uint64_t)(uintptr_t)(b ? ptl_tensor_data(b) : NULL);
  key[k++] = b ? ptl_tensor_version(b) : 0;
  uint64_t h = 1469598103934665603ull;
  h = hash_bytes(h, q->rscale, sizeof(float) * (size_t)q->count);
  h = hash_bytes(h, q->qbias, sizeof(int32_t) * (size_t)q->count);
  h = hash_bytes(h, q->wzp, sizeof(int32_t) * (size_t)q->count);
  key[k++] = h;
  return k; /* the last QOP_QWORDS words are the quantization's */
}

static ptl_status packed_q_new(const qchan *q, packed_q **out) {
  packed_q *p = calloc(1, sizeof *p);
  size_t n = (size_t)(q->count > 0 ? q->count : 1);
  if (p) {
    p->count = q->count;
    p->rscale = malloc(n * sizeof(float));
    p->qbias = malloc(n * sizeof(int32_t));
    p->wzp = malloc(n * sizeof(int32_t));
  }
  if (!p || !p->rscale || !p->qbias || !p->wzp) {
    packed_q_destroy(p);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory caching a quantized operator");
  }
  memcpy(p->rscale, q->rscale, n * sizeof(float));
  memcpy(p->qbias, q->qbias, n * sizeof(int32_t));
  memcpy(p->wzp, q->wzp, n * sizeof(int32_t));
  *out = p;
  return PTL_OK;
}

/* Which XNNPACK flavour can run these quantization parameters (0: none). */
static int pick_mode(const qchan *q, int64_t k, bool allow_qc8) {
  for (int64_t c = 0; c < q->count; c++) {
    if (!(q->rscale[c] < 256.0f)) /* XNNPACK's requantization scale limit */
      return 0;
    /* |acc| <= |bias| + k * 255 * 255 (|x - x_zp| <= 255, |w - w_zp| <= 255): past
     * 2^31 after scaling, the reference's QNNPACK overflow rule applies instead (and
     * int32 wrapping is possible); 2^30 leaves room for float rounding of the bound */
    double bound = fabs((double)q->qbias[c]) + (double)k * 65025.0;
    if (bound * (double)q->rscale[c] >= 1073741824.0)
      return 0;
  }
  if (!q->per_channel)
    return MODE_QU8;
  if (!allow_qc8)
    return 0;
  for (int64_t c = 0; c < q->count; c++)
    if (q->wzp[c] != 0)
      return 0;
  return MODE_QC8;
}

/* d[i] = s[i] ^ flip (d == s allowed): a plain loop the compiler vectorises. */
static void flip_copy(uint8_t *d, const uint8_t *s, size_t n, uint8_t flip) {
  if (!flip) {
    if (d != s)
      memcpy(d, s, n);
    return;
  }
  for (size_t i = 0; i < n; i++)
    d[i] = s[i] ^ flip;
}

/* Dense NHWC copy of a 4-d uint8 tensor with any strides; `flip` xors 0x80
 * (quint8 -> qs8). Returns a malloc'd buffer. */
static uint8_t *nhwc_copy(const ptl_tensor *t, uint8_t flip) {
  int64_t N = t->shape[0], C = t->shape[1], H = t->shape[2], W = t->shape[3];
  uint8_t *d = malloc((size_t)(N * C * H * W) + 16);
  if (!d)
    return NULL;
  const uint8_t *s = ptl_tensor_data(t);
  const int64_t *st = t->strides;
  if (ptl_tensor_nhwc_pixel_stride(t) == C) { /* dense NHWC: one (vectorised) pass */
    flip_copy(d, s, (size_t)(N * C * H * W), flip);
    return d;
  }
  uint8_t *p = d;
  for (int64_t n = 0; n < N; n++)
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) {
        const uint8_t *px = s + n * st[0] + y * st[2] + x * st[3];
        if (st[1] == 1 && !flip) {
          memcpy(p, px, (size_t)C);
          p += C;
        } else {
          for (int64_t c = 0; c < C; c++)
            *p++ = px[c * st[1]] ^ flip;
        }
      }
  return d;
}

/* Weights in XNNPACK's [groups][group out][kH][kW][group in] order, as uint8
 * (qu8: + 128) or int8 (qc8: as they are). */
static uint8_t *repack_conv_weights(const ptl_tensor *w, const qgeom *g, uint8_t add) {
  uint8_t *buf = malloc((size_t)(g->o * g->kh * g->kw * g->ig) + 16);
  if (!buf)
    return NULL;
  const int8_t *s = ptl_tensor_data(w);
  const int64_t *st = w->strides;
  size_t k = 0;
  for (int64_t grp = 0; grp < g->groups; grp++)
    for (int64_t j = 0; j < g->og; j++)
      for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++)
          for (int64_t ci = 0; ci < g->ig; ci++) {
            /* conv: w[O, I/g, kH, kW]; transposed: w[I, O/g, kH, kW] */
            int64_t i0 = g->transposed ? grp * g->ig + ci : grp * g->og + j;
            int64_t i1 = g->transposed ? j : ci;
            buf[k++] =
                (uint8_t)((uint8_t)s[i0 * st[0] + i1 * st[1] + ky * st[2] + kx * st[3]] + add);
          }
  return buf;
}

static ptl_status create_conv_op(const ptl_call *call, const qgeom *g, const qchan *q, int mode,
                                 int64_t in_pix, int64_t out_pix, packed_q *p) {
  uint8_t *wbuf = repack_conv_weights(call->in[1], g, mode == MODE_QU8 ? 128 : 0);
  if (!wbuf)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory repacking weights",
                     ptl_op_name(call->op));
  enum xnn_status st;
  if (mode == MODE_QC8) {
    st = xnn_create_convolution2d_nhwc_qc8(
        (uint32_t)g->pt, (uint32_t)g->pl, (uint32_t)g->pt, (uint32_t)g->pl, (uint32_t)g->kh,
        (uint32_t)g->kw, (uint32_t)g->sh, (uint32_t)g->sw, (uint32_t)g->dh, (uint32_t)g->dw,
        (uint32_t)g->groups, (size_t)g->ig, (size_t)g->og, (size_t)in_pix, (size_t)out_pix,
        (int8_t)(q->xzp - 128), 1.0f, q->rscale, (const int8_t *)wbuf, q->qbias,
        (int8_t)(q->ozp - 128), 1.0f, (int8_t)(q->qmin - 128), (int8_t)(q->qmax - 128), 0, &p->op);
  } else if (!g->transposed) {
    st = xnn_create_convolution2d_nhwc_qu8(
        (uint32_t)g->pt, (uint32_t)g->pl, (uint32_t)g->pt, (uint32_t)g->pl, (uint32_t)g->kh,
        (uint32_t)g->kw, (uint32_t)g->sh, (uint32_t)g->sw, (uint32_t)g->dh, (uint32_t)g->dw,
        (uint32_t)g->groups, (size_t)g->ig, (size_t)g->og, (size_t)in_pix, (size_t)out_pix,
        (uint8_t)q->xzp, q->rscale[0], (uint8_t)(q->wzp[0] + 128), 1.0f, wbuf, q->qbias,
        (uint8_t)q->ozp, 1.0f, (uint8_t)q->qmin, (uint8_t)q->qmax, 0, &p->op);
  } else {
    st = xnn_create_deconvolution2d_nhwc_qu8(
        (uint32_t)g->pt, (uint32_t)g->pl, (uint32_t)g->pt, (uint32_t)g->pl, (uint32_t)g->kh,
        (uint32_t)g->kw, (uint32_t)g->sh, (uint32_t)g->sw, (uint32_t)g->dh, (uint32_t)g->dw,
        (uint32_t)g->groups, (size_t)g->ig, (size_t)g->og, (size_t)in_pix, (size_t)out_pix,
        (uint8_t)q->xzp, q->rscale[0], (uint8_t)(q->wzp[0] + 128), 1.0f, wbuf, q->qbias,
        (uint8_t)q->ozp, 1.0f, (uint8_t)q->qmin, (uint8_t)q->qmax, 0, &p->op);
  }
  free(wbuf); /* XNNPACK packed its own copy */
  if (st != xnn_status_success) {
    p->op = NULL;
    return PTL_ERR_UNSUPPORTED;
  }
  return PTL_OK;
}

/* Installs a freshly created operator `np` (creation status `s`) in the weight's cache.
 * When `p` holds the same key with different values (a hash collision or a reused bias
 * address), its contents are replaced in place so pointers to it stay valid. */
static ptl_status packed_q_install(ptl_tensor *w, const uint64_t *key, packed_q *p, packed_q *np,
                                   int64_t count, ptl_status s, packed_q **out) {
  if (s != PTL_OK) {
    packed_q_destroy(np);
    return s;
  }
  if (p) {
    xnn_operator_t old = p->op;
    p->op = np->op;
    np->op = old;
    memcpy(p->rscale, np->rscale, sizeof(float) * (size_t)count);
    memcpy(p->qbias, np->qbias, sizeof(int32_t) * (size_t)count);
    memcpy(p->wzp, np->wzp, sizeof(int32_t) * (size_t)count);
    memcpy(p->qkey, np->qkey, sizeof p->qkey);
    packed_q_destroy(np);
    *out = p;
    return PTL_OK;
  }
  s = ptl_packed_add(w, key, np, packed_q_destroy);
  if (s != PTL_OK)
    return s;
  *out = np;
  return PTL_OK;
}

/* XNNPACK operators bake in the quantization, so a weight run with other scales or zero
 * points needs another operator. At most QOP_SLOTS are kept per weight, op and geometry
 * (a weight called with ever new scales would otherwise grow the cache without bound):
 * key (from make_key, nk words) becomes the slot's key, its quantization words replaced by
 * the slot number, and qkey gets those words. True with *p the operator when a slot holds
 * this quantization; false with *p the slot to rebuild in place (NULL: a free slot, whose
 * key is in key) otherwise. */
enum { QOP_SLOTS = 4 };
static bool find_op_slot(const ptl_call *call, const qchan *q, int nk, uint64_t *key,
                         uint64_t *qkey, packed_q **p) {
  ptl_tensor *w = call->in[1];
  memcpy(qkey, key + nk - QOP_QWORDS, sizeof(uint64_t) * QOP_QWORDS);
  memset(key + nk - QOP_QWORDS, 0, sizeof(uint64_t) * QOP_QWORDS);
  int free_slot = -1;
  for (int slot = 0; slot < QOP_SLOTS; slot++) {
    key[nk - QOP_QWORDS] = (uint64_t)slot + 1;
    packed_q *e = ptl_packed_find(w, key);
    if (!e) {
      if (free_slot < 0)
        free_slot = slot;
    } else if (memcmp(e->qkey, qkey, sizeof(uint64_t) * QOP_QWORDS) == 0 &&
               packed_q_matches(e, q)) {
      *p = e;
      return true;
    }
  }
  /* a free slot, else the one the quantization's hash picks */
  int slot = free_slot >= 0 ? free_slot : (int)(qkey[QOP_QWORDS - 1] % QOP_SLOTS);
  key[nk - QOP_QWORDS] = (uint64_t)slot + 1;
  *p = ptl_packed_find(w, key);
  return false;
}

/* Finds or builds the cached operator; PTL_ERR_UNSUPPORTED when XNNPACK refuses. */
static ptl_status get_conv_op(const ptl_call *call, const qgeom *g, const qchan *q, int mode,
                              int64_t in_pix, int64_t out_pix, packed_q **out) {
  int64_t geo[] = {g->kh, g->kw,     g->sh, g->sw, g->pt,  g->pl,  g->dh,
                   g->dw, g->groups, g->ig, g->og, in_pix, out_pix};
  uint64_t key[PTL_PACKED_KEY_WORDS], qkey[QOP_QWORDS];
  packed_q *p = NULL;
  if (find_op_slot(call, q, make_key(call, mode, q, geo, (int)(sizeof geo / sizeof geo[0]), key),
                   key, qkey, &p)) {
    *out = p;
    return PTL_OK;
  }
  packed_q *np = NULL;
  PTL_CHECK(packed_q_new(q, &np));
  memcpy(np->qkey, qkey, sizeof qkey);
  ptl_status s = create_conv_op(call, g, q, mode, in_pix, out_pix, np);
  return packed_q_install(call->in[1], key, p, np, q->count, s, out);
}

static bool geom_fits_u32(const qgeom *g) {
  const int64_t v[] = {g->kh, g->kw, g->pt, g->pl, g->sh, g->sw, g->dh, g->dw, g->groups};
  for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
    if (v[i] > (int64_t)UINT32_MAX)
      return false;
  return true;
}

/* Writes a dense NHWC buffer into a 4-d tensor with any strides (^ flip). */
static void nhwc_store(ptl_tensor *t, const uint8_t *src, uint8_t flip) {
  int64_t N = t->shape[0], C = t->shape[1], H = t->shape[2], W = t->shape[3];
  uint8_t *d = ptl_tensor_data(t);
  const int64_t *st = t->strides;
  if (ptl_tensor_nhwc_pixel_stride(t) == C) {
    flip_copy(d, src, (size_t)(N * C * H * W), flip);
    return;
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++)
        for (int64_t c = 0; c < C; c++)
          d[n * st[0] + c * st[1] + y * st[2] + x * st[3]] = *src++ ^ flip;
}

/* ---- own AVX2 u8 x s8 path (qgemm_avx2.c) -----------------------------------
 * Dense convs and linear with symmetric weights (every zero point 0) and x_zp <= 127
 * run on vpmaddubsw, exact while activations are <= 127 (torch's x86 / fbgemm
 * qconfigs: reduce_range), about twice the rate of XNNPACK's qu8 / qc8 kernels. The
 * few activations above 127 that inputs past the calibrated range give are clamped
 * and their remainder added exactly per output pixel; ptl_qgemm_conv declines
 * (UNSUPPORTED) when there are too many of them (activations quantized to 0..255) and
 * the XNNPACK path below runs. Same arithmetic as the reference, same bits. */

enum { MODE_QGEMM = 3 };

/* Symmetric weights, and every accumulator provably far from the QNNPACK overflow
 * rule and from int32 wrapping: |acc| <= |bias| + K * 255 * 128 (|x - x_zp| <= 255,
 * |w| <= 128), with the same 2^30 margin as pick_mode. */
static bool qgemm_quant_ok(const qchan *q, int64_t k) {
  if (q->xzp < 0 || q->xzp > 127)
    return false;
  for (int64_t c = 0; c < q->count; c++) {
    if (q->wzp[c] != 0)
      return false;
    double bound = fabs((double)q->qbias[c]) + (double)k * (255.0 * 128.0);
    if (bound >= 2147483647.0 || bound * (double)q->rscale[c] >= 1073741824.0)
      return false;
  }
  return true;
}

/* The int8 weight (call->in[1], any strides) as dense [o][kh][kw][c] bytes for the own
 * kernels' packers: a conv weight [O, C, kH, kW] (a depthwise one with C = 1) or a linear
 * weight [N, K] (kh = kw = 1). *out is malloc'ed, freed by the caller. */
static ptl_status dense_weights(const ptl_call *call, int64_t o, int64_t kh, int64_t kw, int64_t c,
                                int8_t **out) {
  const ptl_tensor *w = call->in[1];
  int8_t *buf = malloc((size_t)(o * kh * kw * c) + 16);
  if (!buf)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory packing weights",
                     ptl_op_name(call->op));
  const int8_t *s = ptl_tensor_data(w);
  const int64_t *st = w->strides;
  size_t i = 0;
  for (int64_t n = 0; n < o; n++)
    for (int64_t ky = 0; ky < kh; ky++)
      for (int64_t kx = 0; kx < kw; kx++)
        for (int64_t ch = 0; ch < c; ch++)
          buf[i++] = w->ndim == 4 ? s[n * st[0] + ch * st[1] + ky * st[2] + kx * st[3]]
                                  : s[n * st[0] + ch * st[1]];
  *out = buf;
  return PTL_OK;
}

/* The packed weights, cached on the weight tensor: they depend on the weight bits and
 * the packing layout only (bias, scales and zero points are applied per call). */
static ptl_status get_qgemm_pack(const ptl_call *call, const ptl_qgemm_geom *qg,
                                 ptl_qgemm_packed **out) {
  ptl_tensor *w = call->in[1];
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = (uint64_t)call->op | (uint64_t)MODE_QGEMM << 16;
  key[2] = (uint64_t)qg->o;
  key[3] = (uint64_t)qg->c;
  key[4] = (uint64_t)qg->kh;
  key[5] = (uint64_t)qg->kw;
  key[6] = ptl_qgemm_layout(qg);
  ptl_qgemm_packed *p = ptl_packed_find(w, key);
  if (p) {
    *out = p;
    return PTL_OK;
  }
  int8_t *buf = NULL;
  PTL_CHECK(dense_weights(call, qg->o, qg->kh, qg->kw, qg->c, &buf));
  ptl_status r = ptl_qgemm_pack(qg, buf, &p);
  free(buf);
  if (r != PTL_OK)
    return r;
  r = ptl_packed_add(w, key, p, ptl_qgemm_packed_destroy);
  if (r != PTL_OK)
    return r;
  *out = p;
  return PTL_OK;
}

/* Both own kernels read NHWC pixels with a pixel stride and write them the same way: a
 * tensor that is not NHWC-strided is staged through a dense copy (input) or a scratch
 * buffer stored back after the run (output). */
typedef struct {
  const uint8_t *x;
  uint8_t *y;
  int64_t in_pix, out_pix;
  uint8_t *xbuf, *ybuf;
} nhwc_io;

/* any_input: the kernel reads the input with any strides itself (no staging copy). */
static ptl_status nhwc_io_begin(const ptl_call *call, int64_t in_c, int64_t out_c, bool any_input,
                                nhwc_io *io) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  *io = (nhwc_io){ptl_tensor_data(x),
                  ptl_tensor_data(y),
                  any_input ? 0 : ptl_tensor_nhwc_pixel_stride(x),
                  ptl_tensor_nhwc_pixel_stride(y),
                  NULL,
                  NULL};
  if (!io->in_pix && !any_input) {
    io->xbuf = nhwc_copy(x, 0);
    io->x = io->xbuf;
    io->in_pix = in_c;
  }
  if (!io->out_pix) {
    io->ybuf = malloc((size_t)ptl_tensor_numel(y) + 16);
    io->y = io->ybuf;
    io->out_pix = out_c;
  }
  if (!io->x || !io->y) {
    free(io->xbuf);
    free(io->ybuf);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
  }
  return PTL_OK;
}

static ptl_status nhwc_io_end(const ptl_call *call, nhwc_io *io, ptl_status s) {
  if (s == PTL_OK && io->ybuf)
    nhwc_store(call->out[0], io->ybuf, 0);
  free(io->xbuf);
  free(io->ybuf);
  return s;
}

/* PTL_OK when done, PTL_ERR_UNSUPPORTED to run another path, or an error. */
static ptl_status try_qgemm_conv(const ptl_call *call, const qgeom *g, const qchan *q) {
  ptl_qgemm_geom qg = {g->n,  g->h,  g->w,  g->c,  g->o,  g->kh, g->kw, g->sh,
                       g->sw, g->pt, g->pl, g->dh, g->dw, g->oh, g->ow};
  if (g->transposed || g->groups != 1 || !ptl_qgemm_available() || !ptl_qgemm_geom_ok(&qg) ||
      !qgemm_quant_ok(q, g->kh * g->kw * g->ig))
    return PTL_ERR_UNSUPPORTED;
  ptl_qgemm_packed *pk = NULL;
  PTL_CHECK(get_qgemm_pack(call, &qg, &pk));
  nhwc_io io;
  ptl_status s = nhwc_io_begin(call, g->c, g->o, true, &io);
  if (s != PTL_OK)
    return s;
  ptl_qgemm_quant qq = {q->xzp, q->ozp, q->qmin, q->qmax, q->qbias, q->rscale};
  const ptl_tensor *x = call->in[0];
  s = ptl_qgemm_conv_strided(pk, &qg, io.x, x->strides, &qq, io.y, io.out_pix);
  return nhwc_io_end(call, &io, s);
}

/* ---- own AVX2 depthwise path (qdw_avx2.c) -----------------------------------
 * groups == channels == output channels, dilation 1, symmetric weights: exact int16
 * vpmaddwd products on the quint8 input as it is (no ^0x80 copies), same arithmetic
 * and bits as the reference (interface in qdw.h). */

enum { MODE_QDW = 4 };

/* Symmetric weights and no accumulator near the QNNPACK overflow rule or int32
 * wrapping: |acc| <= |bias| + taps * 255 * 128, with pick_mode's 2^30 margin. */
static bool qdw_quant_ok(const qchan *q, int64_t taps) {
  for (int64_t c = 0; c < q->count; c++) {
    if (q->wzp[c] != 0)
      return false;
    double bound = fabs((double)q->qbias[c]) + (double)taps * (255.0 * 128.0);
    if (bound >= 2147483647.0 || bound * (double)q->rscale[c] >= 1073741824.0)
      return false;
  }
  return true;
}

/* Packed weights cached on the weight tensor (they depend on its bits and shape only). */
static ptl_status get_qdw_pack(const ptl_call *call, const qgeom *g, void **out) {
  ptl_tensor *w = call->in[1];
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = (uint64_t)call->op | (uint64_t)MODE_QDW << 16;
  key[2] = (uint64_t)g->c;
  key[3] = (uint64_t)g->kh;
  key[4] = (uint64_t)g->kw;
  void *p = ptl_packed_find(w, key);
  if (p) {
    *out = p;
    return PTL_OK;
  }
  int8_t *buf = NULL; /* [c][kh][kw]: the weight [C, 1, kH, kW] */
  PTL_CHECK(dense_weights(call, g->c, g->kh, g->kw, 1, &buf));
  p = ptl_qdw_pack(buf, g->c, g->kh, g->kw);
  free(buf);
  if (!p)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory packing weights",
                     ptl_op_name(call->op));
  ptl_status r = ptl_packed_add(w, key, p, ptl_qdw_packed_destroy);
  if (r != PTL_OK)
    return r;
  *out = p;
  return PTL_OK;
}

/* PTL_OK when done, PTL_ERR_UNSUPPORTED to run another path, or an error. */
static ptl_status try_qdw_conv(const ptl_call *call, const qgeom *g, const qchan *q) {
  if (g->transposed || g->groups != g->c || g->ig != 1 || g->og != 1 || g->dh != 1 || g->dw != 1 ||
      g->kh > 16 || !ptl_qdw_available() || !qdw_quant_ok(q, g->kh * g->kw))
    return PTL_ERR_UNSUPPORTED;
  void *pk = NULL;
  PTL_CHECK(get_qdw_pack(call, g, &pk));
  nhwc_io io;
  ptl_status s = nhwc_io_begin(call, g->c, g->o, false, &io);
  if (s != PTL_OK)
    return s;
  const int64_t qg[] = {g->n,  g->h,  g->w,  g->c,  g->kh, g->kw,
                        g->sh, g->sw, g->pt, g->pl, g->oh, g->ow};
  s = ptl_qdw_conv(pk, qg, io.x, io.in_pix, q->xzp, q->ozp, q->qmin, q->qmax, q->qbias, q->rscale,
                   io.y, io.out_pix);
  return nhwc_io_end(call, &io, s);
}

static ptl_status qconv_fast_common(const ptl_call *call) {
  qgeom g;
  qchan q;
  PTL_CHECK(conv_prepare(call, &g, &q));
  ptl_tensor *x = call->in[0], *y = call->out[0];
  ptl_status s = PTL_OK;
  uint8_t *xbuf = NULL, *ybuf = NULL;
  if (ptl_tensor_numel(y) == 0)
    goto done;
  if (ptl_tensor_numel(y) * g.kh * g.kw * g.ig >= QFAST_MIN_MACS) {
    s = try_qgemm_conv(call, &g, &q);
    if (s == PTL_ERR_UNSUPPORTED)
      s = try_qdw_conv(call, &g, &q);
    if (s != PTL_ERR_UNSUPPORTED)
      goto done;
    s = PTL_OK;
  }
  int mode = pick_mode(&q, g.kh * g.kw * g.ig, !g.transposed);
  if (ptl_tensor_numel(y) * g.kh * g.kw * g.ig < QFAST_MIN_MACS)
    mode = 0;
  /* XNNPACK needs output adjustment < stride and at least one input channel */
  if (!mode || g.ig == 0 || !geom_fits_u32(&g) ||
      (g.transposed && (g.oph >= g.sh || g.opw >= g.sw)) || ptl_xnn_init() != PTL_OK) {
    s = PTL_ERR_UNSUPPORTED;
    goto done;
  }
  uint8_t flip = mode == MODE_QC8 ? 0x80 : 0;
  const uint8_t *xin = ptl_tensor_data(x);
  int64_t in_pix = flip ? 0 : ptl_tensor_nhwc_pixel_stride(x);
  if (!in_pix) {
    xbuf = nhwc_copy(x, flip);
    if (!xbuf) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
      goto done;
    }
    xin = xbuf;
    in_pix = g.c;
  }
  uint8_t *yout = ptl_tensor_data(y);
  /* qc8 writes qs8: straight into a dense NHWC output, flipped back in place after */
  int64_t out_pix = ptl_tensor_nhwc_pixel_stride(y);
  if (flip && out_pix != g.o)
    out_pix = 0;
  if (!out_pix) {
    ybuf = malloc((size_t)ptl_tensor_numel(y) + 16);
    if (!ybuf) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
      goto done;
    }
    yout = ybuf;
    out_pix = g.o;
  }
  packed_q *pk = NULL;
  s = get_conv_op(call, &g, &q, mode, in_pix, out_pix, &pk);
  if (s != PTL_OK)
    goto done;
  pthreadpool_t pool = (pthreadpool_t)ptl_threadpool();
  enum xnn_status st;
  if (mode == MODE_QC8)
    st = xnn_setup_convolution2d_nhwc_qc8(pk->op, (size_t)g.n, (size_t)g.h, (size_t)g.w,
                                          (const int8_t *)xin, (int8_t *)yout, pool);
  else if (!g.transposed)
    st = xnn_setup_convolution2d_nhwc_qu8(pk->op, (size_t)g.n, (size_t)g.h, (size_t)g.w, xin, yout,
                                          pool);
  else
    st = xnn_setup_deconvolution2d_nhwc_qu8(pk->op, (size_t)g.n, (size_t)g.h, (size_t)g.w,
                                            (uint32_t)g.oph, (uint32_t)g.opw, xin, yout, pool);
  if (st == xnn_status_success)
    st = xnn_run_operator(pk->op, pool);
  if (st != xnn_status_success) {
    s = ptl_error(PTL_ERR_INTERNAL, "%s: XNNPACK setup/run failed (status %d)",
                  ptl_op_name(call->op), (int)st);
    goto done;
  }
  if (ybuf)
    nhwc_store(y, ybuf, flip);
  else if (flip)
    flip_copy(yout, yout, (size_t)ptl_tensor_numel(y), flip);
done:
  free(xbuf);
  free(ybuf);
  qchan_free(&q);
  return s;
}

ptl_status ptl_qconv2d_fast(const ptl_call *call) {
  return qconv_fast_common(call);
}

ptl_status ptl_qconv_transpose2d_fast(const ptl_call *call) {
  return qconv_fast_common(call);
}

/* Linear: per-tensor weights on XNNPACK's qu8 fully-connected op; per-channel
 * symmetric weights as a 1x1 qc8 convolution over an [1, M, 1, K] NHWC image. */
static ptl_status create_linear_op(const ptl_call *call, const lgeom *g, const qchan *q, int mode,
                                   packed_q *p) {
  const ptl_tensor *w = call->in[1];
  uint8_t add = mode == MODE_QU8 ? 128 : 0;
  uint8_t *wbuf = malloc((size_t)(g->n * g->k) + 16);
  if (!wbuf)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory repacking weights",
                     ptl_op_name(call->op));
  const int8_t *s = ptl_tensor_data(w);
  for (int64_t j = 0; j < g->n; j++)
    for (int64_t k = 0; k < g->k; k++)
      wbuf[j * g->k + k] = (uint8_t)((uint8_t)s[j * w->strides[0] + k * w->strides[1]] + add);
  enum xnn_status st;
  if (mode == MODE_QU8)
    st = xnn_create_fully_connected_nc_qu8(
        (size_t)g->k, (size_t)g->n, (size_t)g->k, (size_t)g->n, (uint8_t)q->xzp, q->rscale[0],
        (uint8_t)(q->wzp[0] + 128), 1.0f, wbuf, q->qbias, (uint8_t)q->ozp, 1.0f, (uint8_t)q->qmin,
        (uint8_t)q->qmax, 0, &p->op);
  else
    st = xnn_create_convolution2d_nhwc_qc8(
        0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, (size_t)g->k, (size_t)g->n, (size_t)g->k, (size_t)g->n,
        (int8_t)(q->xzp - 128), 1.0f, q->rscale, (const int8_t *)wbuf, q->qbias,
        (int8_t)(q->ozp - 128), 1.0f, (int8_t)(q->qmin - 128), (int8_t)(q->qmax - 128), 0, &p->op);
  free(wbuf);
  if (st != xnn_status_success) {
    p->op = NULL;
    return PTL_ERR_UNSUPPORTED;
  }
  return PTL_OK;
}

static ptl_status get_linear_op(const ptl_call *call, const lgeom *g, const qchan *q, int mode,
                                packed_q **out) {
  int64_t geo[] = {g->k, g->n};
  uint64_t key[PTL_PACKED_KEY_WORDS], qkey[QOP_QWORDS];
  packed_q *p = NULL;
  if (find_op_slot(call, q, make_key(call, mode, q, geo, 2, key), key, qkey, &p)) {
    *out = p;
    return PTL_OK;
  }
  packed_q *np = NULL;
  PTL_CHECK(packed_q_new(q, &np));
  memcpy(np->qkey, qkey, sizeof qkey);
  ptl_status s = create_linear_op(call, g, q, mode, np);
  return packed_q_install(call->in[1], key, p, np, q->count, s, out);
}

/* Row stride of t viewed as [M, K] when its last dim is dense and the rows are
 * evenly spaced; 0 otherwise. */
static int64_t uniform_row_stride(const ptl_tensor *t, int64_t m) {
  int nd = t->ndim;
  if (t->shape[nd - 1] > 1 && t->strides[nd - 1] != 1)
    return 0;
  if (nd == 1 || m <= 1)
    return t->shape[nd - 1] > 0 ? t->shape[nd - 1] : 1;
  int64_t rs = 0, span = 1;
  for (int d = nd - 2; d >= 0; d--) {
    if (t->shape[d] == 1)
      continue;
    if (rs == 0)
      rs = t->strides[d];
    else if (t->strides[d] != rs * span)
      return 0;
    span *= t->shape[d];
  }
  return rs >= t->shape[nd - 1] ? rs : 0;
}

/* Copies rows of t (any strides) into / out of a dense [M, K] buffer (^ flip). */
static void rows_copy(const ptl_tensor *t, int64_t m, uint8_t *buf, bool to_buf, uint8_t flip) {
  int64_t k = t->shape[t->ndim - 1], ks = t->strides[t->ndim - 1];
  uint8_t *base = ptl_tensor_data(t);
  for (int64_t r = 0; r < m; r++) {
    uint8_t *row = base + row_offset(t, r);
    for (int64_t i = 0; i < k; i++) {
      if (to_buf)
        buf[r * k + i] = row[i * ks] ^ flip;
      else
        row[i * ks] = buf[r * k + i] ^ flip;
    }
  }
}

/* Linear on the own u8 x s8 kernel as a 1x1 conv over an [1, M, 1, K] image. */
static ptl_status try_qgemm_linear(const ptl_call *call, const lgeom *g, const qchan *q) {
  ptl_qgemm_geom qg = {1, g->m, 1, g->k, g->n, 1, 1, 1, 1, 0, 0, 1, 1, g->m, 1};
  if (!ptl_qgemm_available() || !ptl_qgemm_geom_ok(&qg) || !qgemm_quant_ok(q, g->k))
    return PTL_ERR_UNSUPPORTED;
  ptl_tensor *x = call->in[0], *y = call->out[0];
  ptl_qgemm_packed *pk = NULL;
  PTL_CHECK(get_qgemm_pack(call, &qg, &pk));
  ptl_status s = PTL_OK;
  uint8_t *xbuf = NULL, *ybuf = NULL;
  const uint8_t *xin = ptl_tensor_data(x);
  int64_t in_pix = uniform_row_stride(x, g->m);
  if (!in_pix) {
    xbuf = malloc((size_t)(g->m * g->k) + 16);
    if (!xbuf) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
      goto done;
    }
    rows_copy(x, g->m, xbuf, true, 0);
    xin = xbuf;
    in_pix = g->k;
  }
  uint8_t *yout = ptl_tensor_data(y);
  int64_t out_pix = uniform_row_stride(y, g->m);
  if (!out_pix) {
    ybuf = malloc((size_t)(g->m * g->n) + 16);
    if (!ybuf) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
      goto done;
    }
    yout = ybuf;
    out_pix = g->n;
  }
  ptl_qgemm_quant qq = {q->xzp, q->ozp, q->qmin, q->qmax, q->qbias, q->rscale};
  s = ptl_qgemm_conv(pk, &qg, xin, in_pix, &qq, yout, out_pix);
  if (s == PTL_OK && ybuf)
    rows_copy(y, g->m, ybuf, false, 0);
done:
  free(xbuf);
  free(ybuf);
  return s;
}

ptl_status ptl_qlinear_fast(const ptl_call *call) {
  lgeom g;
  qchan q;
  PTL_CHECK(linear_prepare(call, &g, &q));
  ptl_tensor *x = call->in[0], *y = call->out[0];
  ptl_status s = PTL_OK;
  uint8_t *xbuf = NULL, *ybuf = NULL;
  if (g.m == 0 || g.n == 0)
    goto done;
  if (g.m * g.n * g.k >= QFAST_MIN_MACS) {
    s = try_qgemm_linear(call, &g, &q);
    if (s != PTL_ERR_UNSUPPORTED)
      goto done;
    s = PTL_OK;
  }
  int mode = pick_mode(&q, g.k, true);
  if (g.m * g.n * g.k < QFAST_MIN_MACS)
    mode = 0;
  if (!mode || g.k == 0 || ptl_xnn_init() != PTL_OK) {
    s = PTL_ERR_UNSUPPORTED;
    goto done;
  }
  uint8_t flip = mode == MODE_QC8 ? 0x80 : 0;
  /* the cached operator is built for dense [M, K] -> [M, N] rows (strides K, N) */
  const uint8_t *xin = ptl_tensor_data(x);
  if (flip || uniform_row_stride(x, g.m) != g.k) {
    xbuf = malloc((size_t)(g.m * g.k) + 16);
    if (!xbuf) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
      goto done;
    }
    rows_copy(x, g.m, xbuf, true, flip);
    xin = xbuf;
  }
  uint8_t *yout = ptl_tensor_data(y);
  if (flip || uniform_row_stride(y, g.m) != g.n) {
    ybuf = malloc((size_t)(g.m * g.n) + 16);
    if (!ybuf) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
      goto done;
    }
    yout = ybuf;
  }
  packed_q *pk = NULL;
  s = get_linear_op(call, &g, &q, mode, &pk);
  if (s != PTL_OK)
    goto done;
  pthreadpool_t pool = (pthreadpool_t)ptl_threadpool();
  enum xnn_status st;
  if (mode == MODE_QU8)
    st = xnn_setup_fully_connected_nc_qu8(pk->op, (size_t)g.m, xin, yout, pool);
  else
    st = xnn_setup_convolution2d_nhwc_qc8(pk->op, 1, (size_t)g.m, 1, (const int8_t *)xin,
                                          (int8_t *)yout, pool);
  if (st == xnn_status_success)
    st = xnn_run_operator(pk->op, pool);
  if (st != xnn_status_success) {
    s = ptl_error(PTL_ERR_INTERNAL, "%s: XNNPACK setup/run failed (status %d)",
                  ptl_op_name(call->op), (int)st);
    goto done;
  }
  if (ybuf)
    rows_copy(y, g.m, ybuf, false, flip);
done:
  free(xbuf);
  free(ybuf);
  qchan_free(&q);
  return s;
}
