/* eltwise.c - elementwise binary, comparison, where and unary ops.
 *
 * Type promotion follows torch's result_type: operands are split into three
 * tiers (tensors with dims, 0-d tensors, wrapped Python numbers); a lower tier
 * only changes the result when it is of a higher category (bool < int < float).
 *
 * REF walks any strides through ptl_for_each_row with per-element dtype
 * dispatch. FAST covers float32: flat (same dense strides or scalar operands)
 * loops that the compiler vectorizes, split over the threadpool for large
 * tensors, and XNNPACK for the unaries where its kernels are exact (abs, neg,
 * sqrt, floor, ceil, round). Both paths evaluate the same scalar expression, so
 * results are bit-identical. XNNPACK's binary operators are not used: they
 * clamp their output with max/min, which turns NaN into -inf. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "../internal.h"

/* ---- dtypes and promotion ------------------------------------------------ */
static int dtype_rank(ptl_dtype d) {
  switch (d) {
  case PTL_BOOL: return 0;
  case PTL_UINT8:
  case PTL_INT8: return 1;
  case PTL_INT32: return 3;
  case PTL_INT64: return 4;
  case PTL_FLOAT16: return 5;
  case PTL_FLOAT32: return 6;
  default: return -1;
  }
}

static bool is_float(ptl_dtype d) {
  return d == PTL_FLOAT32 || d == PTL_FLOAT16;
}

static ptl_dtype promote2(ptl_dtype a, ptl_dtype b) {
  if (a == b)
    return a;
  /* torch gives int16 here; ptlite has no int16, int32 holds every value */
  if ((a == PTL_UINT8 && b == PTL_INT8) || (a == PTL_INT8 && b == PTL_UINT8))
    return PTL_INT32;
  return dtype_rank(a) >= dtype_rank(b) ? a : b;
}

/* torch's combine_categories: `lower` only matters when it is of a higher kind */
static ptl_dtype combine(ptl_dtype higher, bool have_h, ptl_dtype lower, bool have_l) {
  if (!have_h)
    return lower;
  if (!have_l || is_float(higher))
    return higher;
  if (higher == PTL_BOOL || is_float(lower))
    return promote2(higher, lower);
  return higher;
}

static ptl_status check_dtype(const char *op, const ptl_tensor *t) {
  if (dtype_rank(t->dtype) < 0)
    return ptl_error(PTL_ERR_DTYPE, "%s: not supported for dtype %s", op, ptl_dtype_name(t->dtype));
  return PTL_OK;
}

static ptl_status result_type(const char *op, ptl_tensor *const *in, int n, ptl_dtype *out) {
  ptl_dtype r[3] = {PTL_BOOL, PTL_BOOL, PTL_BOOL};
  bool have[3] = {false, false, false};
  for (int i = 0; i < n; i++) {
    const ptl_tensor *t = in[i];
    PTL_CHECK(check_dtype(op, t));
    int tier = t->wrapped_number ? 2 : t->ndim == 0 ? 1 : 0;
    ptl_dtype d = t->dtype;
    if (tier == 2 && is_float(d))
      d = PTL_FLOAT32; /* a Python float is the default dtype */
    r[tier] = have[tier] ? promote2(r[tier], d) : d;
    have[tier] = true;
  }
  ptl_dtype res = combine(r[0], have[0], r[1], have[1]);
  bool have_res = have[0] || have[1];
  *out = combine(res, have_res, r[2], have[2]);
  return PTL_OK;
}

/* torch's canCast: no float -> integral, no non-bool -> bool */
static bool can_cast(ptl_dtype from, ptl_dtype to) {
  if (is_float(from) && !is_float(to))
    return false;
  if (from != PTL_BOOL && to == PTL_BOOL)
    return false;
  return true;
}

/* An out tensor given by the caller (in-place ops): the result is cast to it. */
static ptl_status out_dtype(const ptl_call *call, ptl_dtype res, ptl_dtype *ot) {
  *ot = res;
  const ptl_tensor *o = call->out[0];
  if (o) {
    if (!can_cast(res, o->dtype))
      return ptl_error(PTL_ERR_DTYPE,
                       "%s: result type %s can't be cast to the desired output "
                       "type %s",
                       ptl_op_name(call->op), ptl_torch_scalar_name(res),
                       ptl_torch_scalar_name(o->dtype));
    *ot = o->dtype;
  }
  return PTL_OK;
}

/* ---- layout ---------------------------------------------------------------- */
static void strides_ignoring_ones(const ptl_tensor *t, int64_t *s) {
  for (int i = 0; i < t->ndim; i++)
    s[i] = t->shape[i] == 1 ? 0 : t->strides[i];
}

/* Output shape = broadcast of the inputs. Layout: the first input that has the
 * full output shape lends its strides when it is dense, else contiguous. That is
 * torch's result for the common cases: x_cl + bias[C,1,1] and x_cl + y stay
 * channels-last, y + x_cl is contiguous (the first operand decides). */
static ptl_status broadcast_desc(const char *op, ptl_tensor *const *in, int n,
                                 ptl_tensor_desc *out) {
  int nd = 0;
  int64_t shape[PTL_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    int nn;
    int64_t tmp[PTL_MAX_DIMS];
    PTL_CHECK(ptl_broadcast_shapes(op, nd, shape, in[i]->ndim, in[i]->shape, &nn, tmp));
    nd = nn;
    memcpy(shape, tmp, sizeof(int64_t) * (size_t)nd);
  }
  out->ndim = nd;
  memcpy(out->shape, shape, sizeof(int64_t) * (size_t)nd);
  for (int i = 0; i < n; i++) {
    const ptl_tensor *t = in[i];
    if (t->ndim != nd || memcmp(t->shape, shape, sizeof(int64_t) * (size_t)nd) != 0 ||
        ptl_numel_of(nd, shape) <= 1)
      continue;
    if (ptl_tensor_is_dense(t) && !ptl_tensor_is_contiguous(t)) {
      out->has_strides = true;
      memcpy(out->strides, t->strides, sizeof(int64_t) * (size_t)nd);
    }
    return PTL_OK;
  }
  return PTL_OK;
}

/* Walks the broadcast shape with operand 0 (the output) in memory order, so a
 * channels-last output gives long contiguous rows. */
