/* qeltwise.c - quantized elementwise ops: QADD, QMUL, QCAT, QHARDSWISH,
 * QSIGMOID, QLEAKY_RELU, QBATCH_NORM (layouts in ops.def).
 *
 * Every op takes quint8 per-tensor inputs and writes a quint8 output whose
 * (scale, zero_point) come from the attributes and are attached on every run.
 * The arithmetic follows torch 2.13 with the qnnpack engine, found by reading
 * its kernels and checking against it:
 *  - add, same shapes (torch's QNNPACK q8vadd): fixed point, each input times
 *    an integer multiplier (input_scale / output_scale * 2^shift, shift = 21 -
 *    exponent of the larger ratio), one arithmetic right shift rounding half
 *    away from zero. Bit-exact with torch.
 *  - add with broadcasting (QNNPACK has none, torch's generic kernel):
 *    dequantize both ((q - zp) * scale in float), add, (relu), quantize with
 *    nearbyint(float(x * (1 / scale)) + zp) (torch's scalar form); in the
 *    first n / 64 * 64 elements of each contiguous row torch's vector loop
 *    runs instead: dequantize as fma(q, s, -zp * s), quantize as
 *    nearbyint(x * (1 / scale)) + zp. Rows are split the same way here.
 *  - mul (torch's generic int kernel, QNNPACK has no mul):
 *    nearbyint(float((qa - za) * (qb - zb)) * (sa * sb * (1 / so))) + zo, all in
 *    float, relu as max with zo.
 *  - cat: dequantize, quantize_per_tensor (one fma rounding as quant.c).
 *  - hardswish / sigmoid: a 256-entry table over the input codes as QNNPACK
 *    builds it: f(s * (q - zp)), quantized with one rounding after adding zp.
 *  - leaky_relu (torch's generic kernel): two tables, the vector and the
 *    scalar formulas above, used on the same row split as add (the result is
 *    contiguous, as torch's quantized::leaky_relu; without output qparams
 *    python uses the float leaky_relu op's quint8 path, as torch does).
 *  - batch_norm: per channel alpha = w / sqrt(var + eps) * (in_scale / out_scale),
 *    beta = (b - mean * w / sqrt(var + eps)) / out_scale (torch's fused params),
 *    y = nearbyint(fma(alpha, q - zp_in, beta) + zp_out).
 * FAST: the same arithmetic. When the operands share one dense layout, add
 * (fixed point), mul and the tables run as flat chunks on the threadpool, add and
 * mul with AVX2 (qeltwise_avx2.c, runtime CPU check); other layouts, broadcasting
 * and the float add walk rows as the reference does. XNNPACK's qu8 add / multiply / sigmoid /
 * leaky_relu are not used: they implement XNNPACK's own requantization (add: its own fixed-point
 * shift and rounding; the others fp32 requantization of the whole result),
 * not the mix of formulas torch uses above, and the fast path must give the
 * reference's bits. (Not measured against torch here: a candidate for later,
 * behind a bit-exactness test.) */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "qmath.h"

/* ---- shared checks --------------------------------------------------------- */
static ptl_status check_quint8(const char *op, const ptl_tensor *t, const char *what) {
  if (t->dtype != PTL_QUINT8)
    return ptl_error(PTL_ERR_DTYPE, "%s: expected %s to be a quint8 (quantized) tensor, got %s", op,
                     what, ptl_dtype_name(t->dtype));
  if (!t->qparams || t->qparams->count != 1 ||
      (t->qparams->scheme != PTL_QSCHEME_PER_TENSOR_AFFINE &&
       t->qparams->scheme != PTL_QSCHEME_PER_TENSOR_SYMMETRIC))
    return ptl_error(PTL_ERR_UNSUPPORTED,
                     "%s: only per-tensor quantized %s is supported (got a per-channel tensor)", op,
                     what);
  return PTL_OK;
}

static ptl_status check_out_qparams(const char *op, double scale, int64_t zp) {
  if (!(scale > 0) || !isfinite(scale))
    return ptl_error(PTL_ERR_VALUE, "%s: output scale must be a positive finite number, got %g", op,
                     scale);
  if (zp < 0 || zp > 255)
    return ptl_error(PTL_ERR_VALUE,
                     "%s: output zero_point %lld is outside the quint8 range [0, 255]", op,
                     (long long)zp);
  return PTL_OK;
}

