/* qdynamic.c - dynamically quantized linear: DYNAMIC_LINEAR (int8 weights,
 * activations quantized per call) and LINEAR_FP16 (layouts in ops.def).
 *
 * DYNAMIC_LINEAR reproduces torch's 'qnnpack' engine (PackedLinearWeightsQnnp::
 * apply_dynamic) bit for bit, checked against torch 2.13:
 *  - x's min and max (over the whole input) widened to contain 0 choose quint8
 *    qparams as quant_utils::ChooseQuantizationParams does (double arithmetic,
 *    scale rounded to float at the end, small-scale cut-off, zero point from the
 *    side with the smaller error). qnnpack ignores reduce_range; torch's x86 and
 *    fbgemm engines honour it (qmax 127), and so does this op when i[0] is set;
 *  - x quantized as at::quantize_per_tensor does (quant.c: fma(x, 1/scale, zp),
 *    round half even, clamp to [0, 255]);
 *  - acc = sum_k (xq - x_zp) * (w - w_zp[n]) in int32 (wrapping), then
 *    y = float(acc) * float(w_scale[n] * x_scale) + bias[n] (multiply, then add:
 *    no FMA) and relu after, as torch's relu_ on the float output.
 * The AVX2 kernel computes the same integers (sum of xq * w by pmaddwd on
 * int16, then the zero-point corrections with wrapping int32 arithmetic), so
 * the fast path and the reference agree exactly and the result does not depend
 * on the thread split (each output element is computed by one task).
 * Kernel shape: 4 rows x 16 columns, int8 weights sign-extended per k pair and shared
 * by the 4 rows. pmaddubsw would do twice the products per instruction but saturates
 * for 8-bit activations (255 * 128 * 2 > 32767: torch's x86 engine avoids that with
 * 7-bit activations, qnnpack's arithmetic cannot), so the exact form is pmaddwd; on
 * this AVX2 machine it runs at ~21 int8 MACs per cycle, about fbgemm's rate. No
 * AVX-512 VNNI / NEON kernels: this machine cannot run them to test.
 *
 * LINEAR_FP16 follows torch's fp16 dynamic linear (fbgemm): weights are held in
 * float16, the arithmetic is float32. The reference accumulates in k order; the
 * fast path converts the weight to float32 once (cached on the weight) and runs
 * LINEAR's own fast path, so its rounding follows linear.c's GEMM. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "qmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PTL_QDYN_HAVE_AVX2 1
#endif

/* ---- shared checks --------------------------------------------------------------- */

static ptl_status check_linear_common(const char *op, const ptl_tensor *x, const ptl_tensor *w,
                                      const ptl_tensor *bias, ptl_dtype wdtype,
                                      ptl_tensor_desc *out) {
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  if (x->dtype != PTL_FLOAT32)
    return ptl_error(PTL_ERR_DTYPE, "%s: expected input of dtype float32 (Float), got %s", op,
                     ptl_torch_scalar_name(x->dtype));
  if (w->dtype != wdtype)
    return ptl_error(PTL_ERR_DTYPE, "%s: expected weight of dtype %s, got %s", op,
                     ptl_torch_scalar_name(wdtype), ptl_torch_scalar_name(w->dtype));
  if (x->ndim == 0)
    return ptl_error(PTL_ERR_SHAPE, "%s: input must be at least 1-d, got a 0-d tensor", op);
  if (w->ndim != 2)
    return ptl_error(PTL_ERR_SHAPE, "%s: weight must be 2-d [out_features, in_features], got %s",
                     op, ptl_shape_str(w, b1, sizeof b1));
  int64_t k = x->shape[x->ndim - 1], rows = ptl_numel_of(x->ndim - 1, x->shape);
  if (k != w->shape[1])
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: mat1 and mat2 shapes cannot be multiplied (%lldx%lld and %lldx%lld); "
                     "input %s, weight %s",
                     op, (long long)rows, (long long)k, (long long)w->shape[1],
                     (long long)w->shape[0], ptl_shape_str(x, b1, sizeof b1),
                     ptl_shape_str(w, b2, sizeof b2));
  if (bias) {
    if (bias->dtype != PTL_FLOAT32)
      return ptl_error(PTL_ERR_DTYPE, "%s: expected bias of dtype float32 (Float), got %s", op,
                       ptl_torch_scalar_name(bias->dtype));
    if (bias->ndim != 1 || bias->shape[0] != w->shape[0])
      return ptl_error(PTL_ERR_SHAPE, "%s: bias must be 1-d of size out_features %lld, got %s", op,
                       (long long)w->shape[0], ptl_shape_str(bias, b1, sizeof b1));
  }
  out->dtype = PTL_FLOAT32;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  out->shape[x->ndim - 1] = w->shape[0];
  return PTL_OK;
}