static void for_each_row_sorted(const ptl_tensor *y, int n_ops, ptl_tensor *const *ins,
                                ptl_row_fn fn, void *ctx) {
  int nd = y->ndim;
  int64_t st[PTL_ITER_MAX_OPS][PTL_MAX_DIMS];
  memcpy(st[0], y->strides, sizeof(int64_t) * (size_t)nd);
  for (int k = 1; k < n_ops; k++)
    ptl_broadcast_strides(ins[k - 1], nd, y->shape, st[k]);
  int perm[PTL_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    int j = i;
    while (j > 0 && st[0][perm[j - 1]] < st[0][i]) {
      perm[j] = perm[j - 1];
      j--;
    }
    perm[j] = i;
  }
  int64_t shape[PTL_MAX_DIMS], pst[PTL_ITER_MAX_OPS][PTL_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    shape[i] = y->shape[perm[i]];
    for (int k = 0; k < n_ops; k++)
      pst[k][i] = st[k][perm[i]];
  }
  ptl_for_each_row(nd, shape, n_ops, (const int64_t(*)[PTL_MAX_DIMS])pst, fn, ctx);
}

/* ---- element access -------------------------------------------------------- */
static inline float ld_f(ptl_dtype d, const char *p, int64_t i) {
  switch (d) {
  case PTL_FLOAT32: return ((const float *)p)[i];
  case PTL_FLOAT16: return ptl_half_to_float(((const uint16_t *)p)[i]);
  case PTL_INT8: return ((const int8_t *)p)[i];
  case PTL_UINT8:
  case PTL_BOOL: return ((const uint8_t *)p)[i];
  case PTL_INT32: return (float)((const int32_t *)p)[i];
  case PTL_INT64: return (float)((const int64_t *)p)[i];
  default: return 0;
  }
}

static inline int64_t ld_i(ptl_dtype d, const char *p, int64_t i) {
  switch (d) {
  case PTL_INT8: return ((const int8_t *)p)[i];
  case PTL_UINT8:
  case PTL_BOOL: return ((const uint8_t *)p)[i];
  case PTL_INT32: return ((const int32_t *)p)[i];
  case PTL_INT64: return ((const int64_t *)p)[i];
  default: return ptl_load_i64(d, p, i);
  }
}

static inline void st_f(ptl_dtype d, char *p, int64_t i, float v) {
  switch (d) {
  case PTL_FLOAT32: ((float *)p)[i] = v; break;
  case PTL_FLOAT16: ((uint16_t *)p)[i] = ptl_float_to_half(v); break;
  default: ptl_store_f64(d, p, i, v); break;
  }
}

/* integers wrap as they do in torch (two's complement truncation) */
static inline void st_i(ptl_dtype d, char *p, int64_t i, int64_t v) {
  switch (d) {
  case PTL_INT8: ((int8_t *)p)[i] = (int8_t)(uint8_t)v; break;
  case PTL_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
  case PTL_BOOL: ((uint8_t *)p)[i] = v != 0; break;
  case PTL_INT32: ((int32_t *)p)[i] = (int32_t)(uint32_t)v; break;
  case PTL_INT64: ((int64_t *)p)[i] = v; break;
  default: st_f(d, p, i, (float)v); break;
  }
}

static inline float round_half(float v) {
  return ptl_half_to_float(ptl_float_to_half(v));
}

/* v converted to integral dtype d and back (torch converts operands to the common dtype) */
static inline int64_t wrap_i(ptl_dtype d, int64_t v) {
  switch (d) {
  case PTL_INT8: return (int8_t)(uint8_t)v;
  case PTL_UINT8: return (uint8_t)v;
  case PTL_BOOL: return v != 0;
  case PTL_INT32: return (int32_t)(uint32_t)v;
  default: return v;
  }
}

/* ---- scalar definitions (shared by REF and FAST) ---------------------------- */
/* RELU's expression (kernels/activation.c): NaN and -0.0 pass through, as torch.
 * ADD with the fused-relu flag stores this, so fusing is bit-exact. */
static inline float relu_f(float v) {
  return v < 0.0f ? 0.0f : v;
}

/* NaN propagates (torch.maximum / minimum); ties (-0.0 vs 0.0) give a, as torch */
static inline float max_f(float a, float b) {
  return a != a ? a : b != b ? b : a < b ? b : a;
}
static inline float min_f(float a, float b) {
  return a != a ? a : b != b ? b : a > b ? b : a;
}

static inline float floordiv_f(float a, float b) {
  /* torch's div_floor_floating */
  if (b == 0)
    return a / b;
  float mod = fmodf(a, b);
  float div = (a - mod) / b;
  if (mod != 0 && (b < 0) != (mod < 0))
    div -= 1;
  if (div == 0)
    return copysignf(0.0f, a / b);
  float fl = floorf(div);
  if (div - fl > 0.5f)
    fl += 1.0f;
  return fl;
}

static inline float remainder_f(float a, float b) {
  float m = fmodf(a, b);
  if (m != 0 && ((b < 0) != (m < 0)))
    m += b;
  return m;
}

enum { POW_GENERIC, POW_SQR, POW_CUBE, POW_SQRT, POW_RSQRT, POW_RECIP, POW_RECIP_SQR };

static inline float bin_f(int op, float a, float b, float alpha, int mode) {
  switch (op) {
  case PTL_OP_ADD: return a + alpha * b;
  case PTL_OP_SUB: return a - alpha * b;
  case PTL_OP_MUL: return a * b;
  case PTL_OP_DIV: return mode == 0 ? a / b : mode == 1 ? truncf(a / b) : floordiv_f(a, b);
  case PTL_OP_POW:
    switch (mode) {
    case POW_SQR: return a * a;
    case POW_CUBE: return a * a * a;
    case POW_SQRT: return sqrtf(a);
    case POW_RSQRT: return 1.0f / sqrtf(a);
    case POW_RECIP: return 1.0f / a;
    case POW_RECIP_SQR: return 1.0f / (a * a);
    default: return powf(a, b);
    }
  case PTL_OP_MAXIMUM: return max_f(a, b);
  case PTL_OP_MINIMUM: return min_f(a, b);
  case PTL_OP_REMAINDER: return remainder_f(a, b);
  default: return 0;
  }
}

