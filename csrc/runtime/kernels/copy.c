/* copy.c - COPY (strided copy with dtype conversion) and FILL. The core relies
 * on these (ptl_tensor_contiguous, clone, to(dtype), fill_), so they live
 * apart from the elementwise family. */
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static ptl_status check_dtype_code(const char *op, int64_t code) {
  if (code < 0 || code >= PTL_DTYPE_COUNT)
    return ptl_error(PTL_ERR_DTYPE, "%s: invalid dtype code %lld", op, (long long)code);
  return PTL_OK;
}

ptl_status ptl_copy_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  ptl_dtype dtype = x->dtype;
  if (a->n_ints > 0 && a->ints[0] >= 0) {
    PTL_CHECK(check_dtype_code("copy", a->ints[0]));
    dtype = (ptl_dtype)a->ints[0];
  }
  if (dtype != x->dtype && (ptl_dtype_is_quantized(dtype) || ptl_dtype_is_quantized(x->dtype)))
    return ptl_error(PTL_ERR_DTYPE,
                     "copy: cannot convert %s to %s; use quantize_per_tensor or dequantize",
                     ptl_dtype_name(x->dtype), ptl_dtype_name(dtype));
  int64_t format = a->n_ints > 1 ? a->ints[1] : 0;
  out->dtype = dtype;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  if (format == 1 && ptl_tensor_is_dense(x) && !ptl_tensor_is_contiguous(x)) {
    out->has_strides = true;
    memcpy(out->strides, x->strides, sizeof(int64_t) * (size_t)x->ndim);
  } else if (format == 2) {
    if (x->ndim != 4)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "copy: channels_last needs a 4-d tensor, got %d dims", x->ndim);
    out->has_strides = true;
    ptl_channels_last_strides(x->shape, out->strides);
  }
  return PTL_OK;
}

typedef struct {
  ptl_dtype sd, dd;
  const char *src;
  char *dst;
  size_t isz;
} copy_ctx;

static void copy_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  const copy_ctx *c = vctx;
  if (c->sd == c->dd) {
    size_t isz = c->isz;
    const char *s = c->src + off[1] * (int64_t)isz;
    char *d = c->dst + off[0] * (int64_t)isz;
    if (st[0] == 1 && st[1] == 1) {
      memmove(d, s, (size_t)n * isz);
      return;
    }
    for (int64_t i = 0; i < n; i++)
      memcpy(d + i * st[0] * (int64_t)isz, s + i * st[1] * (int64_t)isz, isz);
    return;
  }
  if (c->sd == PTL_FLOAT32 && c->dd == PTL_FLOAT16) {
    const float *s = (const float *)c->src + off[1];
    uint16_t *d = (uint16_t *)c->dst + off[0];
    for (int64_t i = 0; i < n; i++)
      d[i * st[0]] = ptl_float_to_half(s[i * st[1]]);
    return;
  }
  if (c->sd == PTL_FLOAT16 && c->dd == PTL_FLOAT32) {
    const uint16_t *s = (const uint16_t *)c->src + off[1];
    float *d = (float *)c->dst + off[0];
    for (int64_t i = 0; i < n; i++)
      d[i * st[0]] = ptl_half_to_float(s[i * st[1]]);
    return;
  }
  bool int_to_int = !ptl_dtype_is_float(c->sd) && !ptl_dtype_is_float(c->dd) && c->dd != PTL_BOOL;
  for (int64_t i = 0; i < n; i++) {
    int64_t si = off[1] + i * st[1], di = off[0] + i * st[0];
    if (int_to_int) {
      int64_t v = ptl_load_i64(c->sd, c->src, si);
      switch (c->dd) {
      case PTL_INT8: ((int8_t *)c->dst)[di] = (int8_t)v; break;
      case PTL_UINT8: ((uint8_t *)c->dst)[di] = (uint8_t)v; break;
      case PTL_INT32: ((int32_t *)c->dst)[di] = (int32_t)v; break;
      default: ((int64_t *)c->dst)[di] = v; break;
      }
    } else {
      ptl_store_f64(c->dd, c->dst, di, ptl_load_f64(c->sd, c->src, si));
    }
  }
}

ptl_status ptl_copy_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  if (x->qparams) {
    /* a quantized copy carries its parameters; a reused output gets the new ones
     * (in place when the count is unchanged: a planned run allocates nothing) */
    const ptl_qparams *q = x->qparams;
    PTL_CHECK(ptl_qparams_set(y, q->scheme, q->axis, q->count, q->scale, q->zero_point));
  }
  /* Walk dims in the output's memory order (a stable sort by decreasing stride),
   * so writing a channels-last copy goes in long unit-stride rows. Copy does not
   * depend on the visiting order. */
  int order[PTL_MAX_DIMS], nd = y->ndim;
  for (int d = 0; d < nd; d++) {
    int j = d;
    while (j > 0 && y->strides[order[j - 1]] < y->strides[d]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = d;
  }
  int64_t shape[PTL_MAX_DIMS], strides[2][PTL_MAX_DIMS];
  for (int k = 0; k < nd; k++) {
    shape[k] = y->shape[order[k]];
    strides[0][k] = y->strides[order[k]];
    strides[1][k] = x->strides[order[k]];
  }
  copy_ctx c = {x->dtype, y->dtype, ptl_tensor_data(x), ptl_tensor_data(y),
                ptl_dtype_size(x->dtype)};
  ptl_for_each_row(nd, shape, 2, (const int64_t(*)[PTL_MAX_DIMS])strides, copy_row, &c);
  return PTL_OK;
}

