/* activation.c - activations, prelu, softmax / log_softmax and dropout.
 *
 * REF is the definition (tanh via tanhf, gelu via erff, ...), computed in
 * float32 for float16 storage, walking any strides. FAST uses XNNPACK on dense
 * float32 tensors (output takes the input's layout, so NCHW, channels-last and
 * any other dense order are one flat array) and falls back otherwise.
 *   exact vs REF: relu, hardtanh, hardswish (own vectorized threaded loops:
 *     XNNPACK's clamp drops NaN, its hardswish rounds differently), leaky_relu
 *     and prelu (XNNPACK), softmax along a non-last dim (own blocked loops);
 *   within ~1e-6: sigmoid, elu (alpha only), softmax along the last dim
 *     (XNNPACK; rows with inf/NaN go to REF, where XNNPACK differs from torch), tanh
 *     (glibc's libmvec, within 4 ulp of tanhf).
 * Operators without weights are cached in global slots keyed by their
 * parameters; prelu's operator, which packs the slopes, is cached on the weight
 * tensor (key: weight version, data pointer, channels). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

/* glibc >= 2.35 ships vector tanhf in libmvec (<= 4 ulp from tanhf, any x86-64 CPU: the
 * symbol is an IFUNC picking SSE4/AVX2/AVX-512). Other C libraries (Android's bionic,
 * Apple's) keep the reference loop. */
#if defined(__GLIBC__) && defined(__x86_64__) &&                                                   \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#include <immintrin.h>
#define PTL_HAVE_MVEC_TANH 1
__m128 _ZGVbN4v_tanhf(__m128 x);
#endif

#include "../internal.h"

static bool is_float(ptl_dtype d) {
  return d == PTL_FLOAT32 || d == PTL_FLOAT16;
}

static inline float ld_f(ptl_dtype d, const char *p, int64_t i) {
  switch (d) {
  case PTL_FLOAT32: return ((const float *)p)[i];
  case PTL_FLOAT16: return ptl_half_to_float(((const uint16_t *)p)[i]);
  default: return (float)ptl_load_f64(d, p, i);
  }
}

static inline void st_f(ptl_dtype d, char *p, int64_t i, float v) {
  switch (d) {
  case PTL_FLOAT32: ((float *)p)[i] = v; break;
  case PTL_FLOAT16: ((uint16_t *)p)[i] = ptl_float_to_half(v); break;
  default: ptl_store_f64(d, p, i, v); break;
  }
}

/* Same shape as x; a dense x lends its strides (torch's preserve_format). */
static void same_as_input(const ptl_tensor *x, ptl_dtype dtype, ptl_tensor_desc *out) {
  out->dtype = dtype;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  if (ptl_tensor_is_dense(x) && !ptl_tensor_is_contiguous(x)) {
    out->has_strides = true;
    memcpy(out->strides, x->strides, sizeof(int64_t) * (size_t)x->ndim);
  }
}

/* A caller-provided output (in-place) keeps its dtype if the result casts to it. */
static ptl_status check_out(const ptl_call *call, ptl_dtype rt, ptl_tensor_desc *out) {
  const ptl_tensor *o = call->out[0];
  if (o && o->dtype != rt) {
    if (is_float(rt) && !is_float(o->dtype))
      return ptl_error(PTL_ERR_DTYPE,
                       "%s: result type Float can't be cast to the desired "
                       "output type %s",
                       ptl_op_name(call->op), ptl_torch_scalar_name(o->dtype));
    out->dtype = o->dtype;
  }
  return PTL_OK;
}

ptl_status ptl_activation_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  const char *op = ptl_op_name(call->op);
  ptl_dtype rt = x->dtype;
  bool int_ok = call->op == PTL_OP_RELU || call->op == PTL_OP_HARDTANH;
  bool promotes = call->op == PTL_OP_SIGMOID || call->op == PTL_OP_TANH;
  if (ptl_dtype_is_quantized(x->dtype)) {
    bool q_ok = call->op == PTL_OP_RELU || call->op == PTL_OP_HARDTANH ||
                call->op == PTL_OP_SIGMOID || call->op == PTL_OP_TANH ||
                call->op == PTL_OP_LEAKY_RELU;
    if (!q_ok || x->dtype != PTL_QUINT8)
      return ptl_error(PTL_ERR_DTYPE, "%s: quantized input %s is not supported%s", op,
                       ptl_dtype_name(x->dtype), q_ok ? " (only quint8)" : "");
    if (!x->qparams || x->qparams->count != 1)
      return ptl_error(PTL_ERR_UNSUPPORTED, "%s: only per-tensor quantized inputs are supported",
                       op);
    /* torch's quantized activations return suggest_memory_format results:
     * channels-last for a channels-last 4-d input, contiguous otherwise */
    out->dtype = PTL_QUINT8;
    out->ndim = x->ndim;
    memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    if (x->ndim == 4 && ptl_tensor_is_channels_last(x) && !ptl_tensor_is_contiguous(x)) {
      out->has_strides = true;
      ptl_channels_last_strides(x->shape, out->strides);
    }
    return check_out(call, PTL_QUINT8, out);
  }
  if (!is_float(x->dtype)) {
    if (promotes)
      rt = PTL_FLOAT32;
    else if (!int_ok || x->dtype == PTL_BOOL)
      return ptl_error(PTL_ERR_DTYPE, "%s: \"%s\" not implemented for '%s'", op, op,
                       ptl_torch_scalar_name(x->dtype));
  }
  if (call->op == PTL_OP_DROPOUT) {
    double p = call->attrs->n_floats > 0 ? call->attrs->floats[0] : 0.5;
    if (!(p >= 0 && p <= 1))
      return ptl_error(PTL_ERR_VALUE, "dropout probability has to be between 0 and 1, but got %g",
                       p);
  }
  if (call->op == PTL_OP_GELU && call->attrs->n_ints > 0 &&
      (call->attrs->ints[0] < 0 || call->attrs->ints[0] > 1))
    return ptl_error(PTL_ERR_VALUE, "gelu: approximate code %lld is not 0 (none) or 1 (tanh)",
                     (long long)call->attrs->ints[0]);
  same_as_input(x, rt, out);
  return check_out(call, rt, out);
}