static inline int64_t ipow(int64_t a, int64_t b) {
  if (b < 0)
    return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
  uint64_t r = 1, x = (uint64_t)a;
  while (b) {
    if (b & 1)
      r *= x;
    x *= x;
    b >>= 1;
  }
  return (int64_t)r;
}

/* *zero set on integer division by zero (torch raises ZeroDivisionError) */
static inline int64_t bin_i(int op, int64_t a, int64_t b, int64_t alpha, int mode, int *zero) {
  switch (op) {
  case PTL_OP_ADD: return (int64_t)((uint64_t)a + (uint64_t)alpha * (uint64_t)b);
  case PTL_OP_SUB: return (int64_t)((uint64_t)a - (uint64_t)alpha * (uint64_t)b);
  case PTL_OP_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
  case PTL_OP_DIV: {
    if (b == 0) {
      *zero = 1;
      return 0;
    }
    if (b == -1)
      return (int64_t)(0 - (uint64_t)a);
    int64_t q = a / b;
    if (mode == 2 && (a % b != 0) && ((a < 0) != (b < 0)))
      q--;
    return q;
  }
  case PTL_OP_REMAINDER: {
    if (b == 0) {
      *zero = 1;
      return 0;
    }
    if (b == -1)
      return 0;
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
      r += b;
    return r;
  }
  case PTL_OP_POW: return ipow(a, b);
  case PTL_OP_MAXIMUM: return a > b ? a : b;
  case PTL_OP_MINIMUM: return a < b ? a : b;
  default: return 0;
  }
}

/* ---- binary ----------------------------------------------------------------- */
typedef struct {
  int op, mode;
  ptl_dtype ct;    /* compute dtype */
  ptl_dtype dt[3]; /* out, a, b */
  char *base[3];
  float alpha_f;
  int64_t alpha_i;
  int zero;
  bool relu; /* ADD i[0] = 1: max(0, a + alpha * b), set by the fuse_add_relu pass */
} bin_ctx;

/* compute dtype and result dtype of a binary op */
static ptl_status binary_types(const ptl_call *call, ptl_dtype *ct, ptl_dtype *rt) {
  const char *op = ptl_op_name(call->op);
  PTL_CHECK(result_type(op, call->in, 2, ct));
  *rt = *ct;
  switch (call->op) {
  case PTL_OP_ADD: {
    /* only ADD reads i[0] as the fused-relu flag (DIV's i[0] is its rounding mode) */
    int64_t relu = call->attrs->n_ints > 0 ? call->attrs->ints[0] : 0;
    if (relu != 0 && relu != 1)
      return ptl_error(PTL_ERR_VALUE, "add: fused relu flag i[0] must be 0 or 1, got %lld",
                       (long long)relu);
    break;
  }
  case PTL_OP_SUB:
    /* torch's sub_check: any bool operand, even a Python bool */
    if (call->in[0]->dtype == PTL_BOOL || call->in[1]->dtype == PTL_BOOL)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "sub: Subtraction, the `-` operator, with a bool tensor is not "
                       "supported. If you are trying to invert a mask, use the `~` or "
                       "`logical_not()` operator instead.");
    break;
  case PTL_OP_DIV: {
    int64_t mode = call->attrs->n_ints > 0 ? call->attrs->ints[0] : 0;
    if (mode < 0 || mode > 2)
      return ptl_error(PTL_ERR_VALUE,
                       "div: rounding_mode code %lld is not 0 (None), 1 (trunc) "
                       "or 2 (floor)",
                       (long long)mode);
    if (mode == 0 && !is_float(*ct))
      *ct = *rt = PTL_FLOAT32; /* true division of integers is floating */
    break;
  }
  case PTL_OP_POW: {
    const ptl_tensor *b = call->in[1];
    if (!is_float(*ct) && b->wrapped_number && ld_i(b->dtype, ptl_tensor_data(b), 0) < 0)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "pow: Integers to negative integer powers are not allowed.");
    break;
  }
  default: break;
  }
  if ((call->op == PTL_OP_ADD || call->op == PTL_OP_SUB) && !is_float(*ct) &&
      call->attrs->n_floats > 0) {
    double alpha = call->attrs->floats[0];
    if (alpha != floor(alpha))
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "%s: for integral input tensors, argument alpha must not be a floating "
                       "point number.",
                       op);
  }
  return PTL_OK;
}

ptl_status ptl_binary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  ptl_dtype ct, rt;
  PTL_CHECK(binary_types(call, &ct, &rt));
  PTL_CHECK(out_dtype(call, rt, &out->dtype));
  return broadcast_desc(ptl_op_name(call->op), call->in, 2, out);
}

static void bin_setup(const ptl_call *call, bin_ctx *c) {
  ptl_dtype rt;
  memset(c, 0, sizeof *c);
  binary_types(call, &c->ct, &rt); /* already validated by infer */
  c->op = call->op;
  const ptl_tensor *y = call->out[0];
  c->dt[0] = y->dtype;
  c->base[0] = ptl_tensor_data(y);
  for (int k = 0; k < 2; k++) {
    c->dt[k + 1] = call->in[k]->dtype;
    c->base[k + 1] = ptl_tensor_data(call->in[k]);
  }
  double alpha = call->attrs->n_floats > 0 ? call->attrs->floats[0] : 1.0;
  c->alpha_f = (float)alpha;
  c->alpha_i = (int64_t)alpha;
  if (call->op == PTL_OP_DIV)
    c->mode = call->attrs->n_ints > 0 ? (int)call->attrs->ints[0] : 0;
  if (call->op == PTL_OP_ADD)
    c->relu = call->attrs->n_ints > 0 && call->attrs->ints[0] == 1;
  if (call->op == PTL_OP_POW && is_float(c->ct) && call->in[1]->wrapped_number) {
    /* torch's pow(Tensor, Scalar) special-cases these exponents */
    float e = ld_f(c->dt[2], c->base[2], 0);
    c->mode = e == 2       ? POW_SQR
              : e == 3     ? POW_CUBE
              : e == 0.5f  ? POW_SQRT
              : e == -0.5f ? POW_RSQRT
              : e == -1    ? POW_RECIP
              : e == -2    ? POW_RECIP_SQR
                           : POW_GENERIC;
  }
}