ptl_status ptl_dynamic_linear_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  PTL_CHECK(check_linear_common("dynamic_linear", x, w, bias, PTL_QINT8, out));
  const ptl_qparams *qp = w->qparams;
  if (!qp)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "dynamic_linear: weight has no quantization parameters");
  if (qp->scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE ||
      qp->scheme == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC) {
    if (qp->axis != 0 || qp->count != w->shape[0])
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "dynamic_linear: per-channel weight must be quantized along axis 0 with "
                       "%lld scales, got axis %d with %lld",
                       (long long)w->shape[0], (int)qp->axis, (long long)qp->count);
  } else if (qp->count != 1) {
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "dynamic_linear: unsupported weight qscheme");
  }
  return PTL_OK;
}

/* ---- activation qparams (torch's ChooseQuantizationParams) ------------------------- */

typedef struct {
  float scale, inv, zpf;
  int32_t zp;
} act_qparams;

static ptl_status choose_qparams(float mn, float mx, bool reduce_range, act_qparams *q) {
  const float small_scale = 6.1e-5f;
  int32_t qmin = 0, qmax = reduce_range ? 127 : 255;
  mn = mn < 0.0f ? mn : (isnan(mn) ? mn : 0.0f);
  mx = mx > 0.0f ? mx : (isnan(mx) ? mx : 0.0f);
  double scale = ((double)mx - mn) / (qmax - qmin);
  if ((float)scale == 0.0f || isinf(1.0f / (float)scale))
    scale = 0.1;
  if (!(scale > 0))
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "dynamic_linear: quantization scale should be > 0 (input "
                     "min %g, max %g)",
                     (double)mn, (double)mx);
  if (scale < small_scale) {
    float org_scale = (float)scale;
    scale = small_scale;
    if (mn == 0.0f)
      mx = small_scale * (float)(qmax - qmin);
    else if (mx == 0.0f)
      mn = -small_scale * (float)(qmax - qmin);
    else {
      float amplifier = small_scale / org_scale;
      mn *= amplifier;
      mx *= amplifier;
    }
  }
  double zp_from_min = qmin - mn / scale, zp_from_max = qmax - mx / scale;
  double err_min = fabs((double)qmin) - fabs(mn / scale);
  double err_max = fabs((double)qmax) - fabs(mx / scale);
  double zp0 = err_min < err_max ? zp_from_min : zp_from_max;
  int32_t zp;
  if (zp0 < qmin)
    zp = qmin;
  else if (zp0 > qmax)
    zp = qmax;
  else if (isnan(zp0))
    zp = qmin;
  else
    zp = (int32_t)nearbyint(zp0);
  q->scale = (float)scale;
  q->inv = 1.0f / q->scale;
  q->zp = zp;
  q->zpf = (float)zp;
  return PTL_OK;
}

/* at::quantize_per_tensor's quint8 arithmetic (see quant.c); NaN maps to 255. */
static inline int32_t quant_u8(float x, const act_qparams *q) {
  float v = nearbyintf(fmaf(x, q->inv, q->zpf));
  if (isnan(v))
    return 255;
  return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (int32_t)v;
}

static void weight_qparams(const ptl_tensor *w, int64_t n, float *scale, int32_t *zp) {
  const ptl_qparams *qp = w->qparams;
  for (int64_t i = 0; i < n; i++) {
    int64_t c = qp->count == 1 ? 0 : i;
    scale[i] = qp->scale[c];
    zp[i] = qp->zero_point[c];
  }
}

static void relu_flag(const ptl_call *call, bool *reduce_range, bool *relu) {
  const ptl_attrs *a = call->attrs;
  *reduce_range = a && a->n_ints > 0 && a->ints[0] != 0;
  *relu = a && a->n_ints > 1 && a->ints[1] != 0;
}

