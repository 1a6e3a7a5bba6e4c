/* quant.c - quantized tensors: QUANTIZE_PER_TENSOR, QUANTIZE_PER_CHANNEL,
 * DEQUANTIZE and INT_REPR.
 *
 * The arithmetic reproduces torch 2.13's CPU kernels bit for bit (checked
 * against torch on ties, saturation, NaN/inf, tiny and zero scales):
 *  - per tensor, quint8/qint8 (FBGEMM's vectorised Quantize):
 *      q = clamp(nearbyint(fma(x, 1/scale, zero_point)))   one rounding, in float
 *  - per tensor qint32 and every per-channel quantize (scalar quantize_val):
 *      q = clamp(nearbyint(float(x * (1/scale)) + zero_point))   two roundings
 *    The runtime is built with -std=c11, where GCC does not contract a*b+c into
 *    an FMA, so the two-rounding form stays two roundings.
 *  - NaN: torch's float->int conversions give per-tensor 8-bit qmax,
 *    per-channel 8-bit 0, and qint32 INT32_MIN everywhere. Copied as observed.
 *  - dequantize per tensor: float(int32(q - zp)) * float(scale), the subtraction
 *    wrapping in int32 as torch's vectorised kernel does for saturated qint32;
 *    per channel: float(double(float(q) - float(zp)) * double(scale)).
 * Torch keeps scales as double; ptl_qparams stores float, which is what torch's
 * quantize arithmetic uses anyway (it casts the scale to float). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static void qrange(ptl_dtype d, int64_t *qmin, int64_t *qmax) {
  switch (d) {
  case PTL_QUINT8: *qmin = 0, *qmax = 255; break;
  case PTL_QINT8: *qmin = -128, *qmax = 127; break;
  default: *qmin = INT32_MIN, *qmax = INT32_MAX; break;
  }
}

static ptl_status check_qdtype(int64_t code) {
  if (code != PTL_QUINT8 && code != PTL_QINT8 && code != PTL_QINT32) {
    if (code < 0 || code >= PTL_DTYPE_COUNT)
      return ptl_error(PTL_ERR_DTYPE, "quantize: invalid dtype code %lld", (long long)code);
    return ptl_error(PTL_ERR_DTYPE, "ScalarType %s is not supported in new_qtensor.",
                     ptl_torch_scalar_name((ptl_dtype)code));
  }
  return PTL_OK;
}

static ptl_status check_zero_point(const char *fn, ptl_dtype d, int64_t zp) {
  int64_t qmin, qmax;
  qrange(d, &qmin, &qmax);
  if (zp > qmax)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s zero_point %lld is above upper bound.", fn,
                     (long long)zp);
  if (zp < qmin)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s zero_point %lld is below lower bound.", fn,
                     (long long)zp);
  return PTL_OK;
}

/* Walks every element of a logical shape in row-major order, tracking the
 * element offset in two strided operands and the index along `axis`. */
typedef void (*elem_row_fn)(void *ctx, int64_t in_off, int64_t in_stride, int64_t out_off,
                            int64_t out_stride, int64_t n, int64_t chan, int64_t chan_step);