static inline float qscale(const ptl_tensor *t) {
  return t->qparams->scale[0];
}
static inline int32_t qzp(const ptl_tensor *t) {
  return t->qparams->zero_point[0];
}

/* torch's quantize for the dequantize-compute-requantize kernels, clamped to
 * [lo, 255]. Its kernels differ in where the zero point goes in: add's rounds
 * once after adding it, nearbyint(float(x * inv_scale) + zp); leaky_relu's
 * (QuantizeAvx2) rounds first, nearbyint(x * inv_scale) + zp. Ties show which. */
static inline uint8_t quant_u8(float x, float inv_scale, float zpf, int32_t lo, bool round_first) {
  float v = x * inv_scale;
  if (round_first)
    v = nearbyintf(v) + zpf;
  else
    v = nearbyintf(v + zpf);
  if (!(v >= (float)lo)) /* NaN goes low */
    return (uint8_t)lo;
  return v > 255.0f ? 255 : (uint8_t)v;
}

/* Output layout: torch allocates quantized results with the input's
 * suggest_memory_format, so a channels-last 4-d input gives a channels-last result. */
static void desc_like(const ptl_tensor *x, int ndim, const int64_t *shape, ptl_tensor_desc *out) {
  out->dtype = PTL_QUINT8;
  out->ndim = ndim;
  memcpy(out->shape, shape, sizeof(int64_t) * (size_t)ndim);
  if (ndim == 4 && x->ndim == 4 && ptl_tensor_is_channels_last(x) && !ptl_tensor_is_contiguous(x)) {
    out->has_strides = true;
    ptl_channels_last_strides(shape, out->strides);
  }
}

/* Orders dims by the output's strides (largest first) so rows follow its memory. */
static void order_dims(const ptl_tensor *y, int *perm) {
  int nd = y->ndim;
  for (int i = 0; i < nd; i++) {
    int j = i;
    while (j > 0 && y->strides[perm[j - 1]] < y->strides[i]) {
      perm[j] = perm[j - 1];
      j--;
    }
    perm[j] = i;
  }
}

/* ---- QADD / QMUL ----------------------------------------------------------- */
ptl_status ptl_qbinary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *a = call->in[0], *b = call->in[1];
  const ptl_attrs *at = call->attrs;
  PTL_CHECK(check_quint8(op, a, "input a"));
  PTL_CHECK(check_quint8(op, b, "input b"));
  if (at->n_ints < 2 || at->n_floats < 1)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: expected attributes (relu, zero_point; scale), got %d ints %d floats", op,
                     at->n_ints, at->n_floats);
  PTL_CHECK(check_out_qparams(op, at->floats[0], at->ints[1]));
  int nd;
  int64_t shape[PTL_MAX_DIMS];
  PTL_CHECK(ptl_broadcast_shapes(op, a->ndim, a->shape, b->ndim, b->shape, &nd, shape));
  desc_like(a, nd, shape, out);
  return PTL_OK;
}

typedef struct {
  int op;
  const uint8_t *a, *b;
  uint8_t *y;
  int32_t za, zb, zo, lo;
  float sa, sb, inv_o, zof, mult;
  bool relu;
  bool fixed; /* QNNPACK fixed point (same shapes) */
  int32_t am, bm, bias;
  uint32_t shift, mask, thr;
} qbin_ctx;

static inline uint8_t qadd_fixed(const qbin_ctx *c, int32_t a, int32_t b) {
  /* int32 wrap-around as QNNPACK's vector code */
  int32_t acc =
      (int32_t)((uint32_t)c->bias + (uint32_t)a * (uint32_t)c->am + (uint32_t)b * (uint32_t)c->bm);
  int32_t rem = (int32_t)((uint32_t)acc & c->mask) - (int32_t)(acc < 0);
  int32_t q = (acc >> c->shift) + (int32_t)(rem > (int32_t)c->thr) + c->zo;
  q = q < c->lo ? c->lo : q;
  return (uint8_t)(q > 255 ? 255 : q);
}

