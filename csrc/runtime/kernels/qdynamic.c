/* qdynamic.c - dynamically quantized linear: DYNAMIC_LINEAR (int8 weights,
 * activations quantized per call) and LINEAR_FP16 (layouts in ops.def).
 *
 * DYNAMIC_LINEAR reproduces torch's dynamic linear bit for bit, checked against
 * torch 2.13. i[0] = 0: the 'qnnpack' engine (PackedLinearWeightsQnnp::apply_dynamic);
 * i[0] = 1 (reduce_range): the 'x86' / 'fbgemm' engine (PackedLinearWeight::
 * apply_dynamic with reduce_range=True, what torch's dynamic modules pass):
 *  - x's min and max (over the whole input) widened to contain 0 choose quint8
 *    qparams as quant_utils::ChooseQuantizationParams does (double arithmetic,
 *    scale rounded to float at the end, small-scale cut-off, zero point from the
 *    side with the smaller error), on [0, 255], or [0, 127] with reduce_range
 *    (qnnpack ignores reduce_range, fbgemm honours it);
 *  - x quantized as at::quantize_per_tensor does (quant.c: fma(x, 1/scale, zp),
 *    round half even, clamp to [0, 255]); fbgemm's QuantizeAvx2 is the same fma;
 *  - acc = sum_k (xq - x_zp) * (w - w_zp[n]) in int32 (wrapping), then
 *    qnnpack: y = float(acc) * float(w_scale[n] * x_scale) + bias[n] (multiply, then
 *    add: no FMA); fbgemm (ReQuantizeForFloat's AVX2 form): y = fma(float(acc),
 *    x_scale * w_scale[n], bias[n]), or the bare product without a bias (found by
 *    experiment: mul-then-add matches torch's x86 engine on only ~75% of outputs,
 *    the fma on all); relu after, as torch's relu_ on the float output.
 * The AVX2 kernels compute the same integers (sums of xq * w, then the zero-point
 * corrections with wrapping int32 arithmetic), so the fast path and the reference
 * agree exactly and the result does not depend on the thread split (each output
 * element is computed by one task). Kernel shape: 4 rows x 16 columns.
 *  - 8-bit activations (qnnpack): int8 weights sign-extended per k pair and shared by
 *    the 4 rows, pmaddwd on int16. pmaddubsw would saturate (255 * 128 * 2 > 32767).
 *  - reduce_range activations are <= 128 (qmax 127; the zero point rounded up by at
 *    most 1/2 can lift the top value to 128, never further), so pmaddubsw (u8 x s8,
 *    adjacent products summed to int16) cannot saturate: 2 * 128 * 128 = 32768 only
 *    for -128 weights, which gives -32768, representable; 2 * 128 * 127 < 32767.
 *    pmaddubsw + pmaddwd(ones) sums 4 products per int32 lane: twice pmaddwd's rate,
 *    the trick torch's x86 engine (fbgemm) uses, and exact. Weights packed per k quad.
 * On arm64 the kernels of qdynamic_neon.c fill the same tiles with the same integers:
 * widening vmlal on baseline ARMv8 NEON, SDOT where the CPU has the dot-product extension
 * (cpuinfo, at run time); both are tested under qemu-aarch64 (make test-c-arm64, on a
 * Cortex-A53 and on qemu's "max" CPU). No AVX-512 VNNI kernel: no machine here can run
 * one to test it.
 *
 * LINEAR_FP16 follows torch's fp16 dynamic linear (fbgemm): weights are held in
 * float16, the arithmetic is float32. The reference accumulates in k order; the
 * fast path converts the weight to float32 once (cached on the weight) and runs
 * LINEAR's own fast path, so its rounding follows linear.c's GEMM. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "qmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PTL_QDYN_HAVE_AVX2 1
#endif

#if defined(__aarch64__)
/* qdynamic_neon.c (NEON is part of baseline ARMv8-A: no run-time check needed; the
 * dot-product kernel is chosen at run time) */