static void walk(int ndim, const int64_t *shape, const int64_t *in_st, int64_t in0,
                 const int64_t *out_st, int64_t out0, int axis, elem_row_fn fn, void *ctx) {
  int64_t numel = ptl_numel_of(ndim, shape);
  if (numel == 0)
    return;
  if (ndim == 0) {
    fn(ctx, in0, 0, out0, 0, 1, 0, 0);
    return;
  }
  int64_t idx[PTL_MAX_DIMS] = {0};
  int last = ndim - 1;
  int64_t rows = numel / shape[last];
  for (int64_t r = 0; r < rows; r++) {
    int64_t io = in0, oo = out0;
    for (int d = 0; d < last; d++) {
      io += idx[d] * in_st[d];
      oo += idx[d] * out_st[d];
    }
    int64_t chan = axis >= 0 && axis < last ? idx[axis] : 0;
    fn(ctx, io, in_st[last], oo, out_st[last], shape[last], chan, axis == last ? 1 : 0);
    for (int d = last - 1; d >= 0; d--) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
}

/* A channels-last input keeps its layout, as torch's quantize/dequantize do (they
 * follow suggest_memory_format: channels-last stays, any other layout becomes
 * contiguous), so a channels-last model stays channels-last end to end. */
static void keep_dense_layout(const ptl_tensor *x, ptl_tensor_desc *out) {
  if (x->ndim == 4 && !ptl_tensor_is_contiguous(x) && ptl_tensor_is_channels_last(x)) {
    out->has_strides = true;
    ptl_channels_last_strides(x->shape, out->strides);
  }
}

/* ---- quantize ------------------------------------------------------------ */
ptl_status ptl_quantize_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  bool per_channel = call->op == PTL_OP_QUANTIZE_PER_CHANNEL;
  const char *fn =
      per_channel ? "quantize_tensor_per_channel_affine" : "quantize_tensor_per_tensor_affine";
  if (per_channel ? a->n_ints < 2 : a->n_ints < 2 || a->n_floats < 1)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: missing attributes", ptl_op_name(call->op));
  ptl_dtype qd = (ptl_dtype)a->ints[1];
  if (per_channel) {
    const ptl_tensor *s = call->in[1], *z = call->in[2];
    if (s->ndim != 1)
      return ptl_error(PTL_ERR_SHAPE, "scale tensor must have dimension 1");
    if (z->ndim != 1)
      return ptl_error(PTL_ERR_SHAPE, "zero_points tensor must have dimension 1");
    if (s->shape[0] != z->shape[0])
      return ptl_error(PTL_ERR_SHAPE, "number of elements in scales and zero_points must match");
    if (s->dtype != PTL_FLOAT32) {
      if (!ptl_dtype_is_float(s->dtype))
        return ptl_error(PTL_ERR_DTYPE, "scale tensor must be floating point");
      return ptl_error(PTL_ERR_DTYPE, "quantize_per_channel: scales must be float32, got %s",
                       ptl_dtype_name(s->dtype));
    }
    if (ptl_dtype_is_float(z->dtype) || ptl_dtype_is_quantized(z->dtype) || z->dtype == PTL_BOOL)
      return ptl_error(PTL_ERR_UNSUPPORTED,
                       "quantize_per_channel: zero_points must be an integer tensor, got %s "
                       "(per_channel_affine_float_qparams is not supported)",
                       ptl_dtype_name(z->dtype));
  }
  PTL_CHECK(check_qdtype(qd));
  if (x->dtype != PTL_FLOAT32) {
    if (per_channel)
      return ptl_error(PTL_ERR_DTYPE, "%s expects a Float Tensor, got %s", fn,
                       ptl_torch_scalar_name(x->dtype));
    return ptl_error(PTL_ERR_DTYPE, "Quantize only works on Float Tensor, got %s",
                     ptl_torch_scalar_name(x->dtype));
  }
  if (per_channel) {
    int64_t axis = a->ints[0], C = call->in[1]->shape[0];
    if (axis < 0 || axis >= x->ndim)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "Channel axis out of range in per channel affine quantization. Got: "
                       "%lldExpected: [0, %d)",
                       (long long)axis, x->ndim);
    if (x->shape[axis] != C)
      return ptl_error(PTL_ERR_SHAPE,
                       "length of scales must equal to channel, expected %lld got, %lld",
                       (long long)x->shape[axis], (long long)C);
    const ptl_tensor *z = call->in[2];
    const char *zb = ptl_tensor_data(z);
    for (int64_t c = 0; c < C; c++)
      PTL_CHECK(check_zero_point(fn, qd, ptl_load_i64(z->dtype, zb, c * z->strides[0])));
  } else {
    PTL_CHECK(check_zero_point(fn, qd, a->ints[0]));
  }
  out->dtype = qd;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  keep_dense_layout(x, out);
  return PTL_OK;
}

typedef struct {
  const float *x;
  void *q;
  ptl_dtype qd;
  bool fused; /* one rounding (fma) vs two */
  int64_t nan_value;
  const float *inv; /* per channel (count 1 for per tensor) */
  const float *zpf;
} quant_ctx;