static inline uint8_t qmul_one(const qbin_ctx *c, int32_t qa, int32_t qb) {
  int32_t prod = (qa - c->za) * (qb - c->zb);
  float v = nearbyintf((float)prod * c->mult) + c->zof;
  return v < (float)c->lo ? (uint8_t)c->lo : v > 255.0f ? 255 : (uint8_t)v;
}

/* Torch's generic elementwise loop (TensorIterator + cpu_kernel_vec) runs each
 * coalesced inner row in vector steps of 64 quint8 when the row is contiguous
 * (one input may be broadcast along it), and the rest of the row with the
 * scalar formulas; the two round differently, so we split rows the same way. */
static int64_t vector_part(const int64_t *st, int n_in, int64_t n) {
  if (st[0] != 1)
    return 0;
  int scalars = 0;
  for (int k = 1; k <= n_in; k++) {
    if (st[k] == 0)
      scalars++;
    else if (st[k] != 1)
      return 0;
  }
  return scalars < n_in || n_in == 1 ? n / 64 * 64 : 0;
}

static void qbin_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const qbin_ctx *c = vc;
  int64_t nvec = c->op == PTL_OP_QADD && !c->fixed ? vector_part(st, 2, n) : 0;
  for (int64_t i = 0; i < n; i++) {
    int32_t qa = c->a[off[1] + i * st[1]], qb = c->b[off[2] + i * st[2]];
    uint8_t r;
    if (c->op == PTL_OP_QMUL) {
      r = qmul_one(c, qa, qb);
    } else if (c->fixed) {
      r = qadd_fixed(c, qa, qb);
    } else if (i < nvec) {
      /* torch's vectorized loop: fma dequantize, quantize rounding first */
      float da = fmaf((float)qa, c->sa, c->sa * (float)-c->za);
      float db = fmaf((float)qb, c->sb, c->sb * (float)-c->zb);
      float s = da + db;
      if (c->relu && s < 0)
        s = 0;
      r = quant_u8(s, c->inv_o, c->zof, 0, true);
    } else {
      float da = (float)(qa - c->za) * c->sa, db = (float)(qb - c->zb) * c->sb;
      float s = da + db;
      if (c->relu && s < 0) /* fused relu in the float domain, as torch */
        s = 0;
      r = quant_u8(s, c->inv_o, c->zof, 0, false);
    }
    c->y[off[0] + i * st[0]] = r;
  }
}

static void setup_fixed_add(qbin_ctx *c, double out_scale) {
  /* QNNPACK: a_scale / sum_scale in float from the float scales; it refuses ratios
   * outside [2^-14, 2^8), where torch raises: we take the float path instead */
  float ar = c->sa / (float)out_scale, br = c->sb / (float)out_scale;
  float mx = ar > br ? ar : br;
  c->fixed = false;
  if (!(ar >= 0x1.0p-14f && ar < 0x1.0p+8f && br >= 0x1.0p-14f && br < 0x1.0p+8f))
    return;
  int e;
  frexpf(mx, &e); /* mx = m * 2^e, m in [0.5, 1): IEEE exponent is e - 1 */
  int shift = 21 - (e - 1);
  if (shift < 13 || shift > 31)
    return;
  c->am = (int32_t)lrintf(ldexpf(ar, shift));
  c->bm = (int32_t)lrintf(ldexpf(br, shift));
  c->bias = (int32_t)(0u - ((uint32_t)c->am * (uint32_t)c->za + (uint32_t)c->bm * (uint32_t)c->zb));
  c->shift = (uint32_t)shift;
  c->mask = (1u << shift) - 1u;
  c->thr = c->mask >> 1;
  c->fixed = true;
}

