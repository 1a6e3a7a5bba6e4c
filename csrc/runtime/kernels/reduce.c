/* reduce.c - SUM, MEAN, AMAX, AMIN, VAR and ARGMAX/ARGMIN over any set of dims.
 *
 * The input's dims are split into kept dims (one output element per position)
 * and reduced dims. Two loop shapes cover every stride pattern efficiently:
 *  - row:    the innermost (smallest stride) dim is reduced: each output is a
 *            sum over rows along that dim (last-dim reductions, contiguous NCHW
 *            reduced over H,W, reduction of everything);
 *  - column: the innermost dim is kept: a tile of outputs along it is
 *            accumulated at once, row after row of the reduced dims
 *            (channels-last NCHW reduced over H,W, reductions over dim 0).
 * Floating point sums accumulate in double (float32 blocks feed a double), so a
 * float32 sum of 1e6 elements matches an exact sum to ~1e-7 relative. Results
 * go to a per-output buffer in the kept dims' row-major order, then to the
 * output with whatever strides it has. Every output is computed by the same
 * sequence of operations whatever the thread count, so results are
 * deterministic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"
#include "qmath.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SUM_DTYPE_ATTR 31 /* SUM/MEAN i[31]: output dtype, -1 default */

typedef enum { R_SUM, R_MAX, R_MIN, R_SQDEV } rkind;

/* ---- infer ------------------------------------------------------------------ */

/* Marks the reduced dims of input 0 from attrs i[1] (count, 0: all) and i[2..]. */
static ptl_status parse_dims(const ptl_call *call, const char *op, bool *reduced) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  int64_t n = a->n_ints > 1 ? a->ints[1] : 0;
  if (n < 0 || n > SUM_DTYPE_ATTR - 2 || a->n_ints < 2 + n)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: attributes must be keepdim, number of dims, dims...", op);
  memset(reduced, 0, sizeof(bool) * PTL_MAX_DIMS);
  if (n == 0) {
    for (int i = 0; i < x->ndim; i++)
      reduced[i] = true;
    return PTL_OK;
  }
  for (int64_t k = 0; k < n; k++) {
    int d;
    PTL_CHECK(ptl_wrap_dim(op, a->ints[2 + k], x->ndim, &d));
    if (x->ndim == 0)
      continue; /* dim 0 / -1 of a 0-d tensor: nothing to reduce */
    if (reduced[d])
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "%s: dim %d appears multiple times in the list of dims", op, d);
    reduced[d] = true;
  }
  return PTL_OK;
}

static ptl_status reduce_dtype(const ptl_call *call, const char *op, ptl_dtype *out) {
  ptl_dtype xd = call->in[0]->dtype;
  const ptl_attrs *a = call->attrs;
  if (xd == PTL_QUINT8 && call->op == PTL_OP_MEAN) {
    /* torch's quantized mean: quint8 result with the input's qparams */
    int64_t req = a->n_ints > SUM_DTYPE_ATTR ? a->ints[SUM_DTYPE_ATTR] : -1;
    if (req >= 0 && req != PTL_QUINT8)
      return ptl_error(PTL_ERR_DTYPE, "mean: a dtype cannot be requested for a quantized input");
    if (!call->in[0]->qparams || call->in[0]->qparams->count != 1)
      return ptl_error(PTL_ERR_UNSUPPORTED, "mean: only per-tensor quantized inputs are supported");
    *out = PTL_QUINT8;
    return PTL_OK;
  }
  if (ptl_dtype_is_quantized(xd))
    return ptl_error(PTL_ERR_DTYPE,
                     "%s: not supported for quantized tensors (%s); dequantize first", op,
                     ptl_dtype_name(xd));
  int64_t req = a->n_ints > SUM_DTYPE_ATTR ? a->ints[SUM_DTYPE_ATTR] : -1;
  if (req >= 0 && (call->op == PTL_OP_SUM || call->op == PTL_OP_MEAN)) {
    if (req >= PTL_DTYPE_COUNT || ptl_dtype_is_quantized((ptl_dtype)req))
      return ptl_error(PTL_ERR_DTYPE, "%s: invalid output dtype code %lld", op, (long long)req);
  } else {
    req = -1;
  }
  switch (call->op) {
  case PTL_OP_SUM:
    *out = req >= 0 ? (ptl_dtype)req : ptl_dtype_is_float(xd) ? xd : PTL_INT64;
    return PTL_OK;
  case PTL_OP_MEAN:
    if (req >= 0 && !ptl_dtype_is_float((ptl_dtype)req))
      return ptl_error(PTL_ERR_DTYPE,
                       "mean(): could not infer output dtype. Optional dtype must be either a "
                       "floating point or complex dtype. Got: %s",
                       ptl_dtype_name((ptl_dtype)req));
    if (req < 0 && !ptl_dtype_is_float(xd))
      return ptl_error(PTL_ERR_DTYPE,
                       "mean(): could not infer output dtype. Input dtype must be either a "
                       "floating point or complex dtype. Got: %s",
                       ptl_dtype_name(xd));
    *out = req >= 0 ? (ptl_dtype)req : xd;
    return PTL_OK;
  case PTL_OP_VAR:
    if (!ptl_dtype_is_float(xd))
      return ptl_error(PTL_ERR_DTYPE,
                       "var: std and var only support floating point and complex dtypes, "
                       "got %s",
                       ptl_dtype_name(xd));
    *out = xd;
    return PTL_OK;
  default: *out = xd; return PTL_OK;
  }
}