#define PTL_QDYN_HAVE_NEON 1
#include "qdynamic_neon.h"
#endif

/* clang contracts a * b + c into an fma unless told not to (GCC does not under -std=c11):
 * the qnnpack epilogue must round the product before the add. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* Fast-path runs per integer kernel, so the tests can tell that the SIMD kernel they
 * compare against the reference did run (a silent fallback to the portable C loops would
 * pass a bit-for-bit comparison too). */
enum { QD_KERNEL_C, QD_KERNEL_AVX2, QD_KERNEL_NEON, QD_KERNEL_NEONDOT, QD_KERNELS };
static _Atomic uint64_t qd_kernel_runs[QD_KERNELS];

uint64_t ptl_dynamic_linear_kernel_runs(const char *kernel) {
  static const char *const names[QD_KERNELS] = {"c", "avx2", "neon", "neondot"};
  for (int i = 0; i < QD_KERNELS; i++)
    if (strcmp(kernel, names[i]) == 0)
      return atomic_load(&qd_kernel_runs[i]);
  return 0;
}

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

/* Output element from the exact int32 accumulator. qnnpack: multiply, then add;
 * fbgemm: one fma with the bias, the bare product without one (has_b false). */
static inline float dequant_out(int32_t acc, float mult, float b, bool has_b, bool fbgemm,
                                bool relu) {
  float v;
  if (fbgemm)
    v = has_b ? fmaf((float)acc, mult, b) : (float)acc * mult;
  else
    v = (float)acc * mult + b;
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
      /* fbgemm's multiplier is x_scale * w_scale: the same float product */
      float mult = wscale[o] * q.scale;
      float b = bd ? bd[o * bias->strides[0]] : 0.0f;
      yd[yo + o * ys] = dequant_out((int32_t)acc, mult, b, bd != NULL, reduce_range, relu);
    }
  }
  free(wscale), free(wzp), free(xq);
  return PTL_OK;
}

/* ---- AVX2 fast path -------------------------------------------------------------------
 * Packed weight: columns in panels of NR=16, k in groups of G (2 for the pmaddwd
 * kernel, 4 for the pmaddubsw one); for panel p and group j the 16 * G bytes are
 * [col c: w[c][G*j .. G*j+G-1]] for c in the panel's first 8 columns, then the next 8
 * (one 8 * G byte half per 8 int32 output lanes). Padding (k to a multiple of G,
 * partial panel) is zero. */
#define QD_NR 16
#define QD_MR 4

typedef struct {
  int64_t n, k, kp; /* kp: k rounded up to a multiple of g */
  int g;            /* k group: 2 (int16 pmaddwd kernel) or 4 (u8 pmaddubsw kernel) */
  int8_t *w;        /* [panels][kp/g][16 * g] */
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

static ptl_status qd_pack(const ptl_tensor *w, int g, qd_packed **out) {
  int64_t n = w->shape[0], k = w->shape[1], kp = (k + g - 1) / g * g;
  int64_t panels = (n + QD_NR - 1) / QD_NR;
  qd_packed *pk = calloc(1, sizeof *pk);
  if (!pk)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "dynamic_linear: out of memory packing the weight");
  pk->n = n, pk->k = k, pk->kp = kp, pk->g = g;
  pk->w = calloc((size_t)(panels * kp * QD_NR + 64), 1);
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
      pk->w[(p * (kp / g) + i / g) * QD_NR * g + cc * g + i % g] = v;
    }
    pk->wsum[c] = s;
  }
  *out = pk;
  return PTL_OK;
}

typedef struct {
  const qd_packed *pk;
  const int16_t *xq16; /* [rows][kp], quantized x (0..255), zero padded (g == 2) */
  const uint8_t *xq8;  /* [rows][kp], quantized x (0..128), zero padded (g == 4) */
  const int32_t *xsum;
  int32_t xzp;
  int64_t rows;
  const float *mult; /* [n] w_scale * x_scale */
  const int32_t *wzp;
  const float *bias;
  float *y; /* [rows][n] contiguous */
  bool relu, fbgemm;
  int64_t panels_per_task;
  bool neondot; /* arm64 with SDOT: k-quad packing for both engines */
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
          dequant_out((int32_t)acc, c->mult[col], c->bias ? c->bias[col] : 0.0f, c->bias != NULL,
                      c->fbgemm, c->relu);
    }
  }
}