static inline int64_t quant_one(const quant_ctx *c, float x, int64_t ch, int64_t qmin,
                                int64_t qmax) {
  float v = c->fused ? fmaf(x, c->inv[ch], c->zpf[ch]) : x * c->inv[ch] + c->zpf[ch];
  v = nearbyintf(v);
  if (isnan(v))
    return c->nan_value;
  double d = (double)v;
  return d <= (double)qmin ? qmin : d >= (double)qmax ? qmax : (int64_t)d;
}

static void quant_row(void *vctx, int64_t io, int64_t is, int64_t oo, int64_t os, int64_t n,
                      int64_t ch, int64_t ch_step) {
  const quant_ctx *c = vctx;
  int64_t qmin, qmax;
  qrange(c->qd, &qmin, &qmax);
  for (int64_t i = 0; i < n; i++, ch += ch_step) {
    int64_t q = quant_one(c, c->x[io + i * is], ch, qmin, qmax);
    int64_t o = oo + i * os;
    switch (c->qd) {
    case PTL_QUINT8: ((uint8_t *)c->q)[o] = (uint8_t)q; break;
    case PTL_QINT8: ((int8_t *)c->q)[o] = (int8_t)q; break;
    default: ((int32_t *)c->q)[o] = (int32_t)q; break;
    }
  }
}

ptl_status ptl_quantize_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  const ptl_attrs *a = call->attrs;
  bool per_channel = call->op == PTL_OP_QUANTIZE_PER_CHANNEL;
  ptl_dtype qd = y->dtype;
  int64_t C = per_channel ? call->in[1]->shape[0] : 1;
  int axis = per_channel ? (int)a->ints[0] : -1;
  float *scale = malloc(sizeof(float) * (size_t)(C > 0 ? C : 1));
  float *inv = malloc(sizeof(float) * (size_t)(C > 0 ? C : 1));
  float *zpf = malloc(sizeof(float) * (size_t)(C > 0 ? C : 1));
  int32_t *zp = malloc(sizeof(int32_t) * (size_t)(C > 0 ? C : 1));
  ptl_status s = PTL_OK;
  if (!scale || !inv || !zpf || !zp) {
    s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
    goto done;
  }
  if (per_channel) {
    const ptl_tensor *st = call->in[1], *zt = call->in[2];
    const float *sd = ptl_tensor_data(st);
    const char *zd = ptl_tensor_data(zt);
    for (int64_t c = 0; c < C; c++) {
      scale[c] = sd[c * st->strides[0]];
      zp[c] = (int32_t)ptl_load_i64(zt->dtype, zd, c * zt->strides[0]);
    }
  } else {
    scale[0] = (float)a->floats[0];
    zp[0] = (int32_t)a->ints[0];
  }
  for (int64_t c = 0; c < C; c++) {
    inv[c] = 1.0f / scale[c];
    zpf[c] = (float)zp[c];
  }
  quant_ctx ctx = {
      ptl_tensor_data(x), ptl_tensor_data(y), qd, !per_channel && qd != PTL_QINT32, 0, inv, zpf};
  if (qd == PTL_QINT32)
    ctx.nan_value = INT32_MIN;
  else if (!per_channel)
    ctx.nan_value = qd == PTL_QUINT8 ? 255 : 127;
  walk(x->ndim, x->shape, x->strides, 0, y->strides, 0, axis, quant_row, &ctx);
  s = ptl_qparams_set(y,
                      per_channel ? PTL_QSCHEME_PER_CHANNEL_AFFINE : PTL_QSCHEME_PER_TENSOR_AFFINE,
                      per_channel ? axis : 0, C, scale, zp);
done:
  free(scale);
  free(inv);
  free(zpf);
  free(zp);
  return s;
}