ptl_status ptl_reduce_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0];
  bool reduced[PTL_MAX_DIMS];
  PTL_CHECK(parse_dims(call, op, reduced));
  PTL_CHECK(reduce_dtype(call, op, &out->dtype));
  bool keepdim = call->attrs->n_ints > 0 && call->attrs->ints[0];
  if (call->op == PTL_OP_AMAX || call->op == PTL_OP_AMIN) {
    for (int i = 0; i < x->ndim; i++)
      if (reduced[i] && x->shape[i] == 0)
        return ptl_error(PTL_ERR_INDEX, "%s(): Expected reduction dim %d to have non-zero size.",
                         op, i);
  }
  out->ndim = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (!reduced[i])
      out->shape[out->ndim++] = x->shape[i];
    else if (keepdim)
      out->shape[out->ndim++] = 1;
  }
  return PTL_OK;
}

/* ---- element access ----------------------------------------------------------- */

static inline double load_d(ptl_dtype d, const void *x, int64_t i) {
  if (d == PTL_FLOAT32)
    return ((const float *)x)[i];
  return ptl_load_f64(d, x, i);
}

static inline int64_t load_i(ptl_dtype d, const void *x, int64_t i) {
  switch (d) {
  case PTL_INT64: return ((const int64_t *)x)[i];
  case PTL_INT32: return ((const int32_t *)x)[i];
  case PTL_INT8: return ((const int8_t *)x)[i];
  case PTL_UINT8: return ((const uint8_t *)x)[i];
  case PTL_BOOL: return ((const uint8_t *)x)[i] != 0;
  default: return ptl_load_i64(d, x, i);
  }
}

static void store_i(ptl_dtype d, void *y, int64_t i, int64_t v) {
  switch (d) {
  case PTL_INT64: ((int64_t *)y)[i] = v; break;
  case PTL_INT32: ((int32_t *)y)[i] = (int32_t)v; break;
  case PTL_INT8: ((int8_t *)y)[i] = (int8_t)v; break;
  case PTL_UINT8: ((uint8_t *)y)[i] = (uint8_t)v; break;
  case PTL_BOOL: ((uint8_t *)y)[i] = v != 0; break;
  default: ptl_store_f64(d, y, i, (double)v); break;
  }
}

/* NaN propagates: once the accumulator is NaN it stays NaN. */
static inline double max_d(double m, double v) {
  return (v > m || v != v) ? v : m;
}
static inline double min_d(double m, double v) {
  return (v < m || v != v) ? v : m;
}

/* ---- plan ----------------------------------------------------------------------- */

typedef struct {
  rkind kind;
  bool int_acc; /* accumulate as int64 (integer sums, integer/bool max/min) */
  ptl_dtype xd;
  const char *x;
  int nk; /* kept dims of size > 1, logical order */
  int64_t kshape[PTL_MAX_DIMS], kstride[PTL_MAX_DIMS], klin[PTL_MAX_DIMS];
  int nr; /* reduced dims of size > 1, outermost first, merged */
  int64_t rshape[PTL_MAX_DIMS], rstride[PTL_MAX_DIMS];
  int64_t out_n, red_n;
  double *res;        /* per output (float accumulation) */
  int64_t *resi;      /* per output (int accumulation) */
  const double *mean; /* R_SQDEV: per output */
  /* column loop */
  int col;         /* index into kept dims of the innermost kept dim */
  int64_t n_tiles; /* tiles along it */
  int64_t n_outer; /* positions of the other kept dims */
  /* split row loop */
  int64_t n_chunks; /* chunks of the single reduced row per output (>1: split) */
  double *part;
  int64_t *parti;
} plan;

#define COL_TILE 256
#define COL_FLUSH 16
#define ROW_CHUNK 65536
#define TASK_WORK 32768 /* elements per parallel task, about */

static double identity_d(rkind k) {
  return k == R_MAX ? -INFINITY : k == R_MIN ? INFINITY : 0.0;
}

static int64_t identity_i(rkind k) {
  return k == R_MAX ? INT64_MIN : k == R_MIN ? INT64_MAX : 0;
}

/* Sum of n contiguous floats with float64 accumulation: 8 independent double
 * accumulators (SSE2 on x86-64) so the adds pipeline; float64-accurate. */