#ifdef PTL_QDYN_HAVE_AVX2
static inline int32_t qd_load32(const void *p) {
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
/* Broadcast of the quantized input pair (x[2j], x[2j+1]) as int16 lanes. */
#define QD_BCAST(row, j) _mm256_set1_epi32(qd_load32((row) + 2 * (j)))
/* Broadcast of the quantized input quad x[4j .. 4j+3] as bytes. */
#define QD_BCAST4(row, j) _mm256_set1_epi32(qd_load32((row) + 4 * (j)))

/* Stores a 4-row x 16-column tile of int32 dot products (accumulators a00..a31: row r,
 * columns 0..7 in ar0 and 8..15 in ar1) to dot[r * QD_NR + column]. */
#define QD_STORE_4X16(dot)                                                                         \
  do {                                                                                             \
    _mm256_storeu_si256((__m256i *)((dot) + 0 * QD_NR), a00);                                      \
    _mm256_storeu_si256((__m256i *)((dot) + 0 * QD_NR + 8), a01);                                  \
    _mm256_storeu_si256((__m256i *)((dot) + 1 * QD_NR), a10);                                      \
    _mm256_storeu_si256((__m256i *)((dot) + 1 * QD_NR + 8), a11);                                  \
    _mm256_storeu_si256((__m256i *)((dot) + 2 * QD_NR), a20);                                      \
    _mm256_storeu_si256((__m256i *)((dot) + 2 * QD_NR + 8), a21);                                  \
    _mm256_storeu_si256((__m256i *)((dot) + 3 * QD_NR), a30);                                      \
    _mm256_storeu_si256((__m256i *)((dot) + 3 * QD_NR + 8), a31);                                  \
  } while (0)

/* 4 rows x 16 columns: eight accumulators, written out so they stay in registers
 * (GCC at -O2 does not unroll a row loop and would keep them in memory). */
__attribute__((target("avx2,fma"))) static void qd_block4_avx2(const qd_ctx *c, int64_t p,
                                                               int64_t r0, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int64_t pairs = pk->kp / 2;
  const int8_t *wp = pk->w + p * pairs * 32;
  const int16_t *x0 = c->xq16 + r0 * pk->kp, *x1 = x0 + pk->kp, *x2 = x1 + pk->kp,
                *x3 = x2 + pk->kp;
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
  QD_STORE_4X16(dot);
}

/* 1 row x 16 columns, two pairs per step with separate accumulators (the adds
 * of one chain would otherwise wait on each other). */
__attribute__((target("avx2,fma"))) static void qd_block1_avx2(const qd_ctx *c, int64_t p,
                                                               int64_t r, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int64_t pairs = pk->kp / 2;
  const int8_t *wp = pk->w + p * pairs * 32;
  const int16_t *x = c->xq16 + r * pk->kp;
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

/* u8 x s8 products of one k quad summed into int32 lanes: pmaddubsw (exact for
 * activations <= 128, see the header) then pmaddwd against ones. */
#define QD_DOT4(acc, v, w)                                                                         \
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(v, w), ones))