/* ---- quantize fast path --------------------------------------------------- */
/* Per-tensor quint8/qint8 of a float32 tensor whose output has the input's dense layout:
 * the same arithmetic as quant_one, 8 lanes at a time. vfmadd is fmaf (one rounding),
 * round-to-nearest under the default mode is nearbyintf, max/min against the range leave
 * a NaN lane at qmin, which is then replaced by the NaN value: identical bits. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PTL_QUANT_AVX2 1

typedef struct {
  const float *x;
  void *q;
  int64_t n;
  float inv, zpf, qmin, qmax, nan_value;
  bool u8;
} qfast_job;

#define QFAST_CHUNK 65536

__attribute__((target("avx2,fma"))) static void qfast_chunk(void *vj, size_t ci) {
  const qfast_job *j = vj;
  int64_t s = (int64_t)ci * QFAST_CHUNK, e = j->n - s < QFAST_CHUNK ? j->n : s + QFAST_CHUNK;
  const __m256 inv = _mm256_set1_ps(j->inv), zp = _mm256_set1_ps(j->zpf);
  const __m256 lo = _mm256_set1_ps(j->qmin), hi = _mm256_set1_ps(j->qmax);
  const __m256 nanv = _mm256_set1_ps(j->nan_value);
  int64_t i = s;
  for (; i + 8 <= e; i += 8) {
    __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(j->x + i), inv, zp);
    v = _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 isnan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
    v = _mm256_blendv_ps(v, nanv, isnan);
    __m256i i32 = _mm256_cvtps_epi32(v);
    __m128i i16 = _mm_packs_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));
    __m128i b = j->u8 ? _mm_packus_epi16(i16, i16) : _mm_packs_epi16(i16, i16);
    _mm_storel_epi64((__m128i *)((char *)j->q + i), b);
  }
  for (; i < e; i++) {
    float v = nearbyintf(fmaf(j->x[i], j->inv, j->zpf));
    float r = v != v ? j->nan_value : v < j->qmin ? j->qmin : v > j->qmax ? j->qmax : v;
    if (j->u8)
      ((uint8_t *)j->q)[i] = (uint8_t)(int)r;
    else
      ((int8_t *)j->q)[i] = (int8_t)(int)r;
  }
}
#endif

ptl_status ptl_quantize_fast(const ptl_call *call) {
#ifdef PTL_QUANT_AVX2
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (x->dtype != PTL_FLOAT32 || (y->dtype != PTL_QUINT8 && y->dtype != PTL_QINT8) ||
      !ptl_tensor_is_dense(y) || !ptl_cpu_has_avx2_fma())
    return PTL_ERR_UNSUPPORTED;
  for (int d = 0; d < y->ndim; d++)
    if (y->shape[d] != 1 && x->strides[d] != y->strides[d])
      return PTL_ERR_UNSUPPORTED;
  float scale = (float)call->attrs->floats[0];
  int32_t zp = (int32_t)call->attrs->ints[0];
  bool u8 = y->dtype == PTL_QUINT8;
  qfast_job j = {ptl_tensor_data(x),
                 ptl_tensor_data(y),
                 ptl_tensor_numel(y),
                 1.0f / scale,
                 (float)zp,
                 u8 ? 0.0f : -128.0f,
                 u8 ? 255.0f : 127.0f,
                 u8 ? 255.0f : 127.0f,
                 u8};
  if (j.n > 0)
    ptl_parallel_for(qfast_chunk, &j, (size_t)((j.n + QFAST_CHUNK - 1) / QFAST_CHUNK));
  return ptl_qparams_set_per_tensor(y, scale, zp);
#else
  (void)call;
  return PTL_ERR_UNSUPPORTED;
#endif
}

/* ---- dequantize / int_repr ----------------------------------------------- */
static ptl_status check_quantized(const char *op, const ptl_tensor *q) {
  if (!ptl_dtype_is_quantized(q->dtype))
    return ptl_error(PTL_ERR_DTYPE, "%s: expected a quantized tensor, got %s", op,
                     ptl_dtype_name(q->dtype));
  const ptl_qparams *p = q->qparams;
  if (!p || p->count < 1)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: quantized tensor has no quantization parameters", op);
  bool per_channel =
      p->scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE || p->scheme == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC;
  if (per_channel && (p->axis < 0 || p->axis >= q->ndim || q->shape[p->axis] != p->count))
    return ptl_error(PTL_ERR_SHAPE, "%s: per-channel axis %d with %lld scales does not fit shape",
                     op, (int)p->axis, (long long)p->count);
  return PTL_OK;
}