typedef struct {
  int op;
  float p[3];
  int approx;
  ptl_dtype dt[2];
  char *base[2];
  bool int_path;
} act_ctx;

static inline float hardtanh_f(float x, float lo, float hi) {
  if (x != x)
    return x;
  return x < lo ? lo : x > hi ? hi : x;
}

static inline float act_f(const act_ctx *c, float x) {
  switch (c->op) {
  case PTL_OP_RELU: return x < 0 ? 0.0f : x; /* NaN and -0.0 pass through, as torch */
  case PTL_OP_HARDTANH: return hardtanh_f(x, c->p[0], c->p[1]);
  case PTL_OP_SIGMOID: return 1.0f / (1.0f + expf(-x));
  case PTL_OP_TANH: return tanhf(x);
  case PTL_OP_GELU:
    if (c->approx) {
      const float k = 0.79788456080286535588f; /* sqrt(2 / pi) */
      float inner = k * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tanhf(inner));
    }
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
  case PTL_OP_SILU: return x / (1.0f + expf(-x));
  case PTL_OP_LEAKY_RELU: return x > 0 ? x : x * c->p[0];
  case PTL_OP_ELU:
    /* torch: x > 0 ? x * scale : (exp(x * input_scale) - 1) * alpha * scale */
    return x > 0 ? x * c->p[1] : expm1f(x * c->p[2]) * c->p[0] * c->p[1];
  case PTL_OP_HARDSWISH: return x * hardtanh_f(x + 3.0f, 0.0f, 6.0f) / 6.0f;
  case PTL_OP_HARDSIGMOID: return hardtanh_f(x + 3.0f, 0.0f, 6.0f) / 6.0f;
  default: return 0;
  }
}

static void act_setup(const ptl_call *call, act_ctx *c) {
  memset(c, 0, sizeof *c);
  const ptl_attrs *a = call->attrs;
  c->op = call->op;
  switch (call->op) {
  case PTL_OP_HARDTANH:
    c->p[0] = a->n_floats > 0 ? (float)a->floats[0] : -1.0f;
    c->p[1] = a->n_floats > 1 ? (float)a->floats[1] : 1.0f;
    break;
  case PTL_OP_LEAKY_RELU: c->p[0] = a->n_floats > 0 ? (float)a->floats[0] : 0.01f; break;
  case PTL_OP_ELU:
    for (int i = 0; i < 3; i++)
      c->p[i] = a->n_floats > i ? (float)a->floats[i] : 1.0f;
    break;
  case PTL_OP_GELU: c->approx = a->n_ints > 0 ? (int)a->ints[0] : 0; break;
  default: break;
  }
  c->dt[0] = call->out[0]->dtype;
  c->dt[1] = call->in[0]->dtype;
  c->base[0] = ptl_tensor_data(call->out[0]);
  c->base[1] = ptl_tensor_data(call->in[0]);
  c->int_path = !is_float(c->dt[0]);
}

static void act_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const act_ctx *c = vc;
  for (int64_t i = 0; i < n; i++) {
    int64_t si = off[1] + i * st[1], di = off[0] + i * st[0];
    if (c->int_path) {
      /* relu / hardtanh of integers stay integers */
      int64_t v = ptl_load_i64(c->dt[1], c->base[1], si);
      if (c->op == PTL_OP_RELU)
        v = v > 0 ? v : 0;
      else
        v = v < (int64_t)c->p[0] ? (int64_t)c->p[0] : v > (int64_t)c->p[1] ? (int64_t)c->p[1] : v;
      ptl_store_f64(c->dt[0], c->base[0], di, (double)v);
    } else {
      st_f(c->dt[0], c->base[0], di, act_f(c, ld_f(c->dt[1], c->base[1], si)));
    }
  }
}