/* 4 rows x 16 columns on 7-bit activations: 4 products per int32 lane per step. */
__attribute__((target("avx2,fma"))) static void qd_block4_u8_avx2(const qd_ctx *c, int64_t p,
                                                                  int64_t r0, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int64_t quads = pk->kp / 4;
  const int8_t *wp = pk->w + p * quads * 64;
  const uint8_t *x0 = c->xq8 + r0 * pk->kp, *x1 = x0 + pk->kp, *x2 = x1 + pk->kp, *x3 = x2 + pk->kp;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00,
          a30 = a00, a31 = a00;
  for (int64_t j = 0; j < quads; j++) {
    __m256i w0 = _mm256_loadu_si256((const __m256i *)(wp + j * 64));
    __m256i w1 = _mm256_loadu_si256((const __m256i *)(wp + j * 64 + 32));
    __m256i v = QD_BCAST4(x0, j);
    QD_DOT4(a00, v, w0);
    QD_DOT4(a01, v, w1);
    v = QD_BCAST4(x1, j);
    QD_DOT4(a10, v, w0);
    QD_DOT4(a11, v, w1);
    v = QD_BCAST4(x2, j);
    QD_DOT4(a20, v, w0);
    QD_DOT4(a21, v, w1);
    v = QD_BCAST4(x3, j);
    QD_DOT4(a30, v, w0);
    QD_DOT4(a31, v, w1);
  }
  QD_STORE_4X16(dot);
}

/* 1 row x 16 columns on 7-bit activations, two quads per step. */
__attribute__((target("avx2,fma"))) static void qd_block1_u8_avx2(const qd_ctx *c, int64_t p,
                                                                  int64_t r, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int64_t quads = pk->kp / 4;
  const int8_t *wp = pk->w + p * quads * 64;
  const uint8_t *x = c->xq8 + r * pk->kp;
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, b0 = a0, b1 = a0;
  int64_t j = 0;
  for (; j + 2 <= quads; j += 2) {
    __m256i v = QD_BCAST4(x, j), u = QD_BCAST4(x, j + 1);
    const int8_t *q = wp + j * 64;
    QD_DOT4(a0, v, _mm256_loadu_si256((const __m256i *)q));
    QD_DOT4(a1, v, _mm256_loadu_si256((const __m256i *)(q + 32)));
    QD_DOT4(b0, u, _mm256_loadu_si256((const __m256i *)(q + 64)));
    QD_DOT4(b1, u, _mm256_loadu_si256((const __m256i *)(q + 96)));
  }
  for (; j < quads; j++) {
    __m256i v = QD_BCAST4(x, j);
    const int8_t *q = wp + j * 64;
    QD_DOT4(a0, v, _mm256_loadu_si256((const __m256i *)q));
    QD_DOT4(a1, v, _mm256_loadu_si256((const __m256i *)(q + 32)));
  }
  _mm256_storeu_si256((__m256i *)dot, _mm256_add_epi32(a0, b0));
  _mm256_storeu_si256((__m256i *)(dot + 8), _mm256_add_epi32(a1, b1));
}

static void qd_block_avx2(const qd_ctx *c, int64_t p, int64_t r0, int mr, int32_t *dot) {
  bool u8 = c->pk->g == 4;
  if (mr == QD_MR) {
    if (u8)
      qd_block4_u8_avx2(c, p, r0, dot);
    else
      qd_block4_avx2(c, p, r0, dot);
    return;
  }
  for (int r = 0; r < mr; r++) {
    if (u8)
      qd_block1_u8_avx2(c, p, r0 + r, dot + r * QD_NR);
    else
      qd_block1_avx2(c, p, r0 + r, dot + r * QD_NR);
  }
}

/* qd_store for a full 16-column block, 8 columns per vector: the same wrapping int32
 * corrections (mullo keeps the low 32 bits), then the engine's epilogue. */