/* The kernel's constants; c.fixed tells whether the same-shape fixed-point add runs. */
static void qbinary_setup(const ptl_call *call, qbin_ctx *cp) {
  const ptl_tensor *a = call->in[0], *b = call->in[1];
  const ptl_tensor *y = call->out[0];
  double scale = call->attrs->floats[0];
  int32_t zo = (int32_t)call->attrs->ints[1];
  bool relu = call->attrs->ints[0] != 0;
  qbin_ctx c;
  memset(&c, 0, sizeof c);
  c.op = call->op;
  c.a = ptl_tensor_data(a);
  c.b = ptl_tensor_data(b);
  c.y = ptl_tensor_data(y);
  c.za = qzp(a);
  c.zb = qzp(b);
  c.zo = zo;
  c.lo = relu ? zo : 0;
  c.relu = relu;
  c.sa = qscale(a);
  c.sb = qscale(b);
  c.inv_o = 1.0f / (float)scale;
  c.zof = (float)zo;
  /* torch's qmul kernel, all in float: sa * sb * (1 / so) (checked on ties) */
  c.mult = c.sa * c.sb * (1.0f / (float)scale);
  bool same = a->ndim == b->ndim && a->ndim == y->ndim &&
              memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0;
  if (call->op == PTL_OP_QADD && same && y->ndim > 0)
    setup_fixed_add(&c, scale);
  *cp = c;
}

static ptl_status qbinary_run(const ptl_call *call) {
  const ptl_tensor *a = call->in[0], *b = call->in[1];
  ptl_tensor *y = call->out[0];
  PTL_CHECK(
      ptl_qparams_set_per_tensor(y, (float)call->attrs->floats[0], (int32_t)call->attrs->ints[1]));
  qbin_ctx c;
  qbinary_setup(call, &c);
  int nd = y->ndim, perm[PTL_MAX_DIMS];
  order_dims(y, perm);
  int64_t sa[PTL_MAX_DIMS], sb[PTL_MAX_DIMS], shape[PTL_MAX_DIMS], st[3][PTL_MAX_DIMS];
  ptl_broadcast_strides(a, nd, y->shape, sa);
  ptl_broadcast_strides(b, nd, y->shape, sb);
  for (int i = 0; i < nd; i++) {
    shape[i] = y->shape[perm[i]];
    st[0][i] = y->strides[perm[i]];
    st[1][i] = sa[perm[i]];
    st[2][i] = sb[perm[i]];
  }
  if (ptl_tensor_numel(y) > 0)
    ptl_for_each_row(nd, shape, 3, (const int64_t(*)[PTL_MAX_DIMS])st, qbin_row, &c);
  return PTL_OK;
}

ptl_status ptl_qbinary_ref(const ptl_call *call) {
  return qbinary_run(call);
}

/* ---- dense fast paths --------------------------------------------------------
 * When every operand holds its elements in the same dense order (contiguous,
 * channels-last, any permutation), element i of each is at flat offset i: the ops
 * run as flat loops, in chunks on the threadpool (each output byte depends only on
 * the same input bytes, so any split gives the same bits), with AVX2 bodies in
 * qeltwise_avx2.c for add and mul and the scalar reference formulas for the rest. */
bool ptl_qeltwise_have_avx2(void);
int64_t ptl_qadd_fixed_avx2(const uint8_t *pa, const uint8_t *pb, uint8_t *py, int64_t n,
                            int32_t am, int32_t bm, int32_t bias, uint32_t shift, int32_t zo,
                            int32_t lo);
int64_t ptl_qmul_avx2(const uint8_t *pa, const uint8_t *pb, uint8_t *py, int64_t n, int32_t za,
                      int32_t zb, float mult, float zof, int32_t lo);

#define QCHUNK 16384 /* bytes per task: ~10 us of add, well above the dispatch cost */

static size_t n_chunks(int64_t n) {
  return (size_t)((n + QCHUNK - 1) / QCHUNK);
}

typedef struct {
  const qbin_ctx *c;
  int64_t n;
  bool avx2;
} qbin_job;