static void bin_row_ref(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  bin_ctx *c = vc;
  if (is_float(c->ct)) {
    for (int64_t i = 0; i < n; i++) {
      float a = ld_f(c->dt[1], c->base[1], off[1] + i * st[1]);
      float b = ld_f(c->dt[2], c->base[2], off[2] + i * st[2]);
      if (c->ct == PTL_FLOAT16) {
        /* operands are converted to the common dtype first (a Python 0.1 becomes half) */
        a = round_half(a);
        b = round_half(b);
      }
      float r = bin_f(c->op, a, b, c->alpha_f, c->mode);
      if (c->ct == PTL_FLOAT16 && c->dt[0] != PTL_FLOAT16)
        r = round_half(r); /* round to the compute dtype first */
      if (c->relu)
        r = relu_f(r);
      st_f(c->dt[0], c->base[0], off[0] + i * st[0], r);
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      int64_t a = ld_i(c->dt[1], c->base[1], off[1] + i * st[1]);
      int64_t b = ld_i(c->dt[2], c->base[2], off[2] + i * st[2]);
      if (c->ct != PTL_INT64) {
        a = wrap_i(c->ct, a);
        b = wrap_i(c->ct, b);
      }
      int64_t r = bin_i(c->op, a, b, c->alpha_i, c->mode, &c->zero);
      if (c->ct != c->dt[0] && c->ct != PTL_INT64)
        r = wrap_i(c->ct, r); /* wrap to the compute dtype before widening into the out dtype */
      if (c->relu && r < 0)
        r = 0;
      st_i(c->dt[0], c->base[0], off[0] + i * st[0], r);
    }
  }
}

static ptl_status zero_division(const ptl_call *call) {
  return ptl_error(PTL_ERR_VALUE, "%s: ZeroDivisionError: integer division by zero",
                   ptl_op_name(call->op));
}

ptl_status ptl_binary_ref(const ptl_call *call) {
  bin_ctx c;
  bin_setup(call, &c);
  for_each_row_sorted(call->out[0], 3, call->in, bin_row_ref, &c);
  return c.zero ? zero_division(call) : PTL_OK;
}

/* float32 loops: one per op and operand pattern, simple enough to vectorize */
#define F32_LOOPS(NAME, EXPR)                                                                      \
  static void NAME##_vv(float *restrict y, const float *restrict a, const float *restrict b,       \
                        int64_t n, float alpha) {                                                  \
    (void)alpha;                                                                                   \
    for (int64_t i = 0; i < n; i++) {                                                              \
      float x1 = a[i], x2 = b[i];                                                                  \
      y[i] = EXPR;                                                                                 \
    }                                                                                              \
  }                                                                                                \
  static void NAME##_vs(float *restrict y, const float *restrict a, const float *restrict b,       \
                        int64_t n, float alpha) {                                                  \
    (void)alpha;                                                                                   \
    const float x2 = b[0];                                                                         \
    for (int64_t i = 0; i < n; i++) {                                                              \
      float x1 = a[i];                                                                             \
      y[i] = EXPR;                                                                                 \
    }                                                                                              \
  }                                                                                                \
  static void NAME##_sv(float *restrict y, const float *restrict a, const float *restrict b,       \
                        int64_t n, float alpha) {                                                  \
    (void)alpha;                                                                                   \
    const float x1 = a[0];                                                                         \
    for (int64_t i = 0; i < n; i++) {                                                              \
      float x2 = b[i];                                                                             \
      y[i] = EXPR;                                                                                 \
    }                                                                                              \
  }

F32_LOOPS(add1, x1 + x2)
F32_LOOPS(add, x1 + alpha * x2)
F32_LOOPS(add1_relu, relu_f(x1 + x2))
F32_LOOPS(add_relu, relu_f(x1 + alpha * x2))
F32_LOOPS(sub1, x1 - x2)
F32_LOOPS(sub, x1 - alpha * x2)
F32_LOOPS(mul, x1 *x2)
F32_LOOPS(div, x1 / x2)
F32_LOOPS(maximum, max_f(x1, x2))
F32_LOOPS(minimum, min_f(x1, x2))

typedef void (*f32_loop)(float *restrict, const float *restrict, const float *restrict, int64_t,
                         float);
typedef struct {
  f32_loop vv, vs, sv;
} f32_loops;

static bool f32_loops_for(const bin_ctx *c, f32_loops *l) {
  bool one = c->alpha_f == 1.0f;
  switch (c->op) {
  case PTL_OP_ADD:
    if (c->relu)
      *l = one ? (f32_loops){add1_relu_vv, add1_relu_vs, add1_relu_sv}
               : (f32_loops){add_relu_vv, add_relu_vs, add_relu_sv};
    else
      *l = one ? (f32_loops){add1_vv, add1_vs, add1_sv} : (f32_loops){add_vv, add_vs, add_sv};
    return true;
  case PTL_OP_SUB:
    *l = one ? (f32_loops){sub1_vv, sub1_vs, sub1_sv} : (f32_loops){sub_vv, sub_vs, sub_sv};
    return true;
  case PTL_OP_MUL: *l = (f32_loops){mul_vv, mul_vs, mul_sv}; return true;
  case PTL_OP_DIV:
    if (c->mode != 0)
      return false;
    *l = (f32_loops){div_vv, div_vs, div_sv};
    return true;
  case PTL_OP_MAXIMUM: *l = (f32_loops){maximum_vv, maximum_vs, maximum_sv}; return true;
  case PTL_OP_MINIMUM: *l = (f32_loops){minimum_vv, minimum_vs, minimum_sv}; return true;
  default: return false;
  }
}

typedef struct {
  bin_ctx c;
  f32_loops l;
} fast_ctx;

/* Unit-stride rows with the pattern loops; in-place output (y == a) is the
 * only overlap possible and reads each element before writing it. */
static void bin_row_fast(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  fast_ctx *f = vc;
  float *y = (float *)f->c.base[0] + off[0];
  const float *a = (const float *)f->c.base[1] + off[1];
  const float *b = (const float *)f->c.base[2] + off[2];
  if (st[0] == 1 && st[1] == 1 && st[2] == 1)
    f->l.vv(y, a, b, n, f->c.alpha_f);
  else if (st[0] == 1 && st[1] == 1 && st[2] == 0)
    f->l.vs(y, a, b, n, f->c.alpha_f);
  else if (st[0] == 1 && st[1] == 0 && st[2] == 1)
    f->l.sv(y, a, b, n, f->c.alpha_f);
  else
    bin_row_ref(&f->c, off, st, n);
}