/* Walks (y, x) of the same shape in the output's memory order. */
static void walk2(const ptl_tensor *y, const ptl_tensor *x, ptl_row_fn fn, void *ctx) {
  int nd = y->ndim, perm[PTL_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    int j = i;
    while (j > 0 && y->strides[perm[j - 1]] < y->strides[i]) {
      perm[j] = perm[j - 1];
      j--;
    }
    perm[j] = i;
  }
  int64_t shape[PTL_MAX_DIMS], st[2][PTL_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    shape[i] = y->shape[perm[i]];
    st[0][i] = y->strides[perm[i]];
    st[1][i] = x->strides[perm[i]];
  }
  ptl_for_each_row(nd, shape, 2, (const int64_t(*)[PTL_MAX_DIMS])st, fn, ctx);
}

/* ---- quint8 -----------------------------------------------------------------
 * torch's quantized activations (qnnpack engine), as a 256-entry table over the
 * input codes; checked against torch on every code:
 *  - relu: max(q, zp); hardtanh / relu6 (torch's quantized clamp): the bounds
 *    quantized with the input's qparams (nearbyint(float(b * (1 / s)) + zp)),
 *    then an integer clamp. Both keep the input's qparams.
 *  - leaky_relu: torch's kernel; its vector steps dequantize as fma(q, s, -zp * s)
 *    and quantize as nearbyint(x * (1 / s)) + zp, its scalar row tails as
 *    (q - zp) * s and nearbyint(x * (1 / s) + zp).
 *  - sigmoid / tanh: QNNPACK's tables with torch's fixed output qparams
 *    (1/256, 0) and (1/128, 128): nearbyint(f(s * (q - zp)) * (1 / so)) + zo. */
typedef struct {
  const uint8_t *x;
  uint8_t *y;
  uint8_t lut[256];
  bool split;
  int64_t vec_end; /* output offsets below it use lut, the rest tail */
  uint8_t tail[256];
} qlut_ctx;

/* Torch's leaky_relu makes its input contiguous and runs one row over the dense
 * output: vector steps of 64 quint8, then a scalar tail that rounds differently. */
static void qlut_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const qlut_ctx *c = vc;
  const uint8_t *x = c->x + off[1];
  uint8_t *y = c->y + off[0];
  for (int64_t i = 0; i < n; i++) {
    int64_t o = i * st[0];
    y[o] = (off[0] + o < c->vec_end ? c->lut : c->tail)[x[i * st[1]]];
  }
}

static uint8_t q_clampf(float v) {
  return v < 0.0f ? 0 : v > 255.0f ? 255 : (uint8_t)v;
}

/* ---- quint8 fast path: x and y in one dense layout (element i at flat offset
 * i in both, y possibly x itself) run as flat chunks on the threadpool; relu and
 * hardtanh as a byte clamp (pmaxub / pminub once vectorized), the other tables
 * byte by byte. Each byte maps through the same table as the reference walk
 * (leaky_relu's row split is a flat output offset there too), so the bits are
 * the same whatever the split. */
#define QCHUNK 32768

typedef struct {
  const qlut_ctx *c;
  int64_t n;
  uint8_t lo, hi;
  bool clamp;
} qjob;

static void q_clamp_inplace(uint8_t *y, int64_t n, uint8_t lo, uint8_t hi) {
  for (int64_t k = 0; k < n; k++) {
    uint8_t v = y[k] < lo ? lo : y[k];
    y[k] = v > hi ? hi : v;
  }
}

static void q_clamp(const uint8_t *restrict x, uint8_t *restrict y, int64_t n, uint8_t lo,
                    uint8_t hi) {
  for (int64_t k = 0; k < n; k++) {
    uint8_t v = x[k] < lo ? lo : x[k];
    y[k] = v > hi ? hi : v;
  }
}

static void q_chunk(void *vj, size_t i) {
  const qjob *j = vj;
  const qlut_ctx *c = j->c;
  int64_t s = (int64_t)i * QCHUNK, len = j->n - s < QCHUNK ? j->n - s : QCHUNK;
  const uint8_t *x = c->x + s;
  uint8_t *y = c->y + s;
  if (j->clamp) {
    if (x == y)
      q_clamp_inplace(y, len, j->lo, j->hi);
    else
      q_clamp(x, y, len, j->lo, j->hi);
    return;
  }
  for (int64_t k = 0; k < len; k++)
    y[k] = (s + k < c->vec_end ? c->lut : c->tail)[x[k]];
}