static double sum_f32(const float *x, int64_t n) {
  int64_t i = 0;
  double acc = 0.0;
#ifdef __SSE2__
  if (n >= 16) {
    __m128d a[8];
    for (int t = 0; t < 8; t++)
      a[t] = _mm_setzero_pd();
    for (; i + 16 <= n; i += 16) {
      __m128 v0 = _mm_loadu_ps(x + i), v1 = _mm_loadu_ps(x + i + 4);
      __m128 v2 = _mm_loadu_ps(x + i + 8), v3 = _mm_loadu_ps(x + i + 12);
      a[0] = _mm_add_pd(a[0], _mm_cvtps_pd(v0));
      a[1] = _mm_add_pd(a[1], _mm_cvtps_pd(_mm_movehl_ps(v0, v0)));
      a[2] = _mm_add_pd(a[2], _mm_cvtps_pd(v1));
      a[3] = _mm_add_pd(a[3], _mm_cvtps_pd(_mm_movehl_ps(v1, v1)));
      a[4] = _mm_add_pd(a[4], _mm_cvtps_pd(v2));
      a[5] = _mm_add_pd(a[5], _mm_cvtps_pd(_mm_movehl_ps(v2, v2)));
      a[6] = _mm_add_pd(a[6], _mm_cvtps_pd(v3));
      a[7] = _mm_add_pd(a[7], _mm_cvtps_pd(_mm_movehl_ps(v3, v3)));
    }
    __m128d s = _mm_add_pd(_mm_add_pd(_mm_add_pd(a[0], a[1]), _mm_add_pd(a[2], a[3])),
                           _mm_add_pd(_mm_add_pd(a[4], a[5]), _mm_add_pd(a[6], a[7])));
    double l[2];
    _mm_storeu_pd(l, s);
    acc = l[0] + l[1];
  }
#endif
  for (; i < n; i++)
    acc += x[i];
  return acc;
}

/* Max (or min) of n contiguous floats, NaN propagating. NaNs are tracked apart
 * from the lanes so the loop stays in vector registers. */
static double extreme_f32(const float *x, int64_t n, bool is_max, double acc) {
  int64_t i = 0;
  bool nan = false;
#ifdef __SSE2__
  if (n >= 8) {
    __m128 m0 = _mm_set1_ps(is_max ? -INFINITY : INFINITY), m1 = m0;
    __m128 n0 = _mm_setzero_ps(), n1 = n0;
    for (; i + 8 <= n; i += 8) {
      __m128 v0 = _mm_loadu_ps(x + i), v1 = _mm_loadu_ps(x + i + 4);
      /* maxps(a, b) is a > b ? a : b: a NaN in v leaves m unchanged, caught by n */
      m0 = is_max ? _mm_max_ps(v0, m0) : _mm_min_ps(v0, m0);
      m1 = is_max ? _mm_max_ps(v1, m1) : _mm_min_ps(v1, m1);
      n0 = _mm_or_ps(n0, _mm_cmpunord_ps(v0, v0));
      n1 = _mm_or_ps(n1, _mm_cmpunord_ps(v1, v1));
    }
    nan = _mm_movemask_ps(_mm_or_ps(n0, n1)) != 0;
    float l[8];
    _mm_storeu_ps(l, m0);
    _mm_storeu_ps(l + 4, m1);
    for (int t = 0; t < 8; t++)
      acc = is_max ? max_d(acc, l[t]) : min_d(acc, l[t]);
  }
#endif
  if (nan)
    return NAN;
  for (; i < n; i++)
    acc = is_max ? max_d(acc, x[i]) : min_d(acc, x[i]);
  return acc;
}

/* Reduces n elements from x[off], x[off + s], ... into acc (float accumulation). */
static double row_d(const plan *p, int64_t off, int64_t s, int64_t n, double acc, double m) {
  rkind k = p->kind;
  if (p->xd == PTL_FLOAT32) {
    const float *x = (const float *)p->x + off;
    if (k == R_SUM && s == 1)
      return acc + sum_f32(x, n);
    if ((k == R_MAX || k == R_MIN) && s == 1)
      return acc != acc ? acc : extreme_f32(x, n, k == R_MAX, acc);
    if (k == R_SUM) {
      for (int64_t i = 0; i < n; i++)
        acc += x[i * s];
      return acc;
    }
    if (k == R_SQDEV) {
      for (int64_t i = 0; i < n; i++) {
        double d = x[i * s] - m;
        acc += d * d;
      }
      return acc;
    }
    if (k == R_MAX) {
      for (int64_t i = 0; i < n; i++)
        acc = max_d(acc, x[i * s]);
      return acc;
    }
    for (int64_t i = 0; i < n; i++)
      acc = min_d(acc, x[i * s]);
    return acc;
  }
  for (int64_t i = 0; i < n; i++) {
    double v = load_d(p->xd, p->x, off + i * s);
    switch (k) {
    case R_SUM: acc += v; break;
    case R_SQDEV: acc += (v - m) * (v - m); break;
    case R_MAX: acc = max_d(acc, v); break;
    case R_MIN: acc = min_d(acc, v); break;
    }
  }
  return acc;
}

static int64_t row_i(const plan *p, int64_t off, int64_t s, int64_t n, int64_t acc) {
  for (int64_t i = 0; i < n; i++) {
    int64_t v = load_i(p->xd, p->x, off + i * s);
    switch (p->kind) {
    case R_MAX: acc = v > acc ? v : acc; break;
    case R_MIN: acc = v < acc ? v : acc; break;
    default: acc = (int64_t)((uint64_t)acc + (uint64_t)v); break; /* wraps as torch */
    }
  }
  return acc;
}

static double combine_d(rkind k, double a, double b) {
  return k == R_MAX ? max_d(a, b) : k == R_MIN ? min_d(a, b) : a + b;
}

static int64_t combine_i(rkind k, int64_t a, int64_t b) {
  return k == R_MAX   ? (a > b ? a : b)
         : k == R_MIN ? (a < b ? a : b)
                      : (int64_t)((uint64_t)a + (uint64_t)b);
}