/* Flat case: every operand is either a single element or shares the output's
 * dense strides, so the op is one 1-d loop over memory. Split into chunks
 * across the threadpool; chunk results do not depend on the thread count. */
#define FLAT_CHUNK 32768
typedef struct {
  fast_ctx *f;
  int64_t n;
  int64_t st[3];
} flat_job;

static void flat_chunk(void *vj, size_t i) {
  flat_job *j = vj;
  int64_t start = (int64_t)i * FLAT_CHUNK;
  int64_t len = j->n - start < FLAT_CHUNK ? j->n - start : FLAT_CHUNK;
  int64_t off[3];
  for (int k = 0; k < 3; k++)
    off[k] = start * j->st[k];
  bin_row_fast(j->f, off, j->st, len);
}

static bool same_dense_layout(const ptl_tensor *t, const ptl_tensor *y) {
  if (t->ndim != y->ndim || memcmp(t->shape, y->shape, sizeof(int64_t) * (size_t)y->ndim))
    return false;
  int64_t s1[PTL_MAX_DIMS], s2[PTL_MAX_DIMS];
  strides_ignoring_ones(t, s1);
  strides_ignoring_ones(y, s2);
  return memcmp(s1, s2, sizeof(int64_t) * (size_t)y->ndim) == 0;
}

/* Splits the outermost dim (in output memory order) of a broadcast over the
 * threadpool; each part walks its rows with the same loops. */
typedef struct {
  const fast_ctx *f;
  int nd;
  int64_t shape[PTL_MAX_DIMS];
  int64_t st[3][PTL_MAX_DIMS];
  int64_t per;
} par_job;

static void par_part(void *vj, size_t i) {
  const par_job *j = vj;
  int64_t start = (int64_t)i * j->per;
  int64_t len = j->shape[0] - start < j->per ? j->shape[0] - start : j->per;
  fast_ctx f = *j->f;
  for (int k = 0; k < 3; k++)
    f.c.base[k] += start * j->st[k][0] * (int64_t)sizeof(float);
  int64_t shape[PTL_MAX_DIMS];
  memcpy(shape, j->shape, sizeof shape);
  shape[0] = len;
  ptl_for_each_row(j->nd, shape, 3, (const int64_t(*)[PTL_MAX_DIMS])j->st, bin_row_fast, &f);
}

static void par_rows(const ptl_tensor *y, ptl_tensor *const *ins, fast_ctx *f) {
  par_job j;
  int nd = 0;
  int64_t st[3][PTL_MAX_DIMS];
  memcpy(st[0], y->strides, sizeof(int64_t) * (size_t)y->ndim);
  for (int k = 1; k < 3; k++)
    ptl_broadcast_strides(ins[k - 1], y->ndim, y->shape, st[k]);
  /* drop size-1 dims, order by output stride */
  int perm[PTL_MAX_DIMS];
  for (int i = 0; i < y->ndim; i++) {
    if (y->shape[i] == 1)
      continue;
    int p = nd++;
    while (p > 0 && st[0][perm[p - 1]] < st[0][i]) {
      perm[p] = perm[p - 1];
      p--;
    }
    perm[p] = i;
  }
  if (nd == 0) {
    for_each_row_sorted(y, 3, ins, bin_row_fast, f);
    return;
  }
  j.f = f;
  j.nd = nd;
  for (int i = 0; i < nd; i++) {
    j.shape[i] = y->shape[perm[i]];
    for (int k = 0; k < 3; k++)
      j.st[k][i] = st[k][perm[i]];
  }
  int64_t n = ptl_tensor_numel(y), inner = n / j.shape[0];
  j.per = (FLAT_CHUNK + inner - 1) / inner; /* outer indices per part, ~FLAT_CHUNK elements */
  ptl_parallel_for(par_part, &j, (size_t)((j.shape[0] + j.per - 1) / j.per));
}

/* ---- XNNPACK operator cache: one slot per kind, taken and put back with atomics
 * so concurrent callers never share an operator (a loser builds its own). */
typedef struct {
  xnn_operator_t op;
  int kind;
  float p[2];
} xnn_slot;

#define N_XNN_SLOTS 24
static _Atomic(xnn_slot *) g_slots[N_XNN_SLOTS];

static xnn_slot *slot_take(int kind) {
  return atomic_exchange(&g_slots[kind], NULL);
}

static void slot_put(int kind, xnn_slot *s) {
  xnn_slot *expected = NULL;
  if (!atomic_compare_exchange_strong(&g_slots[kind], &expected, s)) {
    xnn_delete_operator(s->op);
    free(s);
  }
}

enum { XK_ABS, XK_NEG, XK_SQRT, XK_FLOOR, XK_CEIL, XK_ROUND, XK_CLAMP };

#define XNN_MIN_NUMEL 65536

ptl_status ptl_binary_fast(const ptl_call *call) {
  bin_ctx c;
  bin_setup(call, &c);
  if (c.ct != PTL_FLOAT32 || c.dt[0] != PTL_FLOAT32 || c.dt[1] != PTL_FLOAT32 ||
      c.dt[2] != PTL_FLOAT32)
    return PTL_ERR_UNSUPPORTED;
  fast_ctx f = {c, {0}};
  if (!f32_loops_for(&c, &f.l))
    return PTL_ERR_UNSUPPORTED;
  const ptl_tensor *y = call->out[0];
  int64_t n = ptl_tensor_numel(y);
  if (n == 0)
    return PTL_OK;
  bool flat = ptl_tensor_is_dense(y);
  int64_t st[3] = {1, 1, 1};
  for (int k = 0; k < 2 && flat; k++) {
    const ptl_tensor *t = call->in[k];
    if (ptl_tensor_numel(t) == 1)
      st[k + 1] = 0;
    else
      flat = same_dense_layout(t, y);
  }
  if (flat) {
    flat_job j = {&f, n, {st[0], st[1], st[2]}};
    ptl_parallel_for(flat_chunk, &j, (size_t)((n + FLAT_CHUNK - 1) / FLAT_CHUNK));
    return PTL_OK;
  }
  /* broadcasts: rows in the output's memory order, outer dim split over threads */
  par_rows(y, call->in, &f);
  return PTL_OK;
}