static ptl_status q_activation(const ptl_call *call, bool fast) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  float s = x->qparams->scale[0], so = s;
  int32_t zp = x->qparams->zero_point[0], zo = zp;
  act_ctx a;
  act_setup(call, &a);
  if (call->op == PTL_OP_SIGMOID) {
    so = 1.0f / 256.0f;
    zo = 0;
  } else if (call->op == PTL_OP_TANH) {
    so = 1.0f / 128.0f;
    zo = 128;
  }
  int lo = 0, hi = 255;
  if (call->op == PTL_OP_RELU) {
    lo = zp;
  } else if (call->op == PTL_OP_HARDTANH) {
    float inv = 1.0f / s;
    lo = q_clampf(nearbyintf(a.p[0] * inv + (float)zp));
    hi = q_clampf(nearbyintf(a.p[1] * inv + (float)zp));
  }
  qlut_ctx c;
  c.split = call->op == PTL_OP_LEAKY_RELU;
  for (int q = 0; q < 256; q++) {
    switch (call->op) {
    case PTL_OP_RELU:
    case PTL_OP_HARDTANH: c.lut[q] = (uint8_t)(q < lo ? lo : q > hi ? hi : q); break;
    case PTL_OP_LEAKY_RELU: {
      float v = fmaf((float)q, s, s * (float)-zp);
      v = v > 0 ? v : v * a.p[0];
      c.lut[q] = q_clampf(nearbyintf(v * (1.0f / s)) + (float)zp);
      float t = (float)(q - zp) * s; /* scalar: plain dequantize, round once */
      t = t > 0 ? t : t * a.p[0];
      c.tail[q] = q_clampf(nearbyintf(t * (1.0f / s) + (float)zp));
      break;
    }
    default: {
      float v = s * (float)(q - zp);
      float r = act_f(&a, v) * (1.0f / so);
      c.lut[q] = q_clampf(nearbyintf(r + (float)zo));
      break;
    }
    }
  }
  if (!c.split)
    memcpy(c.tail, c.lut, sizeof c.lut);
  c.vec_end = c.split ? (ptl_tensor_is_dense(y) ? ptl_tensor_numel(y) / 64 * 64 : 0) : INT64_MAX;
  c.x = ptl_tensor_data(x);
  c.y = ptl_tensor_data(y);
  int64_t n = ptl_tensor_numel(y);
  if (n > 0 && fast && ptl_tensor_same_dense_layout(x, y)) {
    /* hardtanh with lo > hi (not a clamp any more) keeps the table */
    bool clamp = (call->op == PTL_OP_RELU || call->op == PTL_OP_HARDTANH) && lo <= hi;
    qjob j = {&c, n, (uint8_t)lo, (uint8_t)hi, clamp};
    ptl_parallel_for(q_chunk, &j, (size_t)((n + QCHUNK - 1) / QCHUNK));
  } else if (n > 0) {
    walk2(y, x, qlut_row, &c);
  }
  return ptl_qparams_set_per_tensor(y, so, zo);
}

ptl_status ptl_activation_ref(const ptl_call *call) {
  if (call->in[0]->dtype == PTL_QUINT8)
    return q_activation(call, false);
  act_ctx c;
  act_setup(call, &c);
  walk2(call->out[0], call->in[0], act_row, &c);
  return PTL_OK;
}

/* ---- XNNPACK operator cache (weightless operators) ------------------------ */
typedef struct {
  xnn_operator_t op;
  float p[2];
  size_t channels;
} xnn_slot;

enum { XA_SIGMOID, XA_LEAKY, XA_ELU, XA_SOFTMAX, XA_COUNT };
static _Atomic(xnn_slot *) g_slots[XA_COUNT];

/* Takes the cached operator of `kind` if its parameters match (else NULL);
 * concurrent callers never share one: a caller that finds the slot empty
 * builds its own, and the extra one is deleted on return. */
static xnn_slot *slot_take(int kind, const float *p, size_t channels) {
  xnn_slot *s = atomic_exchange(&g_slots[kind], NULL);
  if (s && (s->p[0] != p[0] || s->p[1] != p[1] || s->channels != channels)) {
    xnn_delete_operator(s->op);
    free(s);
    s = NULL;
  }
  return s;
}

static void slot_put(int kind, xnn_slot *s) {
  xnn_slot *expected = NULL;
  if (!atomic_compare_exchange_strong(&g_slots[kind], &expected, s)) {
    xnn_delete_operator(s->op);
    free(s);
  }
}

static bool xnn_dense_pair(const ptl_tensor *x, const ptl_tensor *y) {
  if (x->dtype != PTL_FLOAT32 || y->dtype != PTL_FLOAT32 || !ptl_tensor_is_dense(y))
    return false;
  for (int i = 0; i < y->ndim; i++)
    if (y->shape[i] != 1 && x->strides[i] != y->strides[i])
      return false;
  return true;
}

/* NaN-propagating clamp written with selects so it vectorizes; same result as
 * act_f's relu and hardtanh for every input */
#define CHUNK 32768
typedef struct {
  const float *x;
  float *y;
  int64_t n;
  float lo, hi;
  bool hardswish;
} clamp_job;

static void clamp_chunk(void *vj, size_t i) {
  const clamp_job *j = vj;
  int64_t s = (int64_t)i * CHUNK, len = j->n - s < CHUNK ? j->n - s : CHUNK;
  const float *restrict x = j->x + s;
  float *restrict y = j->y + s;
  const float lo = j->lo, hi = j->hi;
  if (j->hardswish) {
    /* act_f's x * hardtanh(x + 3, 0, 6) / 6, same operations in the same order */
    for (int64_t k = 0; k < len; k++) {
      float v = x[k], t = v + 3.0f;
      float r = t < 0.0f ? 0.0f : t;
      r = r > 6.0f ? 6.0f : r;
      r = t != t ? t : r;
      y[k] = v * r / 6.0f;
    }
    return;
  }
  for (int64_t k = 0; k < len; k++) {
    float v = x[k];
    float r = v < lo ? lo : v;
    r = r > hi ? hi : r;
    y[k] = v != v ? v : r;
  }
}