/* Input offset of kept-dims position `o` (row-major over kshape), skipping dim `skip`. */
static int64_t kept_offset(const plan *p, int64_t o, int skip, int64_t *lin) {
  int64_t off = 0, l = 0;
  for (int d = p->nk - 1; d >= 0; d--) {
    if (d == skip)
      continue;
    int64_t i = o % p->kshape[d];
    o /= p->kshape[d];
    off += i * p->kstride[d];
    l += i * p->klin[d];
  }
  if (lin)
    *lin = l;
  return off;
}

/* Reduces everything for output `o`, elements [r0, r1) of the (single) row when split. */
static void reduce_one(const plan *p, int64_t base, int64_t o, int64_t r0, int64_t r1, double *rd,
                       int64_t *ri) {
  int nr = p->nr;
  int64_t rs = p->rstride[nr - 1];
  double m = p->mean ? p->mean[o] : 0.0;
  double accd = identity_d(p->kind);
  int64_t acci = identity_i(p->kind);
  int64_t idx[PTL_MAX_DIMS] = {0}, off = base;
  for (;;) {
    if (p->int_acc)
      acci = row_i(p, off + r0 * rs, rs, r1 - r0, acci);
    else
      accd = row_d(p, off + r0 * rs, rs, r1 - r0, accd, m);
    int d = nr - 2;
    for (; d >= 0; d--) {
      off += p->rstride[d];
      if (++idx[d] < p->rshape[d])
        break;
      off -= p->rstride[d] * p->rshape[d];
      idx[d] = 0;
    }
    if (d < 0)
      break;
  }
  if (p->int_acc)
    *ri = acci;
  else
    *rd = accd;
}

/* Row loop task: a block of outputs (or one chunk of one output's row when split). */
typedef struct {
  const plan *p;
  int64_t per_task;
} row_task;

static void row_block(void *vctx, size_t t) {
  const row_task *c = vctx;
  const plan *p = c->p;
  if (p->n_chunks > 1) {
    int64_t o = (int64_t)t / p->n_chunks, ch = (int64_t)t % p->n_chunks;
    int64_t len = p->rshape[0], r0 = ch * ROW_CHUNK, r1 = r0 + ROW_CHUNK;
    if (r1 > len)
      r1 = len;
    int64_t base = kept_offset(p, o, -1, NULL);
    reduce_one(p, base, o, r0, r1, p->part ? &p->part[t] : NULL, p->parti ? &p->parti[t] : NULL);
    return;
  }
  int64_t o0 = (int64_t)t * c->per_task, o1 = o0 + c->per_task;
  if (o1 > p->out_n)
    o1 = p->out_n;
  /* walk the kept dims with an odometer: no divisions per output */
  int64_t idx[PTL_MAX_DIMS] = {0}, q = o0, base = 0;
  for (int d = p->nk - 1; d >= 0; d--) {
    idx[d] = q % p->kshape[d];
    q /= p->kshape[d];
    base += idx[d] * p->kstride[d];
  }
  for (int64_t o = o0; o < o1; o++) {
    reduce_one(p, base, o, 0, p->rshape[p->nr - 1], p->res ? &p->res[o] : NULL,
               p->resi ? &p->resi[o] : NULL);
    for (int d = p->nk - 1; d >= 0; d--) {
      base += p->kstride[d];
      if (++idx[d] < p->kshape[d])
        break;
      base -= p->kstride[d] * p->kshape[d];
      idx[d] = 0;
    }
  }
}