static void qbin_chunk(void *vj, size_t k) {
  const qbin_job *j = vj;
  const qbin_ctx *c = j->c;
  int64_t i0 = (int64_t)k * QCHUNK, i1 = i0 + QCHUNK < j->n ? i0 + QCHUNK : j->n, i = i0;
  const uint8_t *a = c->a, *b = c->b;
  uint8_t *y = c->y;
  if (c->op == PTL_OP_QMUL) {
    if (j->avx2)
      i += ptl_qmul_avx2(a + i, b + i, y + i, i1 - i, c->za, c->zb, c->mult, c->zof, c->lo);
    for (; i < i1; i++)
      y[i] = qmul_one(c, a[i], b[i]);
  } else {
    if (j->avx2)
      i += ptl_qadd_fixed_avx2(a + i, b + i, y + i, i1 - i, c->am, c->bm, c->bias, c->shift, c->zo,
                               c->lo);
    for (; i < i1; i++)
      y[i] = qadd_fixed(c, a[i], b[i]);
  }
}

/* Same-shape add in fixed point and same-shape mul, all operands in one dense
 * layout; anything else (broadcasting, the float add, strided views) runs the
 * reference walk. */
ptl_status ptl_qbinary_fast(const ptl_call *call) {
  const ptl_tensor *a = call->in[0], *b = call->in[1];
  ptl_tensor *y = call->out[0];
  int64_t n = ptl_tensor_numel(y);
  if (n == 0 || !ptl_tensor_same_dense_layout(a, y) || !ptl_tensor_same_dense_layout(b, y))
    return qbinary_run(call);
  /* qparams first, as qbinary_run, so an output aliasing an input reads the same */
  PTL_CHECK(
      ptl_qparams_set_per_tensor(y, (float)call->attrs->floats[0], (int32_t)call->attrs->ints[1]));
  qbin_ctx c;
  qbinary_setup(call, &c);
  if (call->op == PTL_OP_QADD ? !c.fixed : !isfinite(c.mult))
    return qbinary_run(call);
  qbin_job j = {&c, n, ptl_qeltwise_have_avx2()};
  ptl_parallel_for(qbin_chunk, &j, n_chunks(n));
  return PTL_OK;
}

/* ---- QCAT ------------------------------------------------------------------ */
ptl_status ptl_qcat_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = "quantized_cat";
  const ptl_attrs *at = call->attrs;
  if (at->n_ints < 2 || at->n_floats < 1)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: expected attributes (dim, zero_point; scale), got %d ints %d floats", op,
                     at->n_ints, at->n_floats);
  PTL_CHECK(check_out_qparams(op, at->floats[0], at->ints[1]));
  const ptl_tensor *x0 = call->in[0];
  for (int i = 0; i < call->n_in; i++) {
    if (!call->in[i])
      return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: tensor %d is None", op, i);
    char what[32];
    snprintf(what, sizeof what, "tensor %d", i);
    PTL_CHECK(check_quint8(op, call->in[i], what));
  }
  if (x0->ndim == 0)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: zero-dimensional tensor (at position 0) cannot be "
                     "concatenated",
                     op);
  int dim;
  PTL_CHECK(ptl_wrap_dim(op, at->ints[0], x0->ndim, &dim));
  int64_t shape[PTL_MAX_DIMS];
  memcpy(shape, x0->shape, sizeof(int64_t) * (size_t)x0->ndim);
  shape[dim] = 0;
  bool all_cl = x0->ndim == 4;
  for (int i = 0; i < call->n_in; i++) {
    const ptl_tensor *t = call->in[i];
    char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
    if (t->ndim != x0->ndim)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: tensors must have same number of dimensions: got %d and %d (shapes %s "
                       "and %s)",
                       op, x0->ndim, t->ndim, ptl_shape_str(x0, b1, sizeof b1),
                       ptl_shape_str(t, b2, sizeof b2));
    for (int d = 0; d < t->ndim; d++)
      if (d != dim && t->shape[d] != x0->shape[d])
        return ptl_error(PTL_ERR_SHAPE,
                         "%s: Sizes of tensors must match except in dimension %d. Expected size "
                         "%lld but got size %lld for tensor number %d in the list (shapes %s and "
                         "%s)",
                         op, dim, (long long)x0->shape[d], (long long)t->shape[d], i,
                         ptl_shape_str(x0, b1, sizeof b1), ptl_shape_str(t, b2, sizeof b2));
    shape[dim] += t->shape[dim];
    all_cl = all_cl && ptl_tensor_is_channels_last(t) && !ptl_tensor_is_contiguous(t);
  }
  out->dtype = PTL_QUINT8;
  out->ndim = x0->ndim;
  memcpy(out->shape, shape, sizeof(int64_t) * (size_t)x0->ndim);
  if (all_cl) {
    out->has_strides = true;
    ptl_channels_last_strides(shape, out->strides);
  }
  return PTL_OK;
}