#ifdef PTL_HAVE_MVEC_TANH
/* Every element goes through the vector function, the last partial group via a padded
 * buffer, so an element's bits do not depend on its position or the thread count. */
static void tanh_chunk(void *vj, size_t i) {
  const clamp_job *j = vj;
  int64_t s = (int64_t)i * CHUNK, len = j->n - s < CHUNK ? j->n - s : CHUNK;
  const float *x = j->x + s;
  float *y = j->y + s;
  int64_t k = 0;
  for (; k + 4 <= len; k += 4)
    _mm_storeu_ps(y + k, _ZGVbN4v_tanhf(_mm_loadu_ps(x + k)));
  if (k < len) {
    float buf[4] = {0, 0, 0, 0};
    memcpy(buf, x + k, sizeof(float) * (size_t)(len - k));
    _mm_storeu_ps(buf, _ZGVbN4v_tanhf(_mm_loadu_ps(buf)));
    memcpy(y + k, buf, sizeof(float) * (size_t)(len - k));
  }
}
#endif

ptl_status ptl_activation_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *y = call->out[0];
  if (x->dtype == PTL_QUINT8)
    return q_activation(call, true); /* a table lookup / clamp: own loops */
  if (!xnn_dense_pair(x, y))
    return PTL_ERR_UNSUPPORTED;
  int64_t n = ptl_tensor_numel(y);
  if (n == 0)
    return PTL_OK;
#ifdef PTL_HAVE_MVEC_TANH
  if (call->op == PTL_OP_TANH) {
    clamp_job j = {ptl_tensor_data(x), ptl_tensor_data(y), n, 0, 0, false};
    ptl_parallel_for(tanh_chunk, &j, (size_t)((n + CHUNK - 1) / CHUNK));
    return PTL_OK;
  }
#endif
  act_ctx c;
  act_setup(call, &c);
  int kind;
  float p[2] = {0, 0};
  switch (call->op) {
  case PTL_OP_RELU:
  case PTL_OP_HARDTANH: {
    /* XNNPACK's clamp turns NaN into the bound (torch keeps NaN): own loop */
    if (call->op == PTL_OP_RELU) {
      c.p[0] = 0.0f;
      c.p[1] = INFINITY;
    } else if (!(c.p[0] <= c.p[1])) {
      return PTL_ERR_UNSUPPORTED;
    }
    clamp_job j = {ptl_tensor_data(x), ptl_tensor_data(y), n, c.p[0], c.p[1], false};
    ptl_parallel_for(clamp_chunk, &j, (size_t)((n + CHUNK - 1) / CHUNK));
    return PTL_OK;
  }
  case PTL_OP_SIGMOID: kind = XA_SIGMOID; break;
  case PTL_OP_LEAKY_RELU:
    kind = XA_LEAKY;
    p[0] = c.p[0];
    if (!isfinite(p[0]))
      return PTL_ERR_UNSUPPORTED;
    break;
  case PTL_OP_ELU:
    if (c.p[1] != 1.0f || c.p[2] != 1.0f || !(c.p[0] > 0) || !isfinite(c.p[0]))
      return PTL_ERR_UNSUPPORTED; /* XNNPACK's elu has alpha only */
    kind = XA_ELU;
    p[0] = c.p[0];
    break;
  case PTL_OP_HARDSWISH: {
    /* XNNPACK's hardswish rounds differently (up to 0.7% relative near x = -3) */
    clamp_job j = {ptl_tensor_data(x), ptl_tensor_data(y), n, 0, 0, true};
    ptl_parallel_for(clamp_chunk, &j, (size_t)((n + CHUNK - 1) / CHUNK));
    return PTL_OK;
  }
  default: return PTL_ERR_UNSUPPORTED;
  }
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  xnn_slot *s = slot_take(kind, p, 1);
  enum xnn_status st = xnn_status_success;
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return PTL_ERR_UNSUPPORTED;
    s->p[0] = p[0];
    s->p[1] = p[1];
    s->channels = 1;
    switch (kind) {
    case XA_SIGMOID: st = xnn_create_sigmoid_nc_f32(1, 1, 1, 0, &s->op); break;
    case XA_LEAKY: st = xnn_create_leaky_relu_nc_f32(1, 1, 1, p[0], 0, &s->op); break;
    default: st = xnn_create_elu_nc_f32(1, 1, 1, p[0], 0, &s->op); break;
    }
    if (st != xnn_status_success) {
      free(s);
      return PTL_ERR_UNSUPPORTED;
    }
  }
  /* dense with equal strides: element 0 is the start of both buffers */
  const float *px = ptl_tensor_data(x);
  float *py = ptl_tensor_data(y);
  pthreadpool_t tp = (pthreadpool_t)ptl_threadpool();
  size_t bn = (size_t)n;
  switch (kind) {
  case XA_SIGMOID: st = xnn_setup_sigmoid_nc_f32(s->op, bn, px, py, tp); break;
  case XA_LEAKY: st = xnn_setup_leaky_relu_nc_f32(s->op, bn, px, py, tp); break;
  default: st = xnn_setup_elu_nc_f32(s->op, bn, px, py, tp); break;
  }
  if (st == xnn_status_success)
    st = xnn_run_operator(s->op, tp);
  slot_put(kind, s);
  return st == xnn_status_success ? PTL_OK : PTL_ERR_UNSUPPORTED;
}