/* Output element from the exact int32 accumulator: multiply, then add. */
static inline float dequant_out(int32_t acc, float mult, float b, bool relu) {
  float v = (float)acc * mult;
  v = v + b;
  return relu && v < 0.0f ? 0.0f : v;
}

/* Offsets (elements) of row r of x and y: leading dims walked row-major. */
static void row_offsets(const ptl_tensor *x, const ptl_tensor *y, int64_t r, int64_t *xo,
                        int64_t *yo) {
  *xo = 0, *yo = 0;
  for (int i = x->ndim - 2; i >= 0; i--) {
    int64_t idx = r % x->shape[i];
    r /= x->shape[i];
    *xo += idx * x->strides[i];
    *yo += idx * y->strides[i];
  }
}

ptl_status ptl_dynamic_linear_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  ptl_tensor *y = call->out[0];
  bool reduce_range, relu;
  relu_flag(call, &reduce_range, &relu);
  int nd = x->ndim;
  int64_t k = x->shape[nd - 1], n = w->shape[0], rows = ptl_numel_of(nd - 1, x->shape);
  if (rows == 0 || n == 0)
    return PTL_OK;
  const float *xd = ptl_tensor_data(x);
  const int8_t *wd = ptl_tensor_data(w);
  const float *bd = bias ? ptl_tensor_data(bias) : NULL;
  float *yd = ptl_tensor_data(y);
  int64_t xs = x->strides[nd - 1], ys = y->strides[nd - 1];
  /* min / max over every element; NaN propagates as torch's min()/max() */
  float mn = INFINITY, mx = -INFINITY;
  bool has_nan = false;
  for (int64_t r = 0; r < rows; r++) {
    int64_t xo, yo;
    row_offsets(x, y, r, &xo, &yo);
    for (int64_t i = 0; i < k; i++) {
      float v = xd[xo + i * xs];
      has_nan |= isnan(v);
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
  }
  if (has_nan) /* torch's min() / max() propagate NaN */
    mn = mx = NAN;
  act_qparams q;
  PTL_CHECK(choose_qparams(mn, mx, reduce_range, &q));
  float *wscale = malloc(sizeof(float) * (size_t)n);
  int32_t *wzp = malloc(sizeof(int32_t) * (size_t)n);
  int32_t *xq = malloc(sizeof(int32_t) * (size_t)(k > 0 ? k : 1));
  if (!wscale || !wzp || !xq) {
    free(wscale), free(wzp), free(xq);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "dynamic_linear: out of memory");
  }
  weight_qparams(w, n, wscale, wzp);
  for (int64_t r = 0; r < rows; r++) {
    int64_t xo, yo;
    row_offsets(x, y, r, &xo, &yo);
    for (int64_t i = 0; i < k; i++)
      xq[i] = quant_u8(xd[xo + i * xs], &q);
    for (int64_t o = 0; o < n; o++) {
      /* int32 accumulation as QNNPACK does: wrapping, computed in uint32 */
      uint32_t acc = 0;
      for (int64_t i = 0; i < k; i++) {
        int32_t wv = wd[o * w->strides[0] + i * w->strides[1]];
        acc += (uint32_t)((xq[i] - q.zp) * (wv - wzp[o]));
      }
      float mult = wscale[o] * q.scale;
      float b = bd ? bd[o * bias->strides[0]] : 0.0f;
      yd[yo + o * ys] = dequant_out((int32_t)acc, mult, b, relu);
    }
  }
  free(wscale), free(wzp), free(xq);
  return PTL_OK;
}

/* ---- AVX2 fast path -------------------------------------------------------------------
 * Packed weight: columns in panels of NR=16, k in pairs; for panel p and pair j the 32
 * bytes are [col c: w[c][2j], w[c][2j+1]] for c in the panel's first 8 columns, then the
 * next 8 (two 16-byte halves, each sign-extended to 16 int16 lanes for pmaddwd against a
 * broadcast pair of quantized inputs). Padding (odd k, partial panel) is zero. */
#define QD_NR 16
#define QD_MR 4

typedef struct {
  int64_t n, k, kp; /* kp: k rounded up to even */
  int8_t *w;        /* [panels][kp/2][32] */
  int32_t *wsum;    /* sum_k w[n][k] per column (padded to panels * 16) */
} qd_packed;