__attribute__((target("avx2,fma"))) static void qd_store16_avx2(const qd_ctx *c, int64_t r0, int mr,
                                                                int64_t c0, const int32_t *dot) {
  const qd_packed *pk = c->pk;
  const __m256i xzp = _mm256_set1_epi32(c->xzp);
  const __m256i kxzp = _mm256_set1_epi32((int32_t)((uint32_t)pk->k * (uint32_t)c->xzp));
  const __m256 zero = _mm256_setzero_ps();
  for (int h = 0; h < 2; h++) {
    int64_t col = c0 + 8 * h;
    __m256i wz = _mm256_loadu_si256((const __m256i *)(c->wzp + col));
    __m256i ws = _mm256_loadu_si256((const __m256i *)(pk->wsum + col));
    /* k * xzp * wz - xzp * wsum: the per-column part of the correction */
    __m256i corr = _mm256_sub_epi32(_mm256_mullo_epi32(kxzp, wz), _mm256_mullo_epi32(xzp, ws));
    __m256 mult = _mm256_loadu_ps(c->mult + col);
    __m256 b = c->bias ? _mm256_loadu_ps(c->bias + col) : zero;
    for (int r = 0; r < mr; r++) {
      __m256i d = _mm256_loadu_si256((const __m256i *)(dot + r * QD_NR + 8 * h));
      d = _mm256_sub_epi32(d, _mm256_mullo_epi32(wz, _mm256_set1_epi32(c->xsum[r0 + r])));
      d = _mm256_add_epi32(d, corr);
      __m256 v = _mm256_cvtepi32_ps(d);
      if (c->fbgemm)
        v = c->bias ? _mm256_fmadd_ps(v, mult, b) : _mm256_mul_ps(v, mult);
      else
        v = _mm256_add_ps(_mm256_mul_ps(v, mult), b);
      if (c->relu) /* max(0, v) keeps NaN and -0, as the scalar v < 0 ? 0 : v */
        v = _mm256_max_ps(zero, v);
      _mm256_storeu_ps(c->y + (r0 + r) * pk->n + col, v);
    }
  }
}
#endif

static void qd_block_c(const qd_ctx *c, int64_t p, int64_t r0, int mr, int32_t *dot) {
  const qd_packed *pk = c->pk;
  int g = pk->g;
  int64_t groups = pk->kp / g;
  const int8_t *wp = pk->w + p * groups * QD_NR * g;
  for (int r = 0; r < mr; r++) {
    for (int j = 0; j < QD_NR; j++) {
      uint32_t s = 0;
      for (int64_t i = 0; i < pk->kp; i++) {
        int32_t xv = g == 4 ? c->xq8[(r0 + r) * pk->kp + i] : c->xq16[(r0 + r) * pk->kp + i];
        s += (uint32_t)(xv * wp[(i / g) * QD_NR * g + j * g + i % g]);
      }
      dot[r * QD_NR + j] = (int32_t)s;
    }
  }
}