/* ---- prelu ---------------------------------------------------------------- */
ptl_status ptl_prelu_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  if (!is_float(x->dtype))
    return ptl_error(PTL_ERR_DTYPE, "prelu: \"prelu\" not implemented for '%s'",
                     ptl_torch_scalar_name(x->dtype));
  if (w->dtype != x->dtype)
    return ptl_error(PTL_ERR_DTYPE, "prelu: weight dtype %s does not match input dtype %s",
                     ptl_dtype_name(w->dtype), ptl_dtype_name(x->dtype));
  int64_t wn = ptl_tensor_numel(w);
  int64_t channels = x->ndim >= 2 ? x->shape[1] : 1;
  if (w->ndim > 1)
    return ptl_error(PTL_ERR_SHAPE, "prelu: weight must be 1-d or 0-d, got shape [%d dims]",
                     w->ndim);
  if (wn != 1 && wn != channels) {
    char b[PTL_SHAPE_BUF];
    return ptl_error(PTL_ERR_SHAPE,
                     "prelu: Mismatch of parameter numbers and input channel size. Found "
                     "parameter numbers = %lld and channel size = %lld (input shape %s).",
                     (long long)wn, (long long)channels, ptl_shape_str(x, b, sizeof b));
  }
  same_as_input(x, x->dtype, out);
  return check_out(call, x->dtype, out);
}

typedef struct {
  ptl_dtype dt[3];
  char *base[3];
} prelu_ctx;

static void prelu_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const prelu_ctx *c = vc;
  for (int64_t i = 0; i < n; i++) {
    float x = ld_f(c->dt[1], c->base[1], off[1] + i * st[1]);
    float w = ld_f(c->dt[2], c->base[2], off[2] + i * st[2]);
    st_f(c->dt[0], c->base[0], off[0] + i * st[0], x > 0 ? x : w * x);
  }
}

ptl_status ptl_prelu_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *w = call->in[1], *y = call->out[0];
  int nd = y->ndim;
  int64_t st[3][PTL_MAX_DIMS];
  memcpy(st[0], y->strides, sizeof(int64_t) * (size_t)nd);
  memcpy(st[1], x->strides, sizeof(int64_t) * (size_t)nd);
  memset(st[2], 0, sizeof st[2]);
  if (nd >= 2 && ptl_tensor_numel(w) > 1)
    st[2][1] = w->ndim == 1 ? w->strides[0] : 0; /* slope along the channel dim */
  prelu_ctx c = {{y->dtype, x->dtype, w->dtype},
                 {ptl_tensor_data(y), ptl_tensor_data(x), ptl_tensor_data(w)}};
  ptl_for_each_row(nd, y->shape, 3, (const int64_t(*)[PTL_MAX_DIMS])st, prelu_row, &c);
  return PTL_OK;
}

static void delete_op(void *op) {
  xnn_delete_operator((xnn_operator_t)op);
}

/* XNNPACK prelu is NC: channels innermost. That is a 2-d [N, C] contiguous
 * input or a channels-last 4-d one, with the output in the same layout. */
ptl_status ptl_prelu_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *y = call->out[0];
  ptl_tensor *w = call->in[1];
  if (x->dtype != PTL_FLOAT32 || w->dtype != PTL_FLOAT32 || y->dtype != PTL_FLOAT32)
    return PTL_ERR_UNSUPPORTED;
  bool nc = (x->ndim == 2 && ptl_tensor_is_contiguous(x) && ptl_tensor_is_contiguous(y)) ||
            (x->ndim == 4 && ptl_tensor_is_channels_last(x) && ptl_tensor_is_channels_last(y));
  if (!nc || ptl_tensor_numel(w) != x->shape[1] || x->shape[1] < 1 ||
      (w->ndim == 1 && w->strides[0] != 1 && x->shape[1] > 1))
    return PTL_ERR_UNSUPPORTED;
  int64_t n = ptl_tensor_numel(x);
  if (n == 0)
    return PTL_OK;
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  size_t channels = (size_t)x->shape[1];
  const float *slopes = ptl_tensor_data(w);
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = 0x7072656c75ULL; /* "prelu" */
  key[2] = channels;
  key[3] = (uint64_t)(uintptr_t)slopes;
  xnn_operator_t op = ptl_packed_find(w, key);
  if (!op) {
    if (xnn_create_prelu_nc_f32(channels, channels, channels, slopes, 0, &op) != xnn_status_success)
      return PTL_ERR_UNSUPPORTED;
    PTL_CHECK(ptl_packed_add(w, key, op, delete_op));
  }
  pthreadpool_t tp = (pthreadpool_t)ptl_threadpool();
  /* as with the other packed-weight operators, one call per weight at a time */
  if (xnn_setup_prelu_nc_f32(op, (size_t)n / channels, ptl_tensor_data(x), ptl_tensor_data(y),
                             tp) != xnn_status_success ||
      xnn_run_operator(op, tp) != xnn_status_success)
    return PTL_ERR_UNSUPPORTED;
  return PTL_OK;
}