typedef struct {
  const uint8_t *x;
  uint8_t *y;
  uint8_t lut[256];
  /* quantized::leaky_relu: torch's loop runs rows where input and output are
   * both contiguous in vector steps of 64 (lut), the rest of each row and all
   * other rows with its scalar formulas (tail) */
  bool split;
  uint8_t tail[256];
} lut_ctx;

static void lut_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const lut_ctx *c = vc;
  const uint8_t *x = c->x + off[1];
  uint8_t *y = c->y + off[0];
  int64_t nvec = !c->split ? n : st[0] == 1 && st[1] == 1 ? n / 64 * 64 : 0;
  for (int64_t i = 0; i < nvec; i++)
    y[i * st[0]] = c->lut[x[i * st[1]]];
  for (int64_t i = nvec; i < n; i++)
    y[i * st[0]] = c->tail[x[i * st[1]]];
}

typedef struct {
  const lut_ctx *c;
  int64_t n;
} lut_job;

static void lut_chunk(void *vj, size_t k) {
  const lut_job *j = vj;
  int64_t i0 = (int64_t)k * QCHUNK, i1 = i0 + QCHUNK < j->n ? i0 + QCHUNK : j->n;
  const uint8_t *x = j->c->x, *lut = j->c->lut;
  uint8_t *y = j->c->y;
  for (int64_t i = i0; i < i1; i++)
    y[i] = lut[x[i]];
}

/* y = lut[x] for x and y of the same shape, any strides (y may alias x). With
 * `fast`, one table (no leaky_relu row split) and x, y in one dense layout, flat
 * chunks on the threadpool. */
static void apply_lut(lut_ctx *c, const ptl_tensor *x, ptl_tensor *y, bool fast) {
  int64_t n = ptl_tensor_numel(y);
  if (fast && !c->split && n > 0 && ptl_tensor_same_dense_layout(x, y)) {
    c->x = ptl_tensor_data(x);
    c->y = ptl_tensor_data(y);
    lut_job j = {c, n};
    ptl_parallel_for(lut_chunk, &j, n_chunks(n));
    return;
  }
  int nd = y->ndim, perm[PTL_MAX_DIMS];
  order_dims(y, perm);
  int64_t shape[PTL_MAX_DIMS], st[2][PTL_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    shape[i] = y->shape[perm[i]];
    st[0][i] = y->strides[perm[i]];
    st[1][i] = x->strides[perm[i]];
  }
  c->x = ptl_tensor_data(x);
  c->y = ptl_tensor_data(y);
  if (ptl_tensor_numel(y) > 0)
    ptl_for_each_row(nd, shape, 2, (const int64_t(*)[PTL_MAX_DIMS])st, lut_row, c);
}

ptl_status ptl_qcat_ref(const ptl_call *call) {
  ptl_tensor *y = call->out[0];
  float scale = (float)call->attrs->floats[0];
  int32_t zo = (int32_t)call->attrs->ints[1];
  PTL_CHECK(ptl_qparams_set_per_tensor(y, scale, zo));
  int dim;
  PTL_CHECK(ptl_wrap_dim("quantized_cat", call->attrs->ints[0], y->ndim, &dim));
  float inv = 1.0f / scale, zof = (float)zo;
  int64_t start = 0;
  for (int i = 0; i < call->n_in; i++) {
    ptl_tensor *x = call->in[i];
    int64_t len = x->shape[dim];
    if (len > 0 && ptl_tensor_numel(x) > 0) {
      /* The output slice this input fills, as a view. */
      ptl_tensor *slice = NULL;
      PTL_CHECK(ptl_tensor_view(y, y->ndim, x->shape, y->strides,
                                y->offset + start * y->strides[dim], &slice));
      lut_ctx c;
      c.split = false;
      float s = qscale(x);
      int32_t z = qzp(x);
      for (int q = 0; q < 256; q++) {
        /* dequantize, then quantize_per_tensor's single fma rounding (quant.c) */
        float v = (float)(q - z) * s;
        float r = nearbyintf(fmaf(v, inv, zof));
        c.lut[q] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
      }
      apply_lut(&c, x, slice, false);
      ptl_tensor_release(slice);
    }
    start += len;
  }
  return PTL_OK;
}