/* Column loop task: one tile along the innermost kept dim for one outer position. */
static void col_block(void *vctx, size_t t) {
  const plan *p = vctx;
  int64_t outer = (int64_t)t / p->n_tiles, tile = (int64_t)t % p->n_tiles;
  int c = p->col;
  int64_t lin, base = kept_offset(p, outer, c, &lin);
  int64_t j0 = tile * COL_TILE, nj = p->kshape[c] - j0;
  if (nj > COL_TILE)
    nj = COL_TILE;
  int64_t cs = p->kstride[c], cl = p->klin[c];
  base += j0 * cs;
  lin += j0 * cl;
  double accd[COL_TILE], m[COL_TILE];
  int64_t acci[COL_TILE];
  float accf[COL_TILE];
  int pending = 0;
  for (int64_t j = 0; j < nj; j++) {
    accf[j] = 0.0f;
    accd[j] = identity_d(p->kind);
    acci[j] = identity_i(p->kind);
    m[j] = p->mean ? p->mean[lin + j * cl] : 0.0;
  }
  int nr = p->nr;
  int64_t idx[PTL_MAX_DIMS] = {0}, off = base;
  bool f32 = p->xd == PTL_FLOAT32;
  for (;;) {
    if (p->int_acc) {
      for (int64_t j = 0; j < nj; j++)
        acci[j] = combine_i(p->kind, acci[j], load_i(p->xd, p->x, off + j * cs));
    } else if (f32 && p->kind == R_SUM && cs == 1) {
      /* float partial sums over COL_FLUSH rows, then into the doubles: float adds
       * vectorize twice as wide, and 16-term float sums lose nothing measurable */
      const float *x = (const float *)p->x + off;
      for (int64_t j = 0; j < nj; j++)
        accf[j] += x[j];
      if (++pending == COL_FLUSH) {
        for (int64_t j = 0; j < nj; j++) {
          accd[j] += accf[j];
          accf[j] = 0.0f;
        }
        pending = 0;
      }
    } else if (f32 && (p->kind == R_MAX || p->kind == R_MIN)) {
      const float *x = (const float *)p->x + off;
      if (p->kind == R_MAX)
        for (int64_t j = 0; j < nj; j++)
          accd[j] = max_d(accd[j], x[j * cs]);
      else
        for (int64_t j = 0; j < nj; j++)
          accd[j] = min_d(accd[j], x[j * cs]);
    } else if (f32 && p->kind == R_SUM) {
      const float *x = (const float *)p->x + off;
      for (int64_t j = 0; j < nj; j++)
        accd[j] += x[j * cs];
    } else {
      for (int64_t j = 0; j < nj; j++) {
        double v = load_d(p->xd, p->x, off + j * cs);
        if (p->kind == R_SQDEV)
          accd[j] += (v - m[j]) * (v - m[j]);
        else
          accd[j] = combine_d(p->kind, accd[j], v);
      }
    }
    int d = nr - 1;
    for (; d >= 0; d--) {
      off += p->rstride[d];
      if (++idx[d] < p->rshape[d])
        break;
      off -= p->rstride[d] * p->rshape[d];
      idx[d] = 0;
    }
    if (d < 0)
      break;
  }
  if (pending)
    for (int64_t j = 0; j < nj; j++)
      accd[j] += accf[j];
  for (int64_t j = 0; j < nj; j++) {
    if (p->int_acc)
      p->resi[lin + j * cl] = acci[j];
    else
      p->res[lin + j * cl] = accd[j];
  }
}

static void build_plan(plan *p, const ptl_tensor *x, const bool *reduced) {
  p->xd = x->dtype;
  p->x = ptl_tensor_data(x);
  p->nk = p->nr = 0;
  p->out_n = p->red_n = 1;
  int rd[PTL_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) {
    if (reduced[i]) {
      p->red_n *= x->shape[i];
      if (x->shape[i] != 1)
        rd[p->nr++] = i;
    } else {
      p->out_n *= x->shape[i];
      if (x->shape[i] != 1) {
        p->kshape[p->nk] = x->shape[i];
        p->kstride[p->nk++] = x->strides[i];
      }
    }
  }
  int64_t l = 1;
  for (int d = p->nk - 1; d >= 0; d--) {
    p->klin[d] = l;
    l *= p->kshape[d];
  }
  /* reduced dims by decreasing stride (insertion sort), then merge neighbours */
  for (int i = 1; i < p->nr; i++)
    for (int j = i; j > 0 && x->strides[rd[j - 1]] < x->strides[rd[j]]; j--) {
      int t = rd[j];
      rd[j] = rd[j - 1];
      rd[j - 1] = t;
    }
  int n = 0;
  for (int i = 0; i < p->nr; i++) {
    int64_t sh = x->shape[rd[i]], st = x->strides[rd[i]];
    if (n > 0 && p->rstride[n - 1] == st * sh) {
      p->rshape[n - 1] *= sh;
      p->rstride[n - 1] = st;
    } else {
      p->rshape[n] = sh;
      p->rstride[n++] = st;
    }
  }
  p->nr = n;
  if (p->nr == 0) { /* nothing reduced: a row of one element per output */
    p->nr = 1;
    p->rshape[0] = 1;
    p->rstride[0] = 0;
  }
}

/* Runs one reduction pass into p->res / p->resi. */
static ptl_status run_pass(plan *p) {
  if (p->out_n == 0)
    return PTL_OK;
  if (p->red_n == 0) {
    for (int64_t o = 0; o < p->out_n; o++) {
      if (p->int_acc)
        p->resi[o] = identity_i(p->kind);
      else
        p->res[o] = identity_d(p->kind);
    }
    return PTL_OK;
  }
  /* the column loop when the innermost dim is kept and the row loop would stride */
  int col = -1;
  for (int d = 0; d < p->nk; d++)
    if (col < 0 || p->kstride[d] < p->kstride[col])
      col = d;
  int64_t rmin = p->rstride[p->nr - 1];
  if (col >= 0 && p->kstride[col] < rmin && p->rshape[p->nr - 1] > 1) {
    p->col = col;
    p->n_tiles = (p->kshape[col] + COL_TILE - 1) / COL_TILE;
    p->n_outer = p->out_n / p->kshape[col];
    size_t tasks = (size_t)(p->n_outer * p->n_tiles);
    if (p->out_n * p->red_n < TASK_WORK)
      for (size_t t = 0; t < tasks; t++)
        col_block(p, t);
    else
      ptl_parallel_for(col_block, p, tasks);
    return PTL_OK;
  }
  p->n_chunks = 1;
  if (p->nr == 1 && p->out_n < 8 && p->rshape[0] >= 2 * ROW_CHUNK) {
    /* few outputs over one long row: split the row into fixed chunks (fixed, so
     * the result does not depend on the thread count) and combine in order */
    p->n_chunks = (p->rshape[0] + ROW_CHUNK - 1) / ROW_CHUNK;
    size_t n = (size_t)(p->out_n * p->n_chunks);
    if (p->int_acc)
      p->parti = malloc(sizeof(int64_t) * n);
    else
      p->part = malloc(sizeof(double) * n);
    if (!p->part && !p->parti)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "reduction: out of memory");
    row_task c = {p, 1};
    ptl_parallel_for(row_block, &c, n);
    for (int64_t o = 0; o < p->out_n; o++) {
      for (int64_t k = 0; k < p->n_chunks; k++) {
        int64_t t = o * p->n_chunks + k;
        if (p->int_acc)
          p->resi[o] = k ? combine_i(p->kind, p->resi[o], p->parti[t]) : p->parti[t];
        else
          p->res[o] = k ? combine_d(p->kind, p->res[o], p->part[t]) : p->part[t];
      }
    }
    free(p->part);
    free(p->parti);
    p->part = NULL;
    p->parti = NULL;
    p->n_chunks = 1;
    return PTL_OK;
  }
  int64_t per = TASK_WORK / (p->red_n > 0 ? p->red_n : 1);
  if (per < 1)
    per = 1;
  row_task c = {p, per};
  size_t tasks = (size_t)((p->out_n + per - 1) / per);
  if (tasks == 1)
    row_block(&c, 0);
  else
    ptl_parallel_for(row_block, &c, tasks);
  return PTL_OK;
}