/* ---- softmax / log_softmax -------------------------------------------------- */
ptl_status ptl_softmax_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  const char *op = ptl_op_name(call->op);
  if (!is_float(x->dtype))
    return ptl_error(PTL_ERR_DTYPE, "%s: \"%s_lastdim_kernel_impl\" not implemented for '%s'", op,
                     op, ptl_torch_scalar_name(x->dtype));
  int dim;
  PTL_CHECK(ptl_wrap_dim(op, call->attrs->n_ints > 0 ? call->attrs->ints[0] : -1, x->ndim, &dim));
  /* torch's softmax output is always contiguous (no preserve-format) */
  out->dtype = x->dtype;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  return check_out(call, x->dtype, out);
}

typedef struct {
  bool log;
  int64_t len, xs, ys; /* length and strides along the softmax dim */
  ptl_dtype xd, yd;
  const char *xb;
  char *yb;
  float *tmp;
} sm_ctx;

/* One slice along the dim: max, sum of exp(x - max), then normalize. The sum
 * accumulates in float in index order, as torch's scalar path. */
static void sm_slice(const sm_ctx *c, int64_t xo, int64_t yo) {
  float *v = c->tmp;
  float mx = -INFINITY;
  for (int64_t i = 0; i < c->len; i++) {
    v[i] = ld_f(c->xd, c->xb, xo + i * c->xs);
    mx = v[i] > mx ? v[i] : mx; /* a NaN still reaches every output through the sum */
  }
  if (mx == -INFINITY)
    mx = 0; /* all -inf: exp(-inf - 0) = 0, giving nan after 0/0 as torch */
  float sum = 0;
  if (c->log) {
    for (int64_t i = 0; i < c->len; i++)
      sum += expf(v[i] - mx);
    float ls = logf(sum);
    for (int64_t i = 0; i < c->len; i++)
      st_f(c->yd, c->yb, yo + i * c->ys, v[i] - mx - ls);
  } else {
    for (int64_t i = 0; i < c->len; i++) {
      v[i] = expf(v[i] - mx);
      sum += v[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < c->len; i++)
      st_f(c->yd, c->yb, yo + i * c->ys, v[i] * inv);
  }
}

static void sm_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const sm_ctx *c = vc;
  for (int64_t i = 0; i < n; i++)
    sm_slice(c, off[1] + i * st[1], off[0] + i * st[0]);
}

ptl_status ptl_softmax_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *y = call->out[0];
  int dim;
  PTL_CHECK(ptl_wrap_dim(ptl_op_name(call->op), call->attrs->n_ints > 0 ? call->attrs->ints[0] : -1,
                         x->ndim, &dim));
  if (ptl_tensor_numel(x) == 0)
    return PTL_OK;
  sm_ctx c = {call->op == PTL_OP_LOG_SOFTMAX,
              1,
              0,
              0,
              x->dtype,
              y->dtype,
              ptl_tensor_data(x),
              ptl_tensor_data(y),
              NULL};
  int nd = x->ndim;
  int64_t shape[PTL_MAX_DIMS], st[2][PTL_MAX_DIMS];
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)nd);
  memcpy(st[0], y->strides, sizeof(int64_t) * (size_t)nd);
  memcpy(st[1], x->strides, sizeof(int64_t) * (size_t)nd);
  if (nd > 0) {
    c.len = x->shape[dim];
    c.xs = x->strides[dim];
    c.ys = y->strides[dim];
    shape[dim] = 1; /* iterate over every other dim */
  }
  c.tmp = malloc(sizeof(float) * (size_t)c.len);
  if (!c.tmp)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
  ptl_for_each_row(nd, shape, 2, (const int64_t(*)[PTL_MAX_DIMS])st, sm_row, &c);
  free(c.tmp);
  return PTL_OK;
}

/* Contiguous float32 softmax along a non-last dim: the slices of one outer
 * index are handled side by side in blocks of SM_BLOCK inner positions, so the
 * loads are contiguous, and outer indices are split over the threadpool. Each
 * output element goes through the same float operations in the same order as
 * sm_slice, so the result equals REF bit for bit. */
#define SM_BLOCK 64
typedef struct {
  const float *x;
  float *y;
  int64_t len, inner;
} sm_job;