/* ---- comparisons and logic ---------------------------------------------------- */
ptl_status ptl_compare_infer(const ptl_call *call, ptl_tensor_desc *out) {
  ptl_dtype ct;
  PTL_CHECK(result_type(ptl_op_name(call->op), call->in, 2, &ct));
  PTL_CHECK(out_dtype(call, PTL_BOOL, &out->dtype));
  return broadcast_desc(ptl_op_name(call->op), call->in, 2, out);
}

static inline bool cmp_f(int op, float a, float b) {
  switch (op) {
  case PTL_OP_EQ: return a == b;
  case PTL_OP_NE: return a != b;
  case PTL_OP_LT: return a < b;
  case PTL_OP_LE: return a <= b;
  case PTL_OP_GT: return a > b;
  case PTL_OP_GE: return a >= b;
  case PTL_OP_LOGICAL_AND: return a != 0 && b != 0;
  default: return a != 0 || b != 0;
  }
}

static inline bool cmp_i(int op, int64_t a, int64_t b) {
  switch (op) {
  case PTL_OP_EQ: return a == b;
  case PTL_OP_NE: return a != b;
  case PTL_OP_LT: return a < b;
  case PTL_OP_LE: return a <= b;
  case PTL_OP_GT: return a > b;
  case PTL_OP_GE: return a >= b;
  case PTL_OP_LOGICAL_AND: return a != 0 && b != 0;
  default: return a != 0 || b != 0;
  }
}

static void cmp_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  bin_ctx *c = vc;
  for (int64_t i = 0; i < n; i++) {
    bool r;
    if (is_float(c->ct)) {
      float a = ld_f(c->dt[1], c->base[1], off[1] + i * st[1]);
      float b = ld_f(c->dt[2], c->base[2], off[2] + i * st[2]);
      if (c->ct == PTL_FLOAT16) {
        /* a wrapped float compares after rounding to the tensor's half dtype */
        a = round_half(a);
        b = round_half(b);
      }
      r = cmp_f(c->op, a, b);
    } else {
      /* operands convert to the common dtype first: uint8 < -3 compares with 253 */
      r = cmp_i(c->op, wrap_i(c->ct, ld_i(c->dt[1], c->base[1], off[1] + i * st[1])),
                wrap_i(c->ct, ld_i(c->dt[2], c->base[2], off[2] + i * st[2])));
    }
    st_i(c->dt[0], c->base[0], off[0] + i * st[0], r);
  }
}

ptl_status ptl_compare_ref(const ptl_call *call) {
  bin_ctx c;
  memset(&c, 0, sizeof c);
  result_type(ptl_op_name(call->op), call->in, 2, &c.ct);
  c.op = call->op;
  c.dt[0] = call->out[0]->dtype;
  c.base[0] = ptl_tensor_data(call->out[0]);
  for (int k = 0; k < 2; k++) {
    c.dt[k + 1] = call->in[k]->dtype;
    c.base[k + 1] = ptl_tensor_data(call->in[k]);
  }
  for_each_row_sorted(call->out[0], 3, call->in, cmp_row, &c);
  return PTL_OK;
}

/* ---- where ------------------------------------------------------------------------ */
ptl_status ptl_where_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *cond = call->in[0];
  if (cond->dtype != PTL_BOOL)
    return ptl_error(PTL_ERR_DTYPE,
                     "where: expected condition to be a boolean tensor, but got a tensor with "
                     "dtype %s",
                     ptl_torch_scalar_name(cond->dtype));
  ptl_dtype rt;
  PTL_CHECK(result_type("where", call->in + 1, 2, &rt));
  PTL_CHECK(out_dtype(call, rt, &out->dtype));
  return broadcast_desc("where", call->in, 3, out);
}

typedef struct {
  ptl_dtype dt[4];
  char *base[4];
  bool fl;
} where_ctx;

static void where_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const where_ctx *c = vc;
  const uint8_t *cond = (const uint8_t *)c->base[1];
  for (int64_t i = 0; i < n; i++) {
    int k = cond[off[1] + i * st[1]] ? 2 : 3;
    int64_t src = off[k] + i * st[k], dst = off[0] + i * st[0];
    if (c->fl)
      st_f(c->dt[0], c->base[0], dst, ld_f(c->dt[k], c->base[k], src));
    else
      st_i(c->dt[0], c->base[0], dst, ld_i(c->dt[k], c->base[k], src));
  }
}

ptl_status ptl_where_ref(const ptl_call *call) {
  where_ctx c;
  c.dt[0] = call->out[0]->dtype;
  c.base[0] = ptl_tensor_data(call->out[0]);
  for (int k = 0; k < 3; k++) {
    c.dt[k + 1] = call->in[k]->dtype;
    c.base[k + 1] = ptl_tensor_data(call->in[k]);
  }
  c.fl = is_float(c.dt[0]);
  for_each_row_sorted(call->out[0], 4, call->in, where_row, &c);
  return PTL_OK;
}

/* ---- unary -------------------------------------------------------------------------- */
static bool unary_to_float(int op) {
  switch (op) {
  case PTL_OP_EXP:
  case PTL_OP_LOG:
  case PTL_OP_SQRT:
  case PTL_OP_RSQRT:
  case PTL_OP_SIN:
  case PTL_OP_COS: return true;
  default: return false;
  }
}

static ptl_status unary_type(const ptl_call *call, ptl_dtype *rt) {
  const ptl_tensor *x = call->in[0];
  const char *op = ptl_op_name(call->op);
  PTL_CHECK(check_dtype(op, x));
  *rt = x->dtype;
  if (call->op == PTL_OP_LOGICAL_NOT)
    *rt = PTL_BOOL;
  else if (unary_to_float(call->op) && !is_float(x->dtype))
    *rt = PTL_FLOAT32;
  else if (x->dtype == PTL_BOOL && call->op == PTL_OP_NEG)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "neg: negation, the `-` operator, on a bool tensor is not supported. If "
                     "you are trying to invert a mask, use the `~` or `logical_not()` operator "
                     "instead.");
  else if (x->dtype == PTL_BOOL)
    return ptl_error(PTL_ERR_DTYPE, "%s: not implemented for 'Bool'", op);
  return PTL_OK;
}