static void qd_packed_destroy(void *p) {
  qd_packed *pk = p;
  if (pk) {
    free(pk->w);
    free(pk->wsum);
    free(pk);
  }
}

static ptl_status qd_pack(const ptl_tensor *w, qd_packed **out) {
  int64_t n = w->shape[0], k = w->shape[1], kp = (k + 1) & ~(int64_t)1;
  int64_t panels = (n + QD_NR - 1) / QD_NR;
  qd_packed *pk = calloc(1, sizeof *pk);
  if (!pk)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "dynamic_linear: out of memory packing the weight");
  pk->n = n, pk->k = k, pk->kp = kp;
  pk->w = calloc((size_t)(panels * (kp / 2) * 32 + 32), 1);
  pk->wsum = calloc((size_t)(panels * QD_NR + 1), sizeof(int32_t));
  if (!pk->w || !pk->wsum) {
    qd_packed_destroy(pk);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "dynamic_linear: out of memory packing the weight");
  }
  const int8_t *wd = ptl_tensor_data(w);
  for (int64_t c = 0; c < n; c++) {
    int64_t p = c / QD_NR, cc = c % QD_NR;
    int32_t s = 0;
    for (int64_t i = 0; i < k; i++) {
      int8_t v = wd[c * w->strides[0] + i * w->strides[1]];
      s += v;
      pk->w[(p * (kp / 2) + i / 2) * 32 + cc * 2 + (i & 1)] = v;
    }
    pk->wsum[c] = s;
  }
  *out = pk;
  return PTL_OK;
}

typedef struct {
  const qd_packed *pk;
  const int16_t *xq; /* [rows][kp], quantized x (0..255), zero padded */
  const int32_t *xsum;
  int32_t xzp;
  int64_t rows;
  const float *mult; /* [n] w_scale * x_scale */
  const int32_t *wzp;
  const float *bias;
  float *y; /* [rows][n] contiguous */
  bool relu;
  int64_t panels_per_task;
} qd_ctx;

/* Finishes a [mr][16] block of raw dot products into y. Scalar: the cost is O(m*n). */
static void qd_store(const qd_ctx *c, int64_t r0, int mr, int64_t c0, int nc, const int32_t *dot) {
  const qd_packed *pk = c->pk;
  for (int r = 0; r < mr; r++) {
    uint32_t xs = (uint32_t)c->xsum[r0 + r];
    for (int j = 0; j < nc; j++) {
      int64_t col = c0 + j;
      uint32_t wz = (uint32_t)c->wzp[col];
      uint32_t acc = (uint32_t)dot[r * QD_NR + j] - wz * xs -
                     (uint32_t)c->xzp * (uint32_t)pk->wsum[col] +
                     (uint32_t)pk->k * (uint32_t)c->xzp * wz;
      c->y[(r0 + r) * pk->n + col] =
          dequant_out((int32_t)acc, c->mult[col], c->bias ? c->bias[col] : 0.0f, c->relu);
    }
  }
}