static void sm_outer(void *vj, size_t o) {
  const sm_job *j = vj;
  const int64_t len = j->len, inner = j->inner;
  const float *x = j->x + (int64_t)o * len * inner;
  float *y = j->y + (int64_t)o * len * inner;
  float mx[SM_BLOCK], sum[SM_BLOCK];
  for (int64_t i0 = 0; i0 < inner; i0 += SM_BLOCK) {
    int64_t b = inner - i0 < SM_BLOCK ? inner - i0 : SM_BLOCK;
    for (int64_t i = 0; i < b; i++) {
      mx[i] = -INFINITY;
      sum[i] = 0;
    }
    for (int64_t k = 0; k < len; k++)
      for (int64_t i = 0; i < b; i++) {
        float v = x[k * inner + i0 + i];
        mx[i] = v > mx[i] ? v : mx[i];
      }
    for (int64_t i = 0; i < b; i++)
      if (mx[i] == -INFINITY)
        mx[i] = 0;
    for (int64_t k = 0; k < len; k++)
      for (int64_t i = 0; i < b; i++) {
        float e = expf(x[k * inner + i0 + i] - mx[i]);
        y[k * inner + i0 + i] = e;
        sum[i] += e;
      }
    for (int64_t i = 0; i < b; i++)
      sum[i] = 1.0f / sum[i];
    for (int64_t k = 0; k < len; k++)
      for (int64_t i = 0; i < b; i++)
        y[k * inner + i0 + i] *= sum[i];
  }
}

static ptl_status softmax_inner(const ptl_tensor *x, ptl_tensor *y, int dim) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < dim; i++)
    outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++)
    inner *= x->shape[i];
  sm_job j = {ptl_tensor_data(x), ptl_tensor_data(y), x->shape[dim], inner};
  ptl_parallel_for(sm_outer, &j, (size_t)outer);
  return PTL_OK;
}

/* XNNPACK softmax over the last dim of contiguous rows; own loops for other dims. */
ptl_status ptl_softmax_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *y = call->out[0];
  if (x->dtype != PTL_FLOAT32 || y->dtype != PTL_FLOAT32 || x->ndim < 1 ||
      !ptl_tensor_is_contiguous(x) || !ptl_tensor_is_contiguous(y))
    return PTL_ERR_UNSUPPORTED;
  int dim;
  PTL_CHECK(
      ptl_wrap_dim("softmax", call->attrs->n_ints > 0 ? call->attrs->ints[0] : -1, x->ndim, &dim));
  int64_t n = ptl_tensor_numel(x);
  if (n == 0)
    return PTL_OK;
  if (dim != x->ndim - 1)
    return softmax_inner(x, call->out[0], dim);
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  /* XNNPACK's softmax differs from torch on rows holding inf or NaN */
  const float *px = ptl_tensor_data(x);
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(px[i]))
      return PTL_ERR_UNSUPPORTED;
  size_t channels = (size_t)x->shape[dim];
  float p[2] = {0, 0};
  xnn_slot *s = slot_take(XA_SOFTMAX, p, channels);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return PTL_ERR_UNSUPPORTED;
    s->channels = channels;
    if (xnn_create_softmax_nc_f32(channels, channels, channels, 0, &s->op) != xnn_status_success) {
      free(s);
      return PTL_ERR_UNSUPPORTED;
    }
  }
  pthreadpool_t tp = (pthreadpool_t)ptl_threadpool();
  enum xnn_status st = xnn_setup_softmax_nc_f32(s->op, (size_t)n / channels, ptl_tensor_data(x),
                                                ptl_tensor_data(y), tp);
  if (st == xnn_status_success)
    st = xnn_run_operator(s->op, tp);
  slot_put(XA_SOFTMAX, s);
  return st == xnn_status_success ? PTL_OK : PTL_ERR_UNSUPPORTED;
}

/* ---- dropout ------------------------------------------------------------------ */
typedef struct {
  float p, scale;
  ptl_dtype dt[2];
  char *base[2];
} drop_ctx;

/* Bernoulli(1 - p) keep mask, drawn in the output's memory order. */
static void drop_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const drop_ctx *c = vc;
  for (int64_t i = 0; i < n; i++) {
    float x = ld_f(c->dt[1], c->base[1], off[1] + i * st[1]);
    bool keep = ptl_random_uniform_f32() >= c->p;
    st_f(c->dt[0], c->base[0], off[0] + i * st[0], keep ? x * c->scale : x * 0.0f);
  }
}

ptl_status ptl_dropout_ref(const ptl_call *call) {
  double p = call->attrs->n_floats > 0 ? call->attrs->floats[0] : 0.5;
  drop_ctx c = {(float)p,
                p < 1 ? (float)(1.0 / (1.0 - p)) : 0.0f,
                {call->out[0]->dtype, call->in[0]->dtype},
                {ptl_tensor_data(call->out[0]), ptl_tensor_data(call->in[0])}};
  walk2(call->out[0], call->in[0], drop_row, &c);
  return PTL_OK;
}