static void qd_task(void *vctx, size_t t) {
  const qd_ctx *c = vctx;
  const qd_packed *pk = c->pk;
  int64_t panels = (pk->n + QD_NR - 1) / QD_NR;
  int64_t p0 = (int64_t)t * c->panels_per_task;
  int64_t p1 = p0 + c->panels_per_task < panels ? p0 + c->panels_per_task : panels;
  int32_t dot[QD_MR * QD_NR];
  bool avx2 = ptl_cpu_has_avx2_fma();
  for (int64_t p = p0; p < p1; p++) {
    int64_t c0 = p * QD_NR;
    int nc = (int)(pk->n - c0 < QD_NR ? pk->n - c0 : QD_NR);
    for (int64_t r0 = 0; r0 < c->rows; r0 += QD_MR) {
      int mr = (int)(c->rows - r0 < QD_MR ? c->rows - r0 : QD_MR);
#ifdef PTL_QDYN_HAVE_NEON
      if (c->neondot)
        ptl_qdyn_block_neondot(pk->w + p * pk->kp * QD_NR, pk->kp, c->xq8 + r0 * pk->kp,
                               pk->wsum + c0, mr, dot);
      else
        ptl_qdyn_block_neon(pk->w + p * pk->kp * QD_NR, pk->kp, pk->g,
                            c->xq16 ? c->xq16 + r0 * pk->kp : NULL,
                            c->xq8 ? c->xq8 + r0 * pk->kp : NULL, mr, dot);
      if (nc == QD_NR) {
        ptl_qdyn_store16_neon((uint32_t)pk->k, c->xzp, c->wzp + c0, pk->wsum + c0, c->xsum + r0, mr,
                              c->mult + c0, c->bias ? c->bias + c0 : NULL, c->fbgemm, c->relu, dot,
                              c->y + r0 * pk->n + c0, pk->n);
        continue;
      }
      qd_store(c, r0, mr, c0, nc, dot);
      continue;
#endif
#ifdef PTL_QDYN_HAVE_AVX2
      if (avx2) {
        qd_block_avx2(c, p, r0, mr, dot);
        if (nc == QD_NR) {
          qd_store16_avx2(c, r0, mr, c0, dot);
          continue;
        }
      } else
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

/* Quantizes rows of x exactly as quant_u8 (no NaN here) into int16 (g == 2) or
 * uint8 (g == 4) lanes; returns the largest quantized value. */
__attribute__((target("avx2,fma"))) static int32_t
qd_quant_rows_avx2(const float *x, int64_t rows, int64_t k, int64_t kp, const act_qparams *q,
                   int16_t *xq16, uint8_t *xq8, int32_t *xsum) {
  __m256 inv = _mm256_set1_ps(q->inv), zpf = _mm256_set1_ps(q->zpf);
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_set1_ps(255.0f);
  __m256i vmax = _mm256_setzero_si256();
  int32_t top = 0;
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * k;
    __m256i vs = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
      __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(xr + i), inv, zpf);
      v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
      __m256i iv = _mm256_cvtps_epi32(v);
      vs = _mm256_add_epi32(vs, iv);
      vmax = _mm256_max_epi32(vmax, iv);
      __m128i p16 = _mm_packs_epi32(_mm256_castsi256_si128(iv), _mm256_extracti128_si256(iv, 1));
      if (xq8)
        _mm_storel_epi64((__m128i *)(xq8 + r * kp + i), _mm_packus_epi16(p16, p16));
      else
        _mm_storeu_si128((__m128i *)(xq16 + r * kp + i), p16);
    }
    int32_t s[8];
    _mm256_storeu_si256((__m256i *)s, vs);
    int32_t sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    for (; i < kp; i++) {
      int32_t v = i < k ? quant_u8(xr[i], q) : 0;
      top = v > top ? v : top;
      if (xq8)
        xq8[r * kp + i] = (uint8_t)v;
      else
        xq16[r * kp + i] = (int16_t)v;
      sum += v;
    }
    xsum[r] = sum;
  }
  int32_t m[8];
  _mm256_storeu_si256((__m256i *)m, vmax);
  for (int j = 0; j < 8; j++)
    top = m[j] > top ? m[j] : top;
  return top;
}
#endif