#ifdef PTL_QDYN_HAVE_AVX2
/* Broadcast of the quantized input pair (x[2j], x[2j+1]) as int16 lanes. */
#define QD_BCAST(row, j) _mm256_set1_epi32(qd_load_pair((row) + 2 * (j)))
static inline int32_t qd_load_pair(const int16_t *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* 4 rows x 16 columns: eight accumulators, written out so they stay in registers
 * (GCC at -O2 does not unroll a row loop and would keep them in memory). */
__attribute__((target("avx2,fma"))) static void qd_block4_avx2(const qd_ctx *c, int64_t p,
                                                               int64_t r0, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int64_t pairs = pk->kp / 2;
  const int8_t *wp = pk->w + p * pairs * 32;
  const int16_t *x0 = c->xq + r0 * pk->kp, *x1 = x0 + pk->kp, *x2 = x1 + pk->kp, *x3 = x2 + pk->kp;
  __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
          a30 = a00, a31 = a00;
  for (int64_t j = 0; j < pairs; j++) {
    __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wp + j * 32)));
    __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wp + j * 32 + 16)));
    __m256i v = QD_BCAST(x0, j);
    a00 = _mm256_add_epi32(a00, _mm256_madd_epi16(v, w0));
    a01 = _mm256_add_epi32(a01, _mm256_madd_epi16(v, w1));
    v = QD_BCAST(x1, j);
    a10 = _mm256_add_epi32(a10, _mm256_madd_epi16(v, w0));
    a11 = _mm256_add_epi32(a11, _mm256_madd_epi16(v, w1));
    v = QD_BCAST(x2, j);
    a20 = _mm256_add_epi32(a20, _mm256_madd_epi16(v, w0));
    a21 = _mm256_add_epi32(a21, _mm256_madd_epi16(v, w1));
    v = QD_BCAST(x3, j);
    a30 = _mm256_add_epi32(a30, _mm256_madd_epi16(v, w0));
    a31 = _mm256_add_epi32(a31, _mm256_madd_epi16(v, w1));
  }
  /* lane order: w0 covers columns 0..7, w1 columns 8..15 (one int32 per column) */
  _mm256_storeu_si256((__m256i *)(dot + 0 * QD_NR), a00);
  _mm256_storeu_si256((__m256i *)(dot + 0 * QD_NR + 8), a01);
  _mm256_storeu_si256((__m256i *)(dot + 1 * QD_NR), a10);
  _mm256_storeu_si256((__m256i *)(dot + 1 * QD_NR + 8), a11);
  _mm256_storeu_si256((__m256i *)(dot + 2 * QD_NR), a20);
  _mm256_storeu_si256((__m256i *)(dot + 2 * QD_NR + 8), a21);
  _mm256_storeu_si256((__m256i *)(dot + 3 * QD_NR), a30);
  _mm256_storeu_si256((__m256i *)(dot + 3 * QD_NR + 8), a31);
}

/* 1 row x 16 columns, two pairs per step with separate accumulators (the adds
 * of one chain would otherwise wait on each other). */
__attribute__((target("avx2,fma"))) static void qd_block1_avx2(const qd_ctx *c, int64_t p,
                                                               int64_t r, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int64_t pairs = pk->kp / 2;
  const int8_t *wp = pk->w + p * pairs * 32;
  const int16_t *x = c->xq + r * pk->kp;
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, b0 = a0, b1 = a0;
  int64_t j = 0;
  for (; j + 2 <= pairs; j += 2) {
    __m256i v = QD_BCAST(x, j), u = QD_BCAST(x, j + 1);
    const int8_t *q = wp + j * 32;
    a0 = _mm256_add_epi32(
        a0, _mm256_madd_epi16(v, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q))));
    a1 = _mm256_add_epi32(
        a1, _mm256_madd_epi16(v, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)))));
    b0 = _mm256_add_epi32(
        b0, _mm256_madd_epi16(u, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 32)))));
    b1 = _mm256_add_epi32(
        b1, _mm256_madd_epi16(u, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 48)))));
  }
  for (; j < pairs; j++) {
    __m256i v = QD_BCAST(x, j);
    const int8_t *q = wp + j * 32;
    a0 = _mm256_add_epi32(
        a0, _mm256_madd_epi16(v, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q))));
    a1 = _mm256_add_epi32(
        a1, _mm256_madd_epi16(v, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)))));
  }
  _mm256_storeu_si256((__m256i *)dot, _mm256_add_epi32(a0, b0));
  _mm256_storeu_si256((__m256i *)(dot + 8), _mm256_add_epi32(a1, b1));
}

static void qd_block_avx2(const qd_ctx *c, int64_t p, int64_t r0, int mr, int32_t *dot) {
  if (mr == QD_MR)
    qd_block4_avx2(c, p, r0, dot);
  else
    for (int r = 0; r < mr; r++)
      qd_block1_avx2(c, p, r0 + r, dot + r * QD_NR);
}
#endif

static void qd_block_c(const qd_ctx *c, int64_t p, int64_t r0, int mr, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int64_t pairs = pk->kp / 2;
  const int8_t *wp = pk->w + p * pairs * 32;
  for (int r = 0; r < mr; r++) {
    const int16_t *x = c->xq + (r0 + r) * pk->kp;
    for (int j = 0; j < QD_NR; j++) {
      uint32_t s = 0;
      for (int64_t i = 0; i < pairs; i++)
        s += (uint32_t)(x[2 * i] * wp[i * 32 + 2 * j] + x[2 * i + 1] * wp[i * 32 + 2 * j + 1]);
      dot[r * QD_NR + j] = (int32_t)s;
    }
  }
}