ptl_status ptl_unary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  if (call->op == PTL_OP_CLAMP && x->dtype == PTL_QUINT8) {
    /* torch's quantized clamp: quint8 in, quint8 out with the input's qparams */
    if (!x->qparams || x->qparams->count != 1)
      return ptl_error(PTL_ERR_UNSUPPORTED,
                       "clamp: only per-tensor quantized inputs are supported");
    const ptl_attrs *a = call->attrs;
    if (a->n_ints < 2 || !a->ints[0] || !a->ints[1])
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "clamp: Both min and max should be specified for quantized clamp!");
    if (call->out[0] && call->out[0]->dtype != PTL_QUINT8)
      return ptl_error(PTL_ERR_DTYPE,
                       "clamp: result type QUInt8 can't be cast to the desired "
                       "output type %s",
                       ptl_torch_scalar_name(call->out[0]->dtype));
    out->dtype = PTL_QUINT8;
    out->ndim = x->ndim;
    memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    if (ptl_tensor_is_dense(x) && !ptl_tensor_is_contiguous(x) && ptl_tensor_numel(x) > 1) {
      out->has_strides = true;
      memcpy(out->strides, x->strides, sizeof(int64_t) * (size_t)x->ndim);
    }
    return PTL_OK;
  }
  ptl_dtype rt;
  PTL_CHECK(unary_type(call, &rt));
  PTL_CHECK(out_dtype(call, rt, &out->dtype));
  return broadcast_desc(ptl_op_name(call->op), call->in, 1, out);
}

typedef struct {
  int op;
  ptl_dtype dt[2];
  char *base[2];
  bool has_min, has_max;
  float lo, hi;
  int64_t ilo, ihi;
} un_ctx;

static inline float un_f(const un_ctx *c, float x) {
  switch (c->op) {
  case PTL_OP_NEG: return -x;
  case PTL_OP_ABS: return fabsf(x);
  case PTL_OP_EXP: return expf(x);
  case PTL_OP_LOG: return logf(x);
  case PTL_OP_SQRT: return sqrtf(x);
  case PTL_OP_RSQRT: return 1.0f / sqrtf(x);
  case PTL_OP_SIN: return sinf(x);
  case PTL_OP_COS: return cosf(x);
  case PTL_OP_FLOOR: return floorf(x);
  case PTL_OP_CEIL: return ceilf(x);
  case PTL_OP_ROUND: return nearbyintf(x); /* half to even, as torch */
  case PTL_OP_CLAMP:
    /* torch: min(max(x, lo), hi), NaN propagates */
    if (x != x)
      return x;
    if (c->has_min && x < c->lo)
      x = c->lo;
    if (c->has_max && x > c->hi)
      x = c->hi;
    return x;
  default: return 0;
  }
}

static inline int64_t un_i(const un_ctx *c, int64_t x) {
  switch (c->op) {
  case PTL_OP_NEG: return (int64_t)(0 - (uint64_t)x);
  case PTL_OP_ABS: return x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
  case PTL_OP_LOGICAL_NOT: return x == 0;
  case PTL_OP_CLAMP:
    if (c->has_min && x < c->ilo)
      x = c->ilo;
    if (c->has_max && x > c->ihi)
      x = c->ihi;
    return x;
  default: return x; /* floor, ceil, round of integers */
  }
}

static void un_setup(const ptl_call *call, un_ctx *c) {
  memset(c, 0, sizeof *c);
  c->op = call->op;
  c->dt[0] = call->out[0]->dtype;
  c->dt[1] = call->in[0]->dtype;
  c->base[0] = ptl_tensor_data(call->out[0]);
  c->base[1] = ptl_tensor_data(call->in[0]);
  const ptl_attrs *a = call->attrs;
  if (call->op == PTL_OP_CLAMP) {
    c->has_min = a->n_ints > 0 && a->ints[0];
    c->has_max = a->n_ints > 1 && a->ints[1];
    double lo = a->n_floats > 0 ? a->floats[0] : 0, hi = a->n_floats > 1 ? a->floats[1] : 0;
    c->lo = (float)lo;
    c->hi = (float)hi;
    c->ilo = lo < -9.2e18 ? INT64_MIN : lo > 9.2e18 ? INT64_MAX : (int64_t)lo;
    c->ihi = hi < -9.2e18 ? INT64_MIN : hi > 9.2e18 ? INT64_MAX : (int64_t)hi;
  }
}

static void un_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const un_ctx *c = vc;
  bool fl = c->op != PTL_OP_LOGICAL_NOT && (is_float(c->dt[0]) || unary_to_float(c->op));
  for (int64_t i = 0; i < n; i++) {
    int64_t si = off[1] + i * st[1], di = off[0] + i * st[0];
    if (c->op == PTL_OP_LOGICAL_NOT)
      st_i(c->dt[0], c->base[0], di, ld_f(c->dt[1], c->base[1], si) == 0);
    else if (fl)
      st_f(c->dt[0], c->base[0], di, un_f(c, ld_f(c->dt[1], c->base[1], si)));
    else
      st_i(c->dt[0], c->base[0], di, un_i(c, ld_i(c->dt[1], c->base[1], si)));
  }
}

/* torch's quantized clamp (clamp_quantized_cpu): each bound quantized with the
 * input's qparams (quantize_val: nearbyint(float(b * (1 / s)) + zp), clamped to
 * [0, 255]), then an integer clamp; the result keeps the input's qparams. */
typedef struct {
  const uint8_t *x;
  uint8_t *y;
  int lo, hi;
} qclamp_ctx;

static void qclamp_row(void *vc, const int64_t *off, const int64_t *st, int64_t n) {
  const qclamp_ctx *c = vc;
  for (int64_t i = 0; i < n; i++) {
    int v = c->x[off[1] + i * st[1]];
    v = v < c->lo ? c->lo : v;
    v = v > c->hi ? c->hi : v;
    c->y[off[0] + i * st[0]] = (uint8_t)v;
  }
}

static int qbound(float b, float s, int32_t zp) {
  float v = nearbyintf(b * (1.0f / s) + (float)zp);
  return !(v >= 0.0f) ? 0 : v > 255.0f ? 255 : (int)v;
}