ptl_status ptl_dequantize_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *q = call->in[0];
  PTL_CHECK(check_quantized("dequantize", q));
  out->dtype = PTL_FLOAT32;
  out->ndim = q->ndim;
  memcpy(out->shape, q->shape, sizeof(int64_t) * (size_t)q->ndim);
  keep_dense_layout(q, out);
  return PTL_OK;
}

typedef struct {
  const void *q;
  ptl_dtype qd;
  float *y;
  const ptl_qparams *p;
  bool per_channel;
} deq_ctx;

static inline int64_t load_q(ptl_dtype d, const void *b, int64_t i) {
  switch (d) {
  case PTL_QUINT8: return ((const uint8_t *)b)[i];
  case PTL_QINT8: return ((const int8_t *)b)[i];
  default: return ((const int32_t *)b)[i];
  }
}

static void deq_row(void *vctx, int64_t io, int64_t is, int64_t oo, int64_t os, int64_t n,
                    int64_t ch, int64_t ch_step) {
  const deq_ctx *c = vctx;
  for (int64_t i = 0; i < n; i++, ch += ch_step) {
    int64_t q = load_q(c->qd, c->q, io + i * is);
    float v;
    if (c->per_channel) {
      float diff = (float)q - (float)c->p->zero_point[ch];
      v = (float)((double)diff * (double)c->p->scale[ch]);
    } else {
      /* torch subtracts in int32 (wrapping for saturated qint32 values) */
      int32_t diff = (int32_t)((uint32_t)q - (uint32_t)c->p->zero_point[0]);
      v = (float)diff * c->p->scale[0];
    }
    c->y[oo + i * os] = v;
  }
}

ptl_status ptl_dequantize_ref(const ptl_call *call) {
  const ptl_tensor *q = call->in[0];
  ptl_tensor *y = call->out[0];
  const ptl_qparams *p = q->qparams;
  bool per_channel =
      p->scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE || p->scheme == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC;
  deq_ctx ctx = {ptl_tensor_data(q), q->dtype, ptl_tensor_data(y), p, per_channel};
  walk(q->ndim, q->shape, q->strides, 0, y->strides, 0, per_channel ? p->axis : -1, deq_row, &ctx);
  return PTL_OK;
}

ptl_status ptl_int_repr_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *q = call->in[0];
  if (!ptl_dtype_is_quantized(q->dtype))
    return ptl_error(PTL_ERR_DTYPE, "int_repr: expected a quantized tensor, got %s",
                     ptl_dtype_name(q->dtype));
  out->dtype = q->dtype == PTL_QUINT8 ? PTL_UINT8 : q->dtype == PTL_QINT8 ? PTL_INT8 : PTL_INT32;
  out->ndim = q->ndim;
  memcpy(out->shape, q->shape, sizeof(int64_t) * (size_t)q->ndim);
  keep_dense_layout(q, out);
  return PTL_OK;
}

typedef struct {
  const char *src;
  char *dst;
  size_t isz;
} repr_ctx;

static void repr_row(void *vctx, int64_t io, int64_t is, int64_t oo, int64_t os, int64_t n,
                     int64_t ch, int64_t ch_step) {
  (void)ch;
  (void)ch_step;
  const repr_ctx *c = vctx;
  int64_t sz = (int64_t)c->isz;
  if (is == 1 && os == 1) {
    memcpy(c->dst + oo * sz, c->src + io * sz, (size_t)n * c->isz);
    return;
  }
  for (int64_t i = 0; i < n; i++)
    memcpy(c->dst + (oo + i * os) * sz, c->src + (io + i * is) * sz, c->isz);
}

ptl_status ptl_int_repr_ref(const ptl_call *call) {
  const ptl_tensor *q = call->in[0];
  ptl_tensor *y = call->out[0];
  repr_ctx ctx = {ptl_tensor_data(q), ptl_tensor_data(y), ptl_dtype_size(q->dtype)};
  walk(q->ndim, q->shape, q->strides, 0, y->strides, 0, -1, repr_row, &ctx);
  return PTL_OK;
}