static bool qd_cpu_has_avx2(void) {
#ifdef PTL_QDYN_HAVE_AVX2
  static int state = -1;
  if (state < 0) {
    __builtin_cpu_init();
    state = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return state == 1;
#else
  return false;
#endif
}

static void qd_task(void *vctx, size_t t) {
  const qd_ctx *c = vctx;
  const qd_packed *pk = c->pk;
  int64_t panels = (pk->n + QD_NR - 1) / QD_NR;
  int64_t p0 = (int64_t)t * c->panels_per_task;
  int64_t p1 = p0 + c->panels_per_task < panels ? p0 + c->panels_per_task : panels;
  int32_t dot[QD_MR * QD_NR];
  bool avx2 = qd_cpu_has_avx2();
  for (int64_t p = p0; p < p1; p++) {
    int64_t c0 = p * QD_NR;
    int nc = (int)(pk->n - c0 < QD_NR ? pk->n - c0 : QD_NR);
    for (int64_t r0 = 0; r0 < c->rows; r0 += QD_MR) {
      int mr = (int)(c->rows - r0 < QD_MR ? c->rows - r0 : QD_MR);
#ifdef PTL_QDYN_HAVE_AVX2
      if (avx2)
        qd_block_avx2(c, p, r0, mr, dot);
      else
#endif
        qd_block_c(c, p, r0, mr, dot);
      (void)avx2;
      qd_store(c, r0, mr, c0, nc, dot);
    }
  }
}

/* min/max of x; false if x holds a NaN (the reference then defines the result). */
#ifdef PTL_QDYN_HAVE_AVX2
__attribute__((target("avx2,fma"))) static bool qd_minmax_avx2(const float *x, int64_t n, float *mn,
                                                               float *mx) {
  __m256 vmin = _mm256_set1_ps(INFINITY), vmax = _mm256_set1_ps(-INFINITY);
  __m256 nan = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    vmin = _mm256_min_ps(vmin, v);
    vmax = _mm256_max_ps(vmax, v);
  }
  float a[8], b[8];
  _mm256_storeu_ps(a, vmin);
  _mm256_storeu_ps(b, vmax);
  float lo = a[0], hi = b[0];
  for (int j = 1; j < 8; j++) {
    lo = a[j] < lo ? a[j] : lo;
    hi = b[j] > hi ? b[j] : hi;
  }
  bool has_nan = _mm256_movemask_ps(nan) != 0;
  for (; i < n; i++) {
    has_nan |= isnan(x[i]);
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  *mn = lo, *mx = hi;
  return !has_nan;
}

/* Quantizes rows of x into int16 (values 0..255), exactly as quant_u8 (no NaN here). */
__attribute__((target("avx2,fma"))) static void qd_quant_rows_avx2(const float *x, int64_t rows,
                                                                   int64_t k, int64_t kp,
                                                                   const act_qparams *q,
                                                                   int16_t *xq, int32_t *xsum) {
  __m256 inv = _mm256_set1_ps(q->inv), zpf = _mm256_set1_ps(q->zpf);
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * k;
    int16_t *qr = xq + r * kp;
    __m256i vs = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
      __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i), inv, zpf);
      v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
      __m256i iv = _mm256_cvtps_epi32(v);
      vs = _mm256_add_epi32(vs, iv);
      __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(iv), _mm256_extracti128_si256(iv, 1));
      _mm_storeu_si128((__m128i *)(qr + i), p16);
    }
    int32_t s[8];
    _mm256_storeu_si256((__m256i *)s, vs);
    int32_t sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    for (; i < k; i++) {
      qr[i] = (int16_t)quant_u8(xr[i], q);
      sum += qr[i];
    }
    for (; i < kp; i++)
      qr[i] = 0;
    xsum[r] = sum;
  }
}
#endif

static void qd_quant_rows_c(const float *x, int64_t rows, int64_t k, int64_t kp,
                            const act_qparams *q, int16_t *xq, int32_t *xsum) {
  for (int64_t r = 0; r < rows; r++) {
    int32_t sum = 0;
    for (int64_t i = 0; i < kp; i++) {
      int16_t v = i < k ? (int16_t)quant_u8(x[r * k + i], q) : 0;
      xq[r * kp + i] = v;
      sum += v;
    }
    xsum[r] = sum;
  }
}