static ptl_status q_clamp(const ptl_call *call, const un_ctx *u) {
  const ptl_tensor *x = call->in[0];
  float s = x->qparams->scale[0];
  int32_t zp = x->qparams->zero_point[0];
  qclamp_ctx c = {ptl_tensor_data(x), ptl_tensor_data(call->out[0]), 0, 255};
  if (u->has_min)
    c.lo = qbound(u->lo, s, zp);
  if (u->has_max)
    c.hi = qbound(u->hi, s, zp);
  if (ptl_tensor_numel(call->out[0]) > 0)
    for_each_row_sorted(call->out[0], 2, call->in, qclamp_row, &c);
  return ptl_qparams_set_per_tensor(call->out[0], s, zp);
}

ptl_status ptl_unary_ref(const ptl_call *call) {
  un_ctx c;
  un_setup(call, &c);
  if (call->op == PTL_OP_CLAMP && call->in[0]->dtype == PTL_QUINT8)
    return q_clamp(call, &c);
  for_each_row_sorted(call->out[0], 2, call->in, un_row, &c);
  return PTL_OK;
}

static ptl_status unary_xnn(const ptl_call *call, const un_ctx *c, const float *x, float *y,
                            int64_t n) {
  int kind;
  switch (c->op) {
  case PTL_OP_ABS: kind = XK_ABS; break;
  case PTL_OP_NEG: kind = XK_NEG; break;
  case PTL_OP_SQRT: kind = XK_SQRT; break;
  case PTL_OP_FLOOR: kind = XK_FLOOR; break;
  case PTL_OP_CEIL: kind = XK_CEIL; break;
  case PTL_OP_ROUND: kind = XK_ROUND; break;
  default: return PTL_ERR_UNSUPPORTED; /* clamp: see ptl_unary_fast */
  }
  (void)call;
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;
  xnn_slot *s = slot_take(kind);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return PTL_ERR_UNSUPPORTED;
    s->kind = kind;
    enum xnn_status st;
    switch (kind) {
    case XK_ABS: st = xnn_create_abs_nc_f32(1, 1, 1, 0, &s->op); break;
    case XK_NEG: st = xnn_create_negate_nc_f32(1, 1, 1, 0, &s->op); break;
    case XK_SQRT: st = xnn_create_square_root_nc_f32(1, 1, 1, 0, &s->op); break;
    case XK_FLOOR: st = xnn_create_floor_nc_f32(1, 1, 1, 0, &s->op); break;
    case XK_CEIL: st = xnn_create_ceiling_nc_f32(1, 1, 1, 0, &s->op); break;
    default: st = xnn_create_bankers_rounding_nc_f32(1, 1, 1, 0, &s->op); break;
    }
    if (st != xnn_status_success) {
      free(s);
      return PTL_ERR_UNSUPPORTED;
    }
  }
  pthreadpool_t tp = (pthreadpool_t)ptl_threadpool();
  enum xnn_status st;
  switch (kind) {
  case XK_ABS: st = xnn_setup_abs_nc_f32(s->op, (size_t)n, x, y, tp); break;
  case XK_NEG: st = xnn_setup_negate_nc_f32(s->op, (size_t)n, x, y, tp); break;
  case XK_SQRT: st = xnn_setup_square_root_nc_f32(s->op, (size_t)n, x, y, tp); break;
  case XK_FLOOR: st = xnn_setup_floor_nc_f32(s->op, (size_t)n, x, y, tp); break;
  case XK_CEIL: st = xnn_setup_ceiling_nc_f32(s->op, (size_t)n, x, y, tp); break;
  default: st = xnn_setup_bankers_rounding_nc_f32(s->op, (size_t)n, x, y, tp); break;
  }
  if (st == xnn_status_success)
    st = xnn_run_operator(s->op, tp);
  slot_put(kind, s);
  return st == xnn_status_success ? PTL_OK : PTL_ERR_UNSUPPORTED;
}

static void neg_f32(float *restrict y, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    y[i] = -x[i];
}
static void abs_f32(float *restrict y, const float *restrict x, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    y[i] = fabsf(x[i]);
}
/* NaN-propagating clamp written with selects so it vectorizes */
static void clamp_f32(float *restrict y, const float *restrict x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; i++) {
    float v = x[i];
    float r = v < lo ? lo : v;
    r = r > hi ? hi : r;
    y[i] = v != v ? v : r;
  }
}

typedef struct {
  const un_ctx *c;
  const float *x;
  float *y;
  int64_t n;
} un_job;

static void un_chunk(void *vj, size_t i) {
  const un_job *j = vj;
  int64_t s = (int64_t)i * FLAT_CHUNK, len = j->n - s < FLAT_CHUNK ? j->n - s : FLAT_CHUNK;
  const float *x = j->x + s;
  float *y = j->y + s;
  const un_ctx *c = j->c;
  switch (c->op) {
  case PTL_OP_NEG: neg_f32(y, x, len); break;
  case PTL_OP_ABS: abs_f32(y, x, len); break;
  case PTL_OP_CLAMP:
    clamp_f32(y, x, len, c->has_min ? c->lo : -INFINITY, c->has_max ? c->hi : INFINITY);
    break;
  default:
    for (int64_t k = 0; k < len; k++)
      y[k] = un_f(c, x[k]);
  }
}

ptl_status ptl_unary_fast(const ptl_call *call) {
  un_ctx c;
  un_setup(call, &c);
  const ptl_tensor *x = call->in[0], *y = call->out[0];
  if (c.dt[0] != PTL_FLOAT32 || c.dt[1] != PTL_FLOAT32 || !ptl_tensor_is_dense(y) ||
      !same_dense_layout(x, y))
    return PTL_ERR_UNSUPPORTED;
  /* clamp with min > max gives max everywhere: leave that corner to REF */
  if (c.op == PTL_OP_CLAMP && c.has_min && c.has_max && !(c.lo <= c.hi))
    return PTL_ERR_UNSUPPORTED;
  int64_t n = ptl_tensor_numel(y);
  if (n == 0)
    return PTL_OK;
  /* both dense with the same strides: element 0 is the lowest address of each */
  const float *px = ptl_tensor_data(x);
  float *py = ptl_tensor_data(y);
  if (n >= XNN_MIN_NUMEL && unary_xnn(call, &c, px, py, n) == PTL_OK)
    return PTL_OK;
  un_job j = {&c, px, py, n};
  ptl_parallel_for(un_chunk, &j, (size_t)((n + FLAT_CHUNK - 1) / FLAT_CHUNK));
  return PTL_OK;
}