ptl_status ptl_fill_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_attrs *a = call->attrs;
  const char *op = ptl_op_name(call->op);
  if (a->n_ints < 2 || a->ints[1] < 0 || a->ints[1] > PTL_MAX_DIMS || a->n_ints < 2 + a->ints[1])
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: attributes must be dtype, ndim, shape...", op);
  PTL_CHECK(check_dtype_code(op, a->ints[0]));
  out->dtype = (ptl_dtype)a->ints[0];
  out->ndim = (int32_t)a->ints[1];
  for (int i = 0; i < out->ndim; i++) {
    out->shape[i] = a->ints[2 + i];
    if (out->shape[i] < 0) {
      char b[PTL_SHAPE_BUF];
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "%s: Trying to create tensor with negative dimension %lld: %s", op,
                       (long long)out->shape[i], ptl_dims_str(out->ndim, out->shape, b, sizeof b));
    }
  }
  /* a caller-provided output (fill_) keeps its own layout */
  if (call->out[0]) {
    out->has_strides = true;
    memcpy(out->strides, call->out[0]->strides, sizeof(int64_t) * (size_t)out->ndim);
  }
  return PTL_OK;
}

typedef struct {
  char *dst;
  size_t isz;
  unsigned char value[8];
} fill_ctx;

static void fill_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  const fill_ctx *c = vctx;
  char *d = c->dst + off[0] * (int64_t)c->isz;
  for (int64_t i = 0; i < n; i++)
    memcpy(d + i * st[0] * (int64_t)c->isz, c->value, c->isz);
}

ptl_status ptl_fill_ref(const ptl_call *call) {
  ptl_tensor *y = call->out[0];
  double v = call->attrs->n_floats > 0 ? call->attrs->floats[0] : 0.0;
  fill_ctx c = {ptl_tensor_data(y), ptl_dtype_size(y->dtype), {0}};
  ptl_store_f64(y->dtype, c.value, 0, v);
  bool zero = true;
  for (size_t i = 0; i < c.isz; i++)
    zero = zero && c.value[i] == 0;
  if (zero && ptl_tensor_is_contiguous(y)) {
    memset(c.dst, 0, (size_t)ptl_tensor_numel(y) * c.isz);
    return PTL_OK;
  }
  ptl_for_each_row(y->ndim, y->shape, 1, (const int64_t(*)[PTL_MAX_DIMS])y->strides, fill_row, &c);
  return PTL_OK;
}

/* Half tensors in float32 kernels: input 0 and the output go through float32
 * copies (keeping a dense layout); the other inputs are passed as they are. */
ptl_status ptl_run_as_float32(const ptl_call *call, ptl_kernel_fn kernel) {
  ptl_tensor *x = call->in[0], *y = call->out[0];
  ptl_attrs to32 = {0}, back = {0};
  to32.n_ints = back.n_ints = 2;
  to32.ints[0] = PTL_FLOAT32;
  to32.ints[1] = 1; /* keep a dense input's layout */
  back.ints[0] = y->dtype;
  back.ints[1] = 1;
  if (call->n_in > 64)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: too many inputs", ptl_op_name(call->op));
  ptl_tensor *xf = NULL, *yf = NULL;
  PTL_CHECK(ptl_op_run(PTL_OP_COPY, &to32, &x, 1, &xf, 1));
  ptl_tensor_desc d = {0};
  d.dtype = PTL_FLOAT32;
  d.ndim = y->ndim;
  memcpy(d.shape, y->shape, sizeof(int64_t) * (size_t)y->ndim);
  d.has_strides = ptl_tensor_is_dense(y);
  if (d.has_strides)
    memcpy(d.strides, y->strides, sizeof(int64_t) * (size_t)y->ndim);
  ptl_status s = ptl_tensor_from_desc(&d, &yf);
  if (s == PTL_OK) {
    ptl_tensor *in[64];
    for (int i = 0; i < call->n_in; i++)
      in[i] = call->in[i];
    in[0] = xf;
    ptl_call c = *call;
    c.in = in;
    c.out = &yf;
    s = kernel(&c);
  }
  if (s == PTL_OK)
    s = ptl_op_run(PTL_OP_COPY, &back, &yf, 1, &y, 1);
  ptl_tensor_release(xf);
  ptl_tensor_release(yf);
  return s;
}