static int32_t qd_quant_rows_c(const float *x, int64_t rows, int64_t k, int64_t kp,
                               const act_qparams *q, int16_t *xq16, uint8_t *xq8, int32_t *xsum) {
  int32_t top = 0;
  for (int64_t r = 0; r < rows; r++) {
    int32_t sum = 0;
    for (int64_t i = 0; i < kp; i++) {
      int32_t v = i < k ? quant_u8(x[r * k + i], q) : 0;
      top = v > top ? v : top;
      if (xq8)
        xq8[r * kp + i] = (uint8_t)v;
      else
        xq16[r * kp + i] = (int16_t)v;
      sum += v;
    }
    xsum[r] = sum;
  }
  return top;
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
#if defined(PTL_QDYN_HAVE_NEON)
  bool neondot = ptl_qdyn_neon_has_dot();
#else
  bool neondot = false;
#endif
  /* 7-bit activations take the pmaddubsw kernel, with its own packing (k quads); on arm64
   * with SDOT both engines take the k-quad packing */
  int g = reduce_range || neondot ? 4 : 2;
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = g == 4 ? 0x51445538u  /* "QDU8": k-quad panels (pmaddubsw, SDOT) */
                  : 0x5144594eu; /* "QDYN": k-pair panels for pmaddwd */
  key[2] = (uint64_t)n;
  key[3] = (uint64_t)k;
  key[4] = (uint64_t)(uintptr_t)ptl_tensor_data(w);
  key[5] = (uint64_t)w->strides[0];
  key[6] = (uint64_t)w->strides[1];
  qd_packed *pk = ptl_packed_find(w, key);
  if (!pk) {
    PTL_CHECK(qd_pack(w, g, &pk));
    ptl_status s = ptl_packed_add(w, key, pk, qd_packed_destroy);
    if (s != PTL_OK)
      return s;
  }
  ptl_tensor *xc = NULL;
  PTL_CHECK(ptl_tensor_contiguous((ptl_tensor *)x, &xc));
  const float *xd = ptl_tensor_data(xc);
  bool avx2 = ptl_cpu_has_avx2_fma();
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
#if defined(PTL_QDYN_HAVE_NEON)
  int kernel = neondot ? QD_KERNEL_NEONDOT : QD_KERNEL_NEON;
  (void)avx2;
#else
  int kernel = avx2 ? QD_KERNEL_AVX2 : QD_KERNEL_C;
#endif
  act_qparams q;
  ptl_status s = choose_qparams(mn, mx, reduce_range, &q);
  int64_t kp = pk->kp;
  int16_t *xq16 = NULL;
  uint8_t *xq8 = NULL;
  if (s == PTL_OK) {
    if (g == 4)
      xq8 = malloc((size_t)(rows * kp));
    else
      xq16 = malloc(sizeof(int16_t) * (size_t)(rows * kp));
  }
  int32_t *xsum = malloc(sizeof(int32_t) * (size_t)rows);
  float *mult = malloc(sizeof(float) * (size_t)n);
  float *wscale = malloc(sizeof(float) * (size_t)n);
  int32_t *wzp = malloc(sizeof(int32_t) * (size_t)(n + QD_NR));
  if (s == PTL_OK && ((!xq8 && !xq16) || !xsum || !mult || !wscale || !wzp))
    s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "dynamic_linear: out of memory");
  if (s == PTL_OK) {
    int32_t top;
#ifdef PTL_QDYN_HAVE_AVX2
    if (avx2)
      top = qd_quant_rows_avx2(xd, rows, k, kp, &q, xq16, xq8, xsum);
    else
#endif
      top = qd_quant_rows_c(xd, rows, k, kp, &q, xq16, xq8, xsum);
    /* the header's bound (<= 128) makes pmaddubsw exact; should a value ever exceed it,
     * the reference computes the result instead of a saturated sum */
    if (g == 4 && top > 128 && kernel != QD_KERNEL_NEON && kernel != QD_KERNEL_NEONDOT)
      s = PTL_ERR_UNSUPPORTED;
  }
  if (s == PTL_OK) {
    weight_qparams(w, n, wscale, wzp);
    for (int64_t i = 0; i < n; i++)
      mult[i] = wscale[i] * q.scale;
    ptl_tensor *bc = NULL;
    if (bias)
      s = ptl_tensor_contiguous((ptl_tensor *)bias, &bc);
    if (s == PTL_OK) {
      qd_ctx ctx = {pk,
                    xq16,
                    xq8,
                    xsum,
                    q.zp,
                    rows,
                    mult,
                    wzp,
                    bc ? ptl_tensor_data(bc) : NULL,
                    ptl_tensor_data(y),
                    relu,
                    reduce_range,
                    1};
      int64_t panels = (n + QD_NR - 1) / QD_NR;
      /* a few tasks per thread of work: panels grouped so each task streams a
       * contiguous slice of the packed weight */
      ctx.panels_per_task = panels >= 64 ? 4 : 1;
      ctx.neondot = neondot;
      size_t tasks = (size_t)((panels + ctx.panels_per_task - 1) / ctx.panels_per_task);
      if (tasks > 1 && rows * k * n >= 32768)
        ptl_parallel_for(qd_task, &ctx, tasks);
      else
        for (size_t t = 0; t < tasks; t++)
          qd_task(&ctx, t);
      atomic_fetch_add(&qd_kernel_runs[kernel], 1);
      ptl_tensor_release(bc);
    }
  }
  free(xq16), free(xq8), free(xsum), free(mult), free(wscale), free(wzp);
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