static bool qd_minmax_c(const float *x, int64_t n, float *mn, float *mx) {
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(x[i]))
      return false;
    lo = x[i] < lo ? x[i] : lo;
    hi = x[i] > hi ? x[i] : hi;
  }
  *mn = lo, *mx = hi;
  return true;
}

ptl_status ptl_dynamic_linear_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *w = call->in[1];
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  ptl_tensor *y = call->out[0];
  bool reduce_range, relu;
  relu_flag(call, &reduce_range, &relu);
  int64_t n = w->shape[0], k = w->shape[1], rows = ptl_numel_of(x->ndim - 1, x->shape);
  if (!ptl_tensor_is_contiguous(y) || k == 0)
    return PTL_ERR_UNSUPPORTED;
  if (rows == 0 || n == 0)
    return PTL_OK;
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = 0x5144594eu; /* "QDYN": this op's packed int8 panels */
  key[2] = (uint64_t)n;
  key[3] = (uint64_t)k;
  key[4] = (uint64_t)(uintptr_t)ptl_tensor_data(w);
  key[5] = (uint64_t)w->strides[0];
  key[6] = (uint64_t)w->strides[1];
  qd_packed *pk = ptl_packed_find(w, key);
  if (!pk) {
    PTL_CHECK(qd_pack(w, &pk));
    ptl_status s = ptl_packed_add(w, key, pk, qd_packed_destroy);
    if (s != PTL_OK)
      return s;
  }
  ptl_tensor *xc = NULL;
  PTL_CHECK(ptl_tensor_contiguous((ptl_tensor *)x, &xc));
  const float *xd = ptl_tensor_data(xc);
  bool avx2 = qd_cpu_has_avx2();
  float mn, mx;
  bool ok;
#ifdef PTL_QDYN_HAVE_AVX2
  if (avx2)
    ok = qd_minmax_avx2(xd, rows * k, &mn, &mx);
  else
#endif
    ok = qd_minmax_c(xd, rows * k, &mn, &mx);
  if (!ok || !isfinite(mn) || !isfinite(mx)) { /* NaN / inf: leave them to the reference */
    ptl_tensor_release(xc);
    return PTL_ERR_UNSUPPORTED;
  }
  act_qparams q;
  ptl_status s = choose_qparams(mn, mx, reduce_range, &q);
  int64_t kp = pk->kp;
  int16_t *xq = s == PTL_OK ? malloc(sizeof(int16_t) * (size_t)(rows * kp)) : NULL;
  int32_t *xsum = malloc(sizeof(int32_t) * (size_t)rows);
  float *mult = malloc(sizeof(float) * (size_t)n);
  float *wscale = malloc(sizeof(float) * (size_t)n);
  int32_t *wzp = malloc(sizeof(int32_t) * (size_t)n);
  if (s == PTL_OK && (!xq || !xsum || !mult || !wscale || !wzp))
    s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "dynamic_linear: out of memory");
  if (s == PTL_OK) {
#ifdef PTL_QDYN_HAVE_AVX2
    if (avx2)
      qd_quant_rows_avx2(xd, rows, k, kp, &q, xq, xsum);
    else
#endif
      qd_quant_rows_c(xd, rows, k, kp, &q, xq, xsum);
    weight_qparams(w, n, wscale, wzp);
    for (int64_t i = 0; i < n; i++)
      mult[i] = wscale[i] * q.scale;
    ptl_tensor *bc = NULL;
    if (bias)
      s = ptl_tensor_contiguous((ptl_tensor *)bias, &bc);
    if (s == PTL_OK) {
      qd_ctx ctx = {pk,
                    xq,
                    xsum,
                    q.zp,
                    rows,
                    mult,
                    wzp,
                    bc ? ptl_tensor_data(bc) : NULL,
                    ptl_tensor_data(y),
                    relu,
                    1};
      int64_t panels = (n + QD_NR - 1) / QD_NR;
      /* a few tasks per thread of work: panels grouped so each task streams a
       * contiguous slice of the packed weight */
      ctx.panels_per_task = panels >= 64 ? 4 : 1;
      size_t tasks = (size_t)((panels + ctx.panels_per_task - 1) / ctx.panels_per_task);
      if (tasks > 1 && rows * k * n >= 32768)
        ptl_parallel_for(qd_task, &ctx, tasks);
      else
        for (size_t t = 0; t < tasks; t++)
          qd_task(&ctx, t);
      ptl_tensor_release(bc);
    }
  }
  free(xq), free(xsum), free(mult), free(wscale), free(wzp);
  ptl_tensor_release(xc);
  return s;
}