/* ---- QHARDSWISH / QSIGMOID / QLEAKY_RELU ------------------------------------ */
ptl_status ptl_qunary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *at = call->attrs;
  PTL_CHECK(check_quint8(op, x, "input"));
  int nf = call->op == PTL_OP_QLEAKY_RELU ? 2 : 1;
  if (at->n_ints < 1 || at->n_floats < nf)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: expected attributes (zero_point; scale%s), got %d ints %d floats", op,
                     nf == 2 ? ", negative_slope" : "", at->n_ints, at->n_floats);
  PTL_CHECK(check_out_qparams(op, at->floats[0], at->ints[0]));
  /* torch allocates hardswish / sigmoid results in the input's
   * suggest_memory_format, quantized::leaky_relu's always contiguous */
  if (call->op == PTL_OP_QLEAKY_RELU) {
    out->dtype = PTL_QUINT8;
    out->ndim = x->ndim;
    memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  } else {
    desc_like(x, x->ndim, x->shape, out);
  }
  return PTL_OK;
}

static ptl_status qunary_run(const ptl_call *call, bool fast) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  float so = (float)call->attrs->floats[0];
  int32_t zo = (int32_t)call->attrs->ints[0];
  float slope = call->op == PTL_OP_QLEAKY_RELU ? (float)call->attrs->floats[1] : 0.0f;
  float s = qscale(x), inv = 1.0f / so, zof = (float)zo;
  int32_t z = qzp(x);
  lut_ctx c;
  c.split = call->op == PTL_OP_QLEAKY_RELU;
  for (int q = 0; q < 256; q++) {
    /* QNNPACK's tables dequantize as s * (q - z); torch's leaky_relu kernel as
     * fma(q, s, -z * s) (Vectorized::dequantize) */
    float v =
        call->op == PTL_OP_QLEAKY_RELU ? fmaf((float)q, s, s * (float)-z) : s * (float)(q - z);
    float r;
    switch (call->op) {
    case PTL_OP_QHARDSWISH: {
      float t = v + 3.0f;
      t = t > 0.0f ? t : 0.0f;
      t = t < 6.0f ? t : 6.0f;
      r = v * t / 6.0f;
      break;
    }
    case PTL_OP_QSIGMOID: r = 1.0f / (1.0f + expf(-v)); break;
    default: r = v > 0 ? v : v * slope; break;
    }
    c.lut[q] = quant_u8(r, inv, zof, 0, call->op == PTL_OP_QLEAKY_RELU);
    if (c.split) { /* torch's scalar tail: (q - z) * s, quantize rounding once */
      float v2 = (float)(q - z) * s;
      c.tail[q] = quant_u8(v2 > 0 ? v2 : v2 * slope, inv, zof, 0, false);
    }
  }
  /* qparams last: y may be x (in place) and x's own scale was read above */
  apply_lut(&c, x, y, fast);
  return ptl_qparams_set_per_tensor(y, so, zo);
}

ptl_status ptl_qunary_ref(const ptl_call *call) {
  return qunary_run(call, false);
}

ptl_status ptl_qunary_fast(const ptl_call *call) {
  return qunary_run(call, true);
}