/* Writes per-output results (kept dims row-major) into y, whatever its strides. */
typedef struct {
  const double *res;
  const int64_t *resi;
  double scale; /* multiplies float results (mean, var) */
  ptl_dtype yd;
  char *y;
} write_ctx;

static void write_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  const write_ctx *c = vctx;
  for (int64_t i = 0; i < n; i++) {
    int64_t yi = off[0] + i * st[0], ri = off[1] + i * st[1];
    if (c->resi)
      store_i(c->yd, c->y, yi, c->resi[ri]);
    else if (c->yd == PTL_FLOAT32)
      ((float *)c->y)[yi] = (float)(c->res[ri] * c->scale);
    else
      ptl_store_f64(c->yd, c->y, yi, c->res[ri] * c->scale);
  }
}

/* torch's quantized mean (qnnpack engine), result with the input's qparams:
 *  - 4-d input reduced over exactly dims 2 and 3 (QNNPACK global average
 *    pooling): acc = sum - zp * n, ptl_requantize(acc, s / (s * n), zp);
 *  - anything else (torch dequantizes, takes the float mean, quantizes):
 *    mean = float sum of s * (q - zp), divided by n, then quantize_per_tensor's
 *    nearbyint(fma(mean, 1 / s, zp)). */
static ptl_status q_mean(const ptl_call *call, const bool *reduced) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  float s = x->qparams->scale[0];
  int32_t zp = x->qparams->zero_point[0];
  bool keepdim = call->attrs->n_ints > 0 && call->attrs->ints[0];
  int64_t ny = ptl_tensor_numel(y), n = 1;
  for (int i = 0; i < x->ndim; i++)
    if (reduced[i])
      n *= x->shape[i];
  /* y's stride for each x dim (0 on reduced dims) */
  int64_t ys[PTL_MAX_DIMS];
  for (int i = 0, j = 0; i < x->ndim; i++) {
    if (!reduced[i])
      ys[i] = y->strides[j++];
    else {
      ys[i] = 0;
      j += keepdim;
    }
  }
  int64_t *acc = calloc((size_t)(ny > 0 ? ny : 1), sizeof(int64_t));
  int64_t *offs = malloc(sizeof(int64_t) * (size_t)(ny > 0 ? ny : 1));
  float *facc = calloc((size_t)(ny > 0 ? ny : 1), sizeof(float));
  if (!acc || !offs || !facc) {
    free(acc);
    free(offs);
    free(facc);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "mean: out of memory");
  }
  const uint8_t *xd = ptl_tensor_data(x);
  uint8_t *yd = ptl_tensor_data(y);
  int64_t nx = ptl_tensor_numel(x), idx[PTL_MAX_DIMS] = {0};
  /* slot of an output element = its row-major index over the kept dims */
  int64_t kst[PTL_MAX_DIMS], k = 1;
  for (int i = x->ndim - 1; i >= 0; i--) {
    kst[i] = reduced[i] ? 0 : k;
    k *= reduced[i] ? 1 : x->shape[i];
  }
  for (int64_t e = 0; e < nx; e++) {
    int64_t xo = 0, slot = 0;
    for (int d = 0; d < x->ndim; d++) {
      xo += idx[d] * x->strides[d];
      slot += idx[d] * kst[d];
    }
    acc[slot] += xd[xo];
    facc[slot] += (float)((int32_t)xd[xo] - zp) * s; /* torch's float mean of dequantized */
    for (int d = x->ndim - 1; d >= 0; d--) {
      if (++idx[d] < x->shape[d])
        break;
      idx[d] = 0;
    }
  }
  /* y offset of each slot, walking the kept dims (also when nothing is reduced
   * into them: an empty reduction still writes every output) */
  {
    int64_t kidx[PTL_MAX_DIMS] = {0};
    for (int64_t sl = 0; sl < ny; sl++) {
      int64_t yo = 0;
      for (int d = 0; d < x->ndim; d++)
        yo += kidx[d] * ys[d];
      offs[sl] = yo;
      for (int d = x->ndim - 1; d >= 0; d--) {
        if (reduced[d])
          continue;
        if (++kidx[d] < x->shape[d])
          break;
        kidx[d] = 0;
      }
    }
  }
  bool gap = x->ndim == 4 && !reduced[0] && !reduced[1] && reduced[2] && reduced[3];
  float gscale = s / (s * (float)n), inv = 1.0f / s;
  for (int64_t i = 0; i < ny; i++) {
    int64_t a = acc[i] - (int64_t)zp * n;
    uint8_t r;
    if (n == 0) {
      r = 255; /* torch: the mean of nothing is NaN, which quantizes to qmax */
    } else if (gap) {
      r = (uint8_t)ptl_requantize((int32_t)a, gscale, zp, 0, 255);
    } else {
      float m = facc[i] / (float)n;
      float v = nearbyintf(fmaf(m, inv, (float)zp));
      r = v < 0.0f ? 0 : v > 255.0f ? 255 : (uint8_t)v;
    }
    yd[offs[i]] = r;
  }
  free(acc);
  free(offs);
  free(facc);
  return ptl_qparams_set_per_tensor(y, s, zp);
}