/* ---- LINEAR_FP16 ----------------------------------------------------------------- */

ptl_status ptl_linear_fp16_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  return check_linear_common("linear_fp16", call->in[0], call->in[1], bias, PTL_FLOAT16, out);
}

ptl_status ptl_linear_fp16_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  ptl_tensor *y = call->out[0];
  bool relu = call->attrs && call->attrs->n_ints > 0 && call->attrs->ints[0] != 0;
  int nd = x->ndim;
  int64_t k = x->shape[nd - 1], n = w->shape[0], rows = ptl_numel_of(nd - 1, x->shape);
  const float *xd = ptl_tensor_data(x);
  const uint16_t *wd = ptl_tensor_data(w);
  const float *bd = bias ? ptl_tensor_data(bias) : NULL;
  float *yd = ptl_tensor_data(y);
  int64_t xs = x->strides[nd - 1], ys = y->strides[nd - 1];
  for (int64_t r = 0; r < rows; r++) {
    int64_t xo, yo;
    row_offsets(x, y, r, &xo, &yo);
    for (int64_t o = 0; o < n; o++) {
      float acc = 0.0f;
      for (int64_t i = 0; i < k; i++)
        acc += xd[xo + i * xs] * ptl_half_to_float(wd[o * w->strides[0] + i * w->strides[1]]);
      if (bd)
        acc += bd[o * bias->strides[0]];
      yd[yo + o * ys] = relu && acc < 0.0f ? 0.0f : acc;
    }
  }
  return PTL_OK;
}

static void release_tensor(void *t) {
  ptl_tensor_release(t);
}

ptl_status ptl_linear_fp16_fast(const ptl_call *call) {
  ptl_tensor *w = call->in[1];
  bool relu = call->attrs && call->attrs->n_ints > 0 && call->attrs->ints[0] != 0;
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = 0x46503136u; /* "FP16": the weight widened to float32 */
  key[2] = (uint64_t)w->shape[0];
  key[3] = (uint64_t)w->shape[1];
  key[4] = (uint64_t)(uintptr_t)ptl_tensor_data(w);
  key[5] = (uint64_t)w->strides[0];
  key[6] = (uint64_t)w->strides[1];
  ptl_tensor *w32 = ptl_packed_find(w, key);
  if (!w32) {
    PTL_CHECK(ptl_tensor_create(PTL_FLOAT32, 2, w->shape, &w32));
    float *d = ptl_tensor_data(w32);
    const uint16_t *h = ptl_tensor_data(w);
    for (int64_t o = 0; o < w->shape[0]; o++)
      for (int64_t i = 0; i < w->shape[1]; i++)
        d[o * w->shape[1] + i] = ptl_half_to_float(h[o * w->strides[0] + i * w->strides[1]]);
    PTL_CHECK(ptl_packed_add(w, key, w32, release_tensor));
  }
  /* LINEAR without a clamp, relu applied after as torch's relu_: a fused clamp
   * on XNNPACK's one-row path would turn NaN into 0 */
  ptl_attrs attrs = {0};
  ptl_tensor *ins[3] = {call->in[0], w32, call->n_in > 2 ? call->in[2] : NULL};
  ptl_call sub = *call;
  sub.op = PTL_OP_LINEAR;
  sub.attrs = &attrs;
  sub.in = ins;
  sub.n_in = ins[2] ? 3 : 2;
  PTL_CHECK(ptl_linear_fast(&sub));
  if (relu) { /* linear's fast path only runs on a contiguous output */
    float *yd = ptl_tensor_data(call->out[0]);
    int64_t n = ptl_tensor_numel(call->out[0]);
    for (int64_t i = 0; i < n; i++)
      yd[i] = yd[i] < 0.0f ? 0.0f : yd[i];
  }
  return PTL_OK;
}