/* ---- QBATCH_NORM ------------------------------------------------------------ */
ptl_status ptl_qbatch_norm_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = "quantized_batch_norm";
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *at = call->attrs;
  PTL_CHECK(check_quint8(op, x, "input"));
  if (at->n_ints < 2 || at->n_floats < 2)
    return ptl_error(
        PTL_ERR_INVALID_ARGUMENT,
        "%s: expected attributes (zero_point, relu; eps, scale), got %d ints %d floats", op,
        at->n_ints, at->n_floats);
  PTL_CHECK(check_out_qparams(op, at->floats[1], at->ints[0]));
  if (x->ndim < 2 || x->ndim > 5) {
    char b[PTL_SHAPE_BUF];
    return ptl_error(PTL_ERR_SHAPE, "%s: expected 2-d to 5-d input (N, C, ...), got %s", op,
                     ptl_shape_str(x, b, sizeof b));
  }
  int64_t C = x->shape[1];
  static const char *names[] = {"input", "running_mean", "running_var", "weight", "bias"};
  for (int i = 1; i < call->n_in; i++) {
    const ptl_tensor *p = call->in[i];
    if (!p)
      continue;
    if (p->dtype != PTL_FLOAT32)
      return ptl_error(PTL_ERR_DTYPE, "%s: expected %s to be float32, got %s", op, names[i],
                       ptl_dtype_name(p->dtype));
    if (p->ndim != 1 || p->shape[0] != C) {
      char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
      return ptl_error(PTL_ERR_SHAPE, "%s: expected %s of shape [%lld] for input %s, got %s", op,
                       names[i], (long long)C, ptl_shape_str(x, b1, sizeof b1),
                       ptl_shape_str(p, b2, sizeof b2));
    }
  }
  out->dtype = PTL_QUINT8;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  if (x->ndim == 4) { /* torch's quantized batch_norm2d returns channels-last */
    out->has_strides = true;
    ptl_channels_last_strides(x->shape, out->strides);
  }
  return PTL_OK;
}

static inline float ld_param(const ptl_tensor *p, int64_t c, float dflt) {
  if (!p)
    return dflt;
  return ((const float *)ptl_tensor_data(p))[c * p->strides[0]];
}

ptl_status ptl_qbatch_norm_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  const ptl_tensor *mean = call->in[1], *var = call->in[2];
  const ptl_tensor *w = call->n_in > 3 ? call->in[3] : NULL;
  const ptl_tensor *b = call->n_in > 4 ? call->in[4] : NULL;
  ptl_tensor *y = call->out[0];
  float eps = (float)call->attrs->floats[0];
  double out_scale = call->attrs->floats[1];
  int32_t zo = (int32_t)call->attrs->ints[0];
  bool relu = call->attrs->ints[1] != 0;
  double in_scale = qscale(x);
  int32_t zi = qzp(x);
  int64_t C = x->shape[1];
  float *alpha = malloc(sizeof(float) * (size_t)(C > 0 ? 2 * C : 1));
  if (!alpha)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "quantized_batch_norm: out of memory");
  float *beta = alpha + C;
  for (int64_t c = 0; c < C; c++) {
    /* torch's compute_fused_params, with its float / double mix */
    float inv_sigma = (float)(1.0 / (double)sqrtf(ld_param(var, c, 1.0f) + eps));
    float wv = ld_param(w, c, 1.0f), bv = ld_param(b, c, 0.0f);
    alpha[c] = (float)((double)(inv_sigma * wv) * (in_scale / out_scale));
    beta[c] = (float)((double)(bv - ld_param(mean, c, 0.0f) * inv_sigma * wv) / out_scale);
  }
  const uint8_t *xd = ptl_tensor_data(x);
  uint8_t *yd = ptl_tensor_data(y);
  int nd = x->ndim;
  int64_t n = ptl_tensor_numel(x), idx[PTL_MAX_DIMS] = {0};
  float zof = (float)zo;
  int32_t lo = relu ? zo : 0;
  for (int64_t k = 0; k < n; k++) {
    int64_t xo = 0, yo = 0;
    for (int d = 0; d < nd; d++) {
      xo += idx[d] * x->strides[d];
      yo += idx[d] * y->strides[d];
    }
    int64_t c = idx[1];
    float v = fmaf(alpha[c], (float)((int32_t)xd[xo] - zi), beta[c]);
    float r = nearbyintf(v + zof);
    yd[yo] = r < (float)lo ? (uint8_t)lo : r > 255.0f ? 255 : (uint8_t)r;
    for (int d = nd - 1; d >= 0; d--) {
      if (++idx[d] < x->shape[d])
        break;
      idx[d] = 0;
    }
  }
  free(alpha);
  return ptl_qparams_set_per_tensor(y, (float)out_scale, zo);
}