ptl_status ptl_reduce_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  bool reduced[PTL_MAX_DIMS];
  PTL_CHECK(parse_dims(call, ptl_op_name(call->op), reduced));
  if (x->dtype == PTL_QUINT8)
    return q_mean(call, reduced);
  plan p;
  memset(&p, 0, sizeof p);
  build_plan(&p, x, reduced);
  switch (call->op) {
  case PTL_OP_AMAX: p.kind = R_MAX; break;
  case PTL_OP_AMIN: p.kind = R_MIN; break;
  default: p.kind = R_SUM; break;
  }
  /* integer accumulation: integer sums and max/min of integers keep exact values */
  p.int_acc = call->op == PTL_OP_SUM ? !ptl_dtype_is_float(y->dtype)
                                     : (p.kind != R_SUM && !ptl_dtype_is_float(x->dtype));
  size_t n = (size_t)(p.out_n > 0 ? p.out_n : 1);
  if (p.int_acc)
    p.resi = malloc(sizeof(int64_t) * n);
  else
    p.res = malloc(sizeof(double) * n);
  if (!p.res && !p.resi)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", ptl_op_name(call->op));
  ptl_status s = run_pass(&p);
  double scale = 1.0;
  if (s == PTL_OK && call->op == PTL_OP_MEAN) {
    scale = 1.0 / (double)p.red_n; /* 0 elements: 0 * inf = nan as torch */
  } else if (s == PTL_OK && call->op == PTL_OP_VAR) {
    double corr = call->attrs->n_floats > 0 ? call->attrs->floats[0] : 1.0;
    double *mean = p.res;
    for (int64_t o = 0; o < p.out_n; o++)
      mean[o] /= (double)p.red_n;
    p.res = malloc(sizeof(double) * n);
    if (!p.res) {
      free(mean);
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "var: out of memory");
    }
    p.kind = R_SQDEV;
    p.mean = mean;
    s = run_pass(&p);
    free(mean);
    double dof = (double)p.red_n - corr;
    scale = 1.0 / (dof > 0 ? dof : 0.0);
  }
  if (s == PTL_OK) {
    int64_t rst[2][PTL_MAX_DIMS];
    memcpy(rst[0], y->strides, sizeof(int64_t) * (size_t)y->ndim);
    ptl_contiguous_strides(y->ndim, y->shape, rst[1]);
    write_ctx c = {p.res, p.resi, scale, y->dtype, ptl_tensor_data(y)};
    ptl_for_each_row(y->ndim, y->shape, 2, (const int64_t(*)[PTL_MAX_DIMS])rst, write_row, &c);
  }
  free(p.res);
  free(p.resi);
  return s;
}

/* ---- argmax / argmin ------------------------------------------------------------ */

ptl_status ptl_argreduce_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  bool keepdim = a->n_ints > 0 && a->ints[0];
  bool has_dim = a->n_ints > 1 && a->ints[1];
  if (ptl_dtype_is_quantized(x->dtype))
    return ptl_error(PTL_ERR_DTYPE, "%s: not supported for quantized tensors (%s)", op,
                     ptl_dtype_name(x->dtype));
  out->dtype = PTL_INT64;
  if (!has_dim) {
    if (ptl_tensor_numel(x) == 0)
      return ptl_error(PTL_ERR_INDEX,
                       "%s(): Expected reduction dim to be specified for input.numel() == 0.", op);
    out->ndim = keepdim ? x->ndim : 0;
    for (int i = 0; i < out->ndim; i++)
      out->shape[i] = 1;
    return PTL_OK;
  }
  int d;
  PTL_CHECK(ptl_wrap_dim(op, a->n_ints > 2 ? a->ints[2] : 0, x->ndim, &d));
  if (x->ndim > 0 && x->shape[d] == 0)
    return ptl_error(PTL_ERR_INDEX, "%s(): Expected reduction dim %d to have non-zero size.", op,
                     d);
  out->ndim = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (i != d)
      out->shape[out->ndim++] = x->shape[i];
    else if (keepdim)
      out->shape[out->ndim++] = 1;
  }
  return PTL_OK;
}

typedef struct {
  bool is_max, is_float;
  ptl_dtype xd;
  const char *x;
  int64_t n, s; /* reduced dim length and stride */
  int64_t *y;
  /* flattened scan */
  int64_t count, best;
  double bd;
  int64_t bi;
} arg_ctx;

/* Index of the first element equal to v (the first NaN when v is NaN); v occurs. */
static int64_t find_first_f32(const float *x, int64_t n, float v) {
  int64_t i = 0;
  bool nan = v != v;
#ifdef __SSE2__
  __m128 vv = _mm_set1_ps(v);
  for (; i + 4 <= n; i += 4) {
    __m128 e = _mm_loadu_ps(x + i);
    int mask = _mm_movemask_ps(nan ? _mm_cmpunord_ps(e, e) : _mm_cmpeq_ps(e, vv));
    if (mask)
      return i + __builtin_ctz((unsigned)mask);
  }
#endif
  for (; i < n; i++)
    if (nan ? x[i] != x[i] : x[i] == v)
      return i;
  return 0;
}

/* First occurrence wins ties; the first NaN wins over everything (NaN is max and min). */
static inline bool better_d(bool is_max, double v, double b) {
  if (b != b)
    return false;
  if (v != v)
    return true;
  return is_max ? v > b : v < b;
}

static void arg_scan_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  const arg_ctx *c = vctx;
  for (int64_t r = 0; r < n; r++) {
    int64_t base = off[1] + r * st[1], best = 0;
    if (c->xd == PTL_FLOAT32 && c->s == 1) {
      /* vectorized extreme first, then the first element equal to it (or NaN) */
      const float *x = (const float *)c->x + base;
      double m = extreme_f32(x, c->n, c->is_max, c->is_max ? -INFINITY : INFINITY);
      best = find_first_f32(x, c->n, (float)m);
    } else if (c->is_float) {
      double b = load_d(c->xd, c->x, base);
      for (int64_t i = 1; i < c->n; i++) {
        double v = load_d(c->xd, c->x, base + i * c->s);
        if (better_d(c->is_max, v, b)) {
          b = v;
          best = i;
        }
      }
    } else {
      int64_t b = load_i(c->xd, c->x, base);
      for (int64_t i = 1; i < c->n; i++) {
        int64_t v = load_i(c->xd, c->x, base + i * c->s);
        if (c->is_max ? v > b : v < b) {
          b = v;
          best = i;
        }
      }
    }
    c->y[off[0] + r * st[0]] = best;
  }
}

static void arg_flat_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  arg_ctx *c = vctx;
  for (int64_t i = 0; i < n; i++, c->count++) {
    int64_t k = off[0] + i * st[0];
    if (c->is_float) {
      double v = load_d(c->xd, c->x, k);
      if (c->count == 0 || better_d(c->is_max, v, c->bd)) {
        c->bd = v;
        c->best = c->count;
      }
    } else {
      int64_t v = load_i(c->xd, c->x, k);
      if (c->count == 0 || (c->is_max ? v > c->bi : v < c->bi)) {
        c->bi = v;
        c->best = c->count;
      }
    }
  }
}

ptl_status ptl_argreduce_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  const ptl_attrs *a = call->attrs;
  arg_ctx c = {call->op == PTL_OP_ARGMAX,
               ptl_dtype_is_float(x->dtype),
               x->dtype,
               ptl_tensor_data(x),
               1,
               0,
               ptl_tensor_data(y),
               0,
               0,
               0,
               0};
  bool has_dim = a->n_ints > 1 && a->ints[1];
  if ((!has_dim || x->ndim == 0) && x->dtype == PTL_FLOAT32 && ptl_tensor_is_contiguous(x)) {
    const float *xf = (const float *)c.x;
    int64_t n = ptl_tensor_numel(x);
    c.y[0] =
        find_first_f32(xf, n, (float)extreme_f32(xf, n, c.is_max, c.is_max ? -INFINITY : INFINITY));
    return PTL_OK;
  }
  if (!has_dim || x->ndim == 0) {
    ptl_for_each_row(x->ndim, x->shape, 1, (const int64_t(*)[PTL_MAX_DIMS])x->strides, arg_flat_row,
                     &c);
    c.y[0] = c.best;
    return PTL_OK;
  }
  int d;
  PTL_CHECK(ptl_wrap_dim(ptl_op_name(call->op), a->ints[2], x->ndim, &d));
  c.n = x->shape[d];
  c.s = x->strides[d];
  /* iterate the input's shape with dim d collapsed to 1; output strides follow it */
  int64_t shape[PTL_MAX_DIMS], st[2][PTL_MAX_DIMS];
  bool keepdim = a->n_ints > 0 && a->ints[0];
  for (int i = 0, j = 0; i < x->ndim; i++) {
    shape[i] = i == d ? 1 : x->shape[i];
    st[1][i] = x->strides[i];
    if (i == d) {
      st[0][i] = 0;
      j += keepdim;
    } else {
      st[0][i] = y->strides[j++];
    }
  }
  ptl_for_each_row(x->ndim, shape, 2, (const int64_t(*)[PTL_MAX_DIMS])st, arg_scan_row, &c);
  return PTL_OK;
}
