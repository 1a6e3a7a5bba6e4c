/* shape.c - shape and memory ops: views (reshape, permute, expand, slice,
 * select), cat, pad, index_select, embedding, arange and the random fills.
 *
 * Views never copy (except RESHAPE of a layout that cannot express the new
 * shape, which follows torch.reshape and returns a contiguous copy). Every
 * geometry rule and error message follows ATen so strides match torch's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

/* ---- small helpers ------------------------------------------------------- */

/* Formats the int attributes [from, from + n) as "[a, b]". */
static const char *attr_dims_str(const ptl_attrs *a, int from, int n, char *buf, size_t size) {
  int64_t d[PTL_MAX_INT_ATTRS];
  int k = 0;
  for (int i = from; i < from + n && i < a->n_ints && k < PTL_MAX_INT_ATTRS; i++)
    d[k++] = a->ints[i];
  /* ptl_dims_str takes any count; it only formats */
  return ptl_dims_str(k, d, buf, size);
}

static void desc_from_dims(ptl_tensor_desc *out, ptl_dtype dtype, int ndim, const int64_t *shape) {
  out->dtype = dtype;
  out->ndim = ndim;
  memcpy(out->shape, shape, sizeof(int64_t) * (size_t)ndim);
}

/* Stores a view of `x` with the given geometry in call->out[0]. */
static ptl_status make_view(const ptl_call *call, int ndim, const int64_t *shape,
                            const int64_t *strides, int64_t offset) {
  return ptl_tensor_view(call->in[0], ndim, shape, strides, offset, &call->out[0]);
}

/* ---- quantized views ---- */
static bool per_channel(const ptl_tensor *t) {
  return t->qparams && (t->qparams->scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE ||
                        t->qparams->scheme == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC);
}

/* A per-channel quantized view must carry its channel axis to the new dim
 * numbering. new_axis < 0: the view drops, slices or splits the channel axis,
 * which would need the scales re-sliced: refused rather than silently wrong. */
static ptl_status set_qaxis(const ptl_call *call, int new_axis) {
  ptl_tensor *y = call->out[0];
  if (!per_channel(call->in[0]))
    return PTL_OK;
  if (new_axis < 0) {
    ptl_tensor_release(y);
    call->out[0] = NULL;
    return ptl_error(PTL_ERR_UNSUPPORTED,
                     "%s: this view changes the channel axis %d of a per-channel quantized "
                     "tensor; dequantize first",
                     ptl_op_name(call->op), (int)call->in[0]->qparams->axis);
  }
  y->qparams->axis = new_axis;
  return PTL_OK;
}

/* Calls fn on every element offset of a strided geometry, row-major order. */
typedef void (*elem_fn)(void *ctx, int64_t off);
typedef struct {
  elem_fn fn;
  void *ctx;
} elem_ctx;

static void elem_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  const elem_ctx *c = vctx;
  for (int64_t i = 0; i < n; i++)
    c->fn(c->ctx, off[0] + i * st[0]);
}

static void for_each_elem(const ptl_tensor *t, elem_fn fn, void *ctx) {
  /* keep logical row-major order (RNG streams depend on it): never reorder dims */
  elem_ctx c = {fn, ctx};
  ptl_for_each_row(t->ndim, t->shape, 1, (const int64_t(*)[PTL_MAX_DIMS])t->strides, elem_row, &c);
}

/* ---- RESHAPE ------------------------------------------------------------- */

/* Resolves the requested shape (one -1 allowed) against numel, as ATen's infer_size. */
static ptl_status reshape_shape(const ptl_call *call, int *ndim, int64_t *shape) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  char b[PTL_SHAPE_BUF];
  if (a->n_ints > PTL_MAX_DIMS)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "reshape: at most %d dims are supported, got %d",
                     PTL_MAX_DIMS, a->n_ints);
  int64_t numel = ptl_tensor_numel(x), known = 1;
  int infer = -1;
  for (int i = 0; i < a->n_ints; i++) {
    int64_t d = a->ints[i];
    if (d == -1) {
      if (infer >= 0)
        return ptl_error(PTL_ERR_SHAPE, "reshape: only one dimension can be inferred");
      infer = i;
    } else if (d < 0) {
      return ptl_error(PTL_ERR_SHAPE,
                       "reshape: invalid shape dimension %lld at index %d of "
                       "shape %s",
                       (long long)d, i, attr_dims_str(a, 0, a->n_ints, b, sizeof b));
    } else {
      if (__builtin_mul_overflow(known, d, &known))
        return ptl_error(PTL_ERR_SHAPE, "reshape: shape %s is too large",
                         attr_dims_str(a, 0, a->n_ints, b, sizeof b));
    }
    shape[i] = d;
  }
  *ndim = a->n_ints;
  if (infer >= 0) {
    if (known == 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "reshape: cannot reshape tensor of 0 elements into shape %s because the "
                       "unspecified dimension size -1 can be any value and is ambiguous",
                       attr_dims_str(a, 0, a->n_ints, b, sizeof b));
    if (numel % known == 0)
      shape[infer] = numel / known;
    else
      known = -1; /* fall through to the size error */
  }
  if (known < 0 || ptl_numel_of(*ndim, shape) != numel)
    return ptl_error(PTL_ERR_SHAPE, "reshape: shape '%s' is invalid for input of size %lld",
                     attr_dims_str(a, 0, a->n_ints, b, sizeof b), (long long)numel);
  return PTL_OK;
}

/* ATen's computeStride: strides for viewing (oldshape, oldstride) as newshape
 * without copying, or false when a dimension would span two memory chunks. */
static bool view_strides(int on, const int64_t *oshape, const int64_t *ostride, int nn,
                         const int64_t *nshape, int64_t *nstride) {
  int64_t numel = ptl_numel_of(on, oshape);
  if (numel == 0) {
    if (on == nn && memcmp(oshape, nshape, sizeof(int64_t) * (size_t)on) == 0)
      memcpy(nstride, ostride, sizeof(int64_t) * (size_t)on);
    else
      ptl_contiguous_strides(nn, nshape, nstride);
    return true;
  }
  if (on == 0) { /* a scalar: every new dim has size 1 */
    for (int i = 0; i < nn; i++)
      nstride[i] = 1;
    return true;
  }
  int view_d = nn - 1;
  int64_t chunk_base_stride = ostride[on - 1], tensor_numel = 1, view_numel = 1;
  for (int tensor_d = on - 1; tensor_d >= 0; tensor_d--) {
    tensor_numel *= oshape[tensor_d];
    if (tensor_d == 0 ||
        (oshape[tensor_d - 1] != 1 && ostride[tensor_d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || nshape[view_d] == 1)) {
        nstride[view_d] = view_numel * chunk_base_stride;
        view_numel *= nshape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel)
        return false;
      if (tensor_d > 0) {
        chunk_base_stride = ostride[tensor_d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

ptl_status ptl_reshape_infer(const ptl_call *call, ptl_tensor_desc *out) {
  int ndim;
  int64_t shape[PTL_MAX_INT_ATTRS];
  PTL_CHECK(reshape_shape(call, &ndim, shape));
  desc_from_dims(out, call->in[0]->dtype, ndim, shape);
  return PTL_OK;
}

ptl_status ptl_reshape_view(const ptl_call *call) {
  ptl_tensor *x = call->in[0];
  int ndim;
  int64_t shape[PTL_MAX_INT_ATTRS], strides[PTL_MAX_DIMS];
  PTL_CHECK(reshape_shape(call, &ndim, shape));
  if (view_strides(x->ndim, x->shape, x->strides, ndim, shape, strides)) {
    PTL_CHECK(make_view(call, ndim, shape, strides, x->offset));
  } else {
    /* torch.reshape: not expressible as a view, so copy to contiguous memory */
    ptl_tensor *c = NULL;
    PTL_CHECK(ptl_tensor_contiguous(x, &c));
    ptl_contiguous_strides(ndim, shape, strides);
    ptl_status s = ptl_tensor_view(c, ndim, shape, strides, c->offset, &call->out[0]);
    ptl_tensor_release(c);
    PTL_CHECK(s);
    s = ptl_qparams_copy(call->out[0], x);
    if (s != PTL_OK) {
      ptl_tensor_release(call->out[0]);
      call->out[0] = NULL;
      return s;
    }
  }
  if (!per_channel(x))
    return PTL_OK;
  /* the channel axis survives when some new dim has the same size and the same
   * number of elements before it */
  int axis = x->qparams->axis, new_axis = -1;
  int64_t before = ptl_numel_of(axis, x->shape), acc = 1;
  for (int j = 0; j < ndim && new_axis < 0; j++) {
    if (acc == before && shape[j] == x->shape[axis])
      new_axis = j;
    acc *= shape[j];
  }
  return set_qaxis(call, new_axis);
}

/* ---- PERMUTE ------------------------------------------------------------- */

static ptl_status permute_dims(const ptl_call *call, int *perm) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  if (a->n_ints != x->ndim)
    return ptl_error(PTL_ERR_SHAPE,
                     "permute(sparse_coo): number of dimensions in the tensor input does not "
                     "match the length of the desired ordering of dimensions i.e. input.dim() = "
                     "%d is not equal to len(dims) = %d",
                     x->ndim, a->n_ints);
  bool seen[PTL_MAX_DIMS] = {false};
  for (int i = 0; i < x->ndim; i++) {
    PTL_CHECK(ptl_wrap_dim("permute", a->ints[i], x->ndim, &perm[i]));
    if (seen[perm[i]])
      return ptl_error(PTL_ERR_SHAPE, "permute(): duplicate dims are not allowed.");
    seen[perm[i]] = true;
  }
  return PTL_OK;
}

ptl_status ptl_permute_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  int perm[PTL_MAX_DIMS];
  PTL_CHECK(permute_dims(call, perm));
  out->dtype = x->dtype;
  out->ndim = x->ndim;
  for (int i = 0; i < x->ndim; i++)
    out->shape[i] = x->shape[perm[i]];
  return PTL_OK;
}

ptl_status ptl_permute_view(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  int perm[PTL_MAX_DIMS];
  int64_t shape[PTL_MAX_DIMS], strides[PTL_MAX_DIMS];
  PTL_CHECK(permute_dims(call, perm));
  int new_axis = -1;
  for (int i = 0; i < x->ndim; i++) {
    shape[i] = x->shape[perm[i]];
    strides[i] = x->strides[perm[i]];
    if (per_channel(x) && perm[i] == x->qparams->axis)
      new_axis = i;
  }
  PTL_CHECK(make_view(call, x->ndim, shape, strides, x->offset));
  return set_qaxis(call, new_axis);
}

/* ---- EXPAND -------------------------------------------------------------- */

/* ATen's inferExpandGeometry. */
static ptl_status expand_geometry(const ptl_call *call, int *ndim, int64_t *shape,
                                  int64_t *strides) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  int n = a->n_ints;
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  if (n > PTL_MAX_DIMS)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "expand: at most %d dims are supported, got %d",
                     PTL_MAX_DIMS, n);
  if (n < x->ndim)
    return ptl_error(PTL_ERR_SHAPE,
                     "expand(%s, size=%s): the number of sizes provided (%d) must be greater "
                     "or equal to the number of dimensions in the tensor (%d)",
                     ptl_shape_str(x, b1, sizeof b1), attr_dims_str(a, 0, n, b2, sizeof b2), n,
                     x->ndim);
  for (int i = n - 1; i >= 0; i--) {
    int dim = i - (n - x->ndim);
    int64_t size = dim >= 0 ? x->shape[dim] : 1;
    int64_t stride = dim >= 0 ? x->strides[dim] : (i + 1 < n ? shape[i + 1] * strides[i + 1] : 0);
    int64_t target = a->ints[i];
    if (target == -1) {
      if (dim < 0)
        return ptl_error(PTL_ERR_SHAPE,
                         "expand: the expanded size of the tensor (-1) isn't allowed in a "
                         "leading, non-existing dimension %d",
                         i);
      target = size;
    }
    if (size != target) {
      if (size != 1 || target < 0)
        return ptl_error(PTL_ERR_SHAPE,
                         "expand: The expanded size of the tensor (%lld) must match the "
                         "existing size (%lld) at non-singleton dimension %d.  Target sizes: "
                         "%s.  Tensor sizes: %s",
                         (long long)target, (long long)size, i,
                         attr_dims_str(a, 0, n, b1, sizeof b1), ptl_shape_str(x, b2, sizeof b2));
      size = target;
      stride = 0;
    }
    shape[i] = size;
    strides[i] = stride;
  }
  int64_t numel = 1;
  for (int i = 0; i < n; i++)
    if (__builtin_mul_overflow(numel, shape[i], &numel))
      return ptl_error(PTL_ERR_SHAPE, "expand: target sizes %s overflow the element count",
                       attr_dims_str(a, 0, n, b1, sizeof b1));
  *ndim = n;
  return PTL_OK;
}

ptl_status ptl_expand_infer(const ptl_call *call, ptl_tensor_desc *out) {
  int ndim;
  int64_t shape[PTL_MAX_DIMS], strides[PTL_MAX_DIMS];
  PTL_CHECK(expand_geometry(call, &ndim, shape, strides));
  desc_from_dims(out, call->in[0]->dtype, ndim, shape);
  return PTL_OK;
}

ptl_status ptl_expand_view(const ptl_call *call) {
  int ndim;
  int64_t shape[PTL_MAX_DIMS], strides[PTL_MAX_DIMS];
  PTL_CHECK(expand_geometry(call, &ndim, shape, strides));
  const ptl_tensor *x = call->in[0];
  PTL_CHECK(make_view(call, ndim, shape, strides, x->offset));
  return set_qaxis(call, per_channel(x) ? x->qparams->axis + ndim - x->ndim : 0);
}

/* ---- SLICE --------------------------------------------------------------- */

typedef struct {
  int dim;
  int64_t start, len, step;
} slice_spec;

static ptl_status slice_spec_of(const ptl_call *call, slice_spec *s) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  if (a->n_ints < 4)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "slice: attributes must be dim, start, end, step");
  if (x->ndim == 0)
    return ptl_error(PTL_ERR_INDEX, "slice() cannot be applied to a 0-dim tensor.");
  PTL_CHECK(ptl_wrap_dim("slice", a->ints[0], x->ndim, &s->dim));
  int64_t size = x->shape[s->dim], start = a->ints[1], end = a->ints[2], step = a->ints[3];
  if (step <= 0)
    return ptl_error(PTL_ERR_VALUE, "slice: step must be greater than zero, got %lld",
                     (long long)step);
  /* Python slice clamping, as ATen's slice */
  if (start < 0)
    start = start < -size ? 0 : start + size;
  if (end < 0)
    end = end < -size ? 0 : end + size;
  if (start > size)
    start = size;
  if (end < start)
    end = start;
  else if (end > size)
    end = size;
  s->start = start;
  s->step = step;
  s->len = end == start ? 0 : (end - start - 1) / step + 1; /* no overflow for huge steps */
  return PTL_OK;
}

ptl_status ptl_slice_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  slice_spec s;
  PTL_CHECK(slice_spec_of(call, &s));
  desc_from_dims(out, x->dtype, x->ndim, x->shape);
  out->shape[s.dim] = s.len;
  return PTL_OK;
}

ptl_status ptl_slice_view(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  slice_spec s;
  int64_t shape[PTL_MAX_DIMS], strides[PTL_MAX_DIMS];
  PTL_CHECK(slice_spec_of(call, &s));
  memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  memcpy(strides, x->strides, sizeof(int64_t) * (size_t)x->ndim);
  shape[s.dim] = s.len;
  strides[s.dim] *= s.step;
  /* an empty slice at the end keeps the offset inside the storage, as ATen does */
  int64_t offset = x->offset + s.start * x->strides[s.dim];
  PTL_CHECK(make_view(call, x->ndim, shape, strides, offset));
  if (!per_channel(x))
    return PTL_OK;
  bool whole = s.start == 0 && s.step == 1 && s.len == x->shape[s.dim];
  return set_qaxis(call, s.dim == x->qparams->axis && !whole ? -1 : x->qparams->axis);
}

/* ---- SELECT -------------------------------------------------------------- */

static ptl_status select_spec(const ptl_call *call, int *dim, int64_t *index) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  if (a->n_ints < 2)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "select: attributes must be dim, index");
  if (x->ndim == 0)
    return ptl_error(PTL_ERR_INDEX, "select() cannot be applied to a 0-dim tensor.");
  PTL_CHECK(ptl_wrap_dim("select", a->ints[0], x->ndim, dim));
  int64_t size = x->shape[*dim], i = a->ints[1];
  if (i < -size || i >= size)
    return ptl_error(PTL_ERR_INDEX,
                     "select: index %lld is out of bounds for dimension %d with "
                     "size %lld",
                     (long long)i, *dim, (long long)size);
  *index = i < 0 ? i + size : i;
  return PTL_OK;
}

ptl_status ptl_select_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  int dim = 0;
  int64_t index = 0;
  PTL_CHECK(select_spec(call, &dim, &index));
  out->dtype = x->dtype;
  out->ndim = x->ndim - 1;
  for (int i = 0, k = 0; i < x->ndim; i++)
    if (i != dim)
      out->shape[k++] = x->shape[i];
  return PTL_OK;
}

ptl_status ptl_select_view(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  int dim = 0;
  int64_t index = 0, shape[PTL_MAX_DIMS], strides[PTL_MAX_DIMS];
  PTL_CHECK(select_spec(call, &dim, &index));
  for (int i = 0, k = 0; i < x->ndim; i++)
    if (i != dim) {
      shape[k] = x->shape[i];
      strides[k++] = x->strides[i];
    }
  PTL_CHECK(make_view(call, x->ndim - 1, shape, strides, x->offset + index * x->strides[dim]));
  if (!per_channel(x))
    return PTL_OK;
  int axis = x->qparams->axis;
  return set_qaxis(call, dim == axis ? -1 : (dim < axis ? axis - 1 : axis));
}

/* ---- CAT ----------------------------------------------------------------- */

static int dtype_rank(ptl_dtype d) {
  switch (d) {
  case PTL_BOOL: return 0;
  case PTL_UINT8: return 1;
  case PTL_INT8: return 1;
  case PTL_INT32: return 3;
  case PTL_INT64: return 4;
  case PTL_FLOAT16: return 5;
  case PTL_FLOAT32: return 6;
  default: return -1;
  }
}

/* torch.result_type for two tensors of the same category rules (no scalars). */
static ptl_status promote(const char *op, ptl_dtype a, ptl_dtype b, ptl_dtype *out) {
  if (a == b) {
    *out = a;
    return PTL_OK;
  }
  if (ptl_dtype_is_quantized(a) || ptl_dtype_is_quantized(b))
    return ptl_error(PTL_ERR_DTYPE,
                     "%s: expected all quantized tensors to have the same dtype, "
                     "got %s and %s",
                     op, ptl_dtype_name(a), ptl_dtype_name(b));
  if ((a == PTL_UINT8 && b == PTL_INT8) || (a == PTL_INT8 && b == PTL_UINT8))
    /* torch promotes to int16, which ptlite does not have */
    return ptl_error(PTL_ERR_UNSUPPORTED,
                     "%s: uint8 and int8 promote to int16, which ptlite "
                     "does not support; convert one input first",
                     op);
  *out = dtype_rank(a) > dtype_rank(b) ? a : b;
  return PTL_OK;
}

/* Legacy rule kept by torch.cat: 1-d tensors of size 0 are skipped. */
static bool cat_skipped(const ptl_tensor *t) {
  return t->ndim == 1 && t->shape[0] == 0;
}

ptl_status ptl_cat_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_attrs *a = call->attrs;
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  int ref = -1;
  ptl_dtype dtype = call->in[0] ? call->in[0]->dtype : PTL_FLOAT32;
  for (int i = 0; i < call->n_in; i++) {
    const ptl_tensor *t = call->in[i];
    if (!t)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT, "cat: input %d is None", i);
    if (ptl_dtype_is_quantized(t->dtype))
      /* the output would need merged quantization parameters */
      return ptl_error(PTL_ERR_UNSUPPORTED,
                       "cat: quantized inputs (%s) are not supported; "
                       "dequantize first",
                       ptl_dtype_name(t->dtype));
    if (t->ndim == 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "cat: zero-dimensional tensor (at position %d) cannot be concatenated", i);
    PTL_CHECK(promote("cat", dtype, t->dtype, &dtype));
    if (ref < 0 && !cat_skipped(t))
      ref = i;
  }
  if (ref < 0) { /* every input is an empty 1-d tensor */
    desc_from_dims(out, dtype, 1, (const int64_t[]){0});
    return PTL_OK;
  }
  const ptl_tensor *r = call->in[ref];
  int dim;
  PTL_CHECK(ptl_wrap_dim("cat", a->n_ints > 0 ? a->ints[0] : 0, r->ndim, &dim));
  desc_from_dims(out, dtype, r->ndim, r->shape);
  out->shape[dim] = 0;
  bool channels_last = r->ndim == 4;
  for (int i = 0; i < call->n_in; i++) {
    const ptl_tensor *t = call->in[i];
    if (cat_skipped(t))
      continue;
    if (t->ndim != r->ndim)
      return ptl_error(PTL_ERR_SHAPE,
                       "cat: Tensors must have same number of dimensions: got %d and %d "
                       "(shapes %s and %s)",
                       r->ndim, t->ndim, ptl_shape_str(r, b1, sizeof b1),
                       ptl_shape_str(t, b2, sizeof b2));
    for (int d = 0; d < r->ndim; d++)
      if (d != dim && t->shape[d] != r->shape[d])
        return ptl_error(PTL_ERR_SHAPE,
                         "cat: Sizes of tensors must match except in dimension %d. Expected "
                         "size %lld but got size %lld for tensor number %d in the list "
                         "(shapes %s and %s)",
                         dim, (long long)r->shape[d], (long long)t->shape[d], i,
                         ptl_shape_str(r, b1, sizeof b1), ptl_shape_str(t, b2, sizeof b2));
    out->shape[dim] += t->shape[dim];
    /* torch keeps channels_last when every input suggests it */
    channels_last = channels_last && ptl_tensor_is_channels_last(t) && !ptl_tensor_is_contiguous(t);
  }
  if (channels_last) {
    out->has_strides = true;
    ptl_channels_last_strides(out->shape, out->strides);
  }
  return PTL_OK;
}

ptl_status ptl_cat_ref(const ptl_call *call) {
  ptl_tensor *y = call->out[0];
  if (ptl_tensor_numel(y) == 0)
    return PTL_OK;
  int dim;
  int ref = 0;
  while (cat_skipped(call->in[ref]))
    ref++;
  PTL_CHECK(ptl_wrap_dim("cat", call->attrs->n_ints > 0 ? call->attrs->ints[0] : 0,
                         call->in[ref]->ndim, &dim));
  int64_t pos = 0;
  ptl_attrs ca = {0};
  ca.n_ints = 2;
  ca.ints[0] = y->dtype;
  ca.ints[1] = 1;
  for (int i = 0; i < call->n_in; i++) {
    ptl_tensor *t = call->in[i];
    if (cat_skipped(t) || t->shape[dim] == 0)
      continue;
    /* copy each input into its slab of the output through a view (COPY converts dtype) */
    int64_t shape[PTL_MAX_DIMS];
    memcpy(shape, y->shape, sizeof(int64_t) * (size_t)y->ndim);
    shape[dim] = t->shape[dim];
    ptl_tensor *slab = NULL;
    PTL_CHECK(
        ptl_tensor_view(y, y->ndim, shape, y->strides, y->offset + pos * y->strides[dim], &slab));
    ptl_status s = ptl_op_run(PTL_OP_COPY, &ca, &t, 1, &slab, 1);
    ptl_tensor_release(slab);
    PTL_CHECK(s);
    pos += t->shape[dim];
  }
  return PTL_OK;
}

/* ---- PAD ----------------------------------------------------------------- */

enum { PAD_CONSTANT = 0, PAD_REFLECT = 1, PAD_REPLICATE = 2, PAD_CIRCULAR = 3 };

ptl_status ptl_pad_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0];
  const ptl_attrs *a = call->attrs;
  char b[PTL_SHAPE_BUF];
  if (a->n_ints < 2 || a->ints[1] < 0 || a->n_ints < 2 + a->ints[1])
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "pad: attributes must be mode, n, pads...");
  int64_t mode = a->ints[0], np = a->ints[1];
  if (mode < PAD_CONSTANT || mode > PAD_CIRCULAR)
    return ptl_error(PTL_ERR_SHAPE, "pad: unknown padding mode %lld", (long long)mode);
  if (np % 2 != 0)
    return ptl_error(PTL_ERR_SHAPE, "pad: Padding length must be divisible by 2");
  if (np / 2 > x->ndim)
    return ptl_error(PTL_ERR_SHAPE,
                     "pad: Padding length should be less than or equal to two times the input "
                     "dimension but got padding length %lld and input of dimension %d",
                     (long long)np, x->ndim);
  if (ptl_dtype_is_quantized(x->dtype))
    return ptl_error(PTL_ERR_UNSUPPORTED, "pad: quantized tensors are not supported");
  desc_from_dims(out, x->dtype, x->ndim, x->shape);
  /* torch keeps channels_last through constant/reflect/replicate padding (conv nets pad
   * between convolutions); circular padding returns a contiguous tensor */
  bool channels_last =
      mode != PAD_CIRCULAR && ptl_tensor_is_channels_last(x) && !ptl_tensor_is_contiguous(x);
  for (int k = 0; k < np / 2; k++) {
    int d = x->ndim - 1 - k;
    int64_t lo = a->ints[2 + 2 * k], hi = a->ints[3 + 2 * k], size = x->shape[d];
    const int64_t k_max_pad = (int64_t)1 << 40;
    if (lo > k_max_pad || lo < -k_max_pad || hi > k_max_pad || hi < -k_max_pad)
      return ptl_error(PTL_ERR_SHAPE, "pad: padding (%lld, %lld) is too large", (long long)lo,
                       (long long)hi);
    out->shape[d] = size + lo + hi;
    if (out->shape[d] < 0 || (mode != PAD_CONSTANT && out->shape[d] == 0))
      return ptl_error(PTL_ERR_SHAPE,
                       "pad: The input size %lld, plus negative padding %lld and %lld resulted "
                       "in a negative output size, which is invalid. Check dimension %d of your "
                       "input %s.",
                       (long long)size, (long long)lo, (long long)hi, d,
                       ptl_shape_str(x, b, sizeof b));
    if (mode == PAD_REFLECT && (lo >= size || hi >= size))
      return ptl_error(PTL_ERR_SHAPE,
                       "pad: Padding size should be less than the corresponding input dimension, "
                       "but got: padding (%lld, %lld) at dimension %d of input %s",
                       (long long)lo, (long long)hi, d, ptl_shape_str(x, b, sizeof b));
    /* circular wraps within the range left after negative pads crop */
    int64_t kept = size - (lo < 0 ? -lo : 0) - (hi < 0 ? -hi : 0);
    if (mode == PAD_CIRCULAR && (lo > size || hi > size || kept <= 0 || lo > kept || hi > kept))
      return ptl_error(PTL_ERR_SHAPE,
                       "pad: Padding value causes wrapping around more than once (padding "
                       "(%lld, %lld) at dimension %d of input %s).",
                       (long long)lo, (long long)hi, d, ptl_shape_str(x, b, sizeof b));
    if (mode != PAD_CONSTANT && size == 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "pad: cannot pad an empty dimension %d of input %s in "
                       "non-constant mode",
                       d, ptl_shape_str(x, b, sizeof b));
  }
  if (channels_last) {
    out->has_strides = true;
    ptl_channels_last_strides(out->shape, out->strides);
  }
  return PTL_OK;
}

/* Maps output coordinate o along one dim to an input coordinate, -1 for fill.
 * Negative pads crop first; circular padding then wraps within the cropped range
 * (as ATen does), while reflect/replicate index the original input. */
static int64_t pad_source(int64_t mode, int64_t o, int64_t lo, int64_t hi, int64_t size) {
  int64_t i = o - lo;
  if (i >= 0 && i < size && mode != PAD_CIRCULAR)
    return i;
  switch (mode) {
  case PAD_REFLECT: return i < 0 ? -i : 2 * (size - 1) - i;
  case PAD_REPLICATE: return i < 0 ? 0 : size - 1;
  case PAD_CIRCULAR: {
    int64_t a = lo < 0 ? -lo : 0, b = size - (hi < 0 ? -hi : 0), n = b - a;
    return a + (((i - a) % n) + n) % n;
  }
  default: return -1;
  }
}

ptl_status ptl_pad_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *y = call->out[0];
  const ptl_attrs *a = call->attrs;
  int nd = y->ndim;
  int64_t total = 0;
  for (int d = 0; d < nd; d++)
    total += y->shape[d];
  if (ptl_tensor_numel(y) == 0)
    return PTL_OK;
  /* per-dim tables: input element offset contribution, or -1 for the fill value */
  int64_t *map = malloc(sizeof(int64_t) * (size_t)(total > 0 ? total : 1));
  if (!map)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "pad: out of memory");
  int64_t *dmap[PTL_MAX_DIMS];
  int64_t *p = map;
  int npairs = (int)(a->ints[1] / 2);
  for (int d = 0; d < nd; d++) {
    int k = nd - 1 - d;
    int64_t lo = k < npairs ? a->ints[2 + 2 * k] : 0, hi = k < npairs ? a->ints[3 + 2 * k] : 0;
    dmap[d] = p;
    for (int64_t o = 0; o < y->shape[d]; o++) {
      int64_t i = pad_source(a->ints[0], o, lo, hi, x->shape[d]);
      p[o] = i < 0 ? -1 : i * x->strides[d];
    }
    p += y->shape[d];
  }
  size_t isz = ptl_dtype_size(x->dtype);
  unsigned char value[8] = {0};
  ptl_store_f64(y->dtype, value, 0, a->n_floats > 0 ? a->floats[0] : 0.0);
  const char *src = ptl_tensor_data(x);
  char *dst = ptl_tensor_data(y);
  int64_t idx[PTL_MAX_DIMS] = {0};
  int64_t last = nd > 0 ? y->shape[nd - 1] : 1;
  int64_t last_st = nd > 0 ? y->strides[nd - 1] : 0;
  for (;;) {
    int64_t in_off = 0, out_off = 0;
    bool fill = false;
    for (int d = 0; d < nd - 1; d++) {
      int64_t m = dmap[d][idx[d]];
      fill = fill || m < 0;
      in_off += m;
      out_off += idx[d] * y->strides[d];
    }
    for (int64_t o = 0; o < last; o++) {
      const void *s = value;
      if (!fill && nd > 0 && dmap[nd - 1][o] >= 0)
        s = src + (in_off + dmap[nd - 1][o]) * (int64_t)isz;
      else if (!fill && nd == 0)
        s = src;
      memcpy(dst + (out_off + o * last_st) * (int64_t)isz, s, isz);
    }
    int d = nd - 2;
    for (; d >= 0; d--) {
      if (++idx[d] < y->shape[d])
        break;
      idx[d] = 0;
    }
    if (d < 0)
      break;
  }
  free(map);
  return PTL_OK;
}

/* ---- INDEX_SELECT and EMBEDDING ------------------------------------------ */

static bool is_index_dtype(ptl_dtype d) {
  return d == PTL_INT64 || d == PTL_INT32;
}

/* Reads index element k (row-major position) of an index tensor of any strides. */
static int64_t index_at(const ptl_tensor *idx, int64_t k) {
  int64_t off = 0;
  for (int d = idx->ndim - 1; d >= 0; d--) {
    off += (k % idx->shape[d]) * idx->strides[d];
    k /= idx->shape[d];
  }
  const void *base = ptl_tensor_data(idx);
  return idx->dtype == PTL_INT64 ? ((const int64_t *)base)[off] : ((const int32_t *)base)[off];
}

ptl_status ptl_index_select_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0], *idx = call->in[1];
  char b[PTL_SHAPE_BUF];
  if (ptl_dtype_is_quantized(x->dtype))
    return ptl_error(PTL_ERR_UNSUPPORTED,
                     "index_select: quantized input (%s) is not supported; "
                     "dequantize first",
                     ptl_dtype_name(x->dtype));
  if (idx->ndim > 1)
    return ptl_error(PTL_ERR_INDEX,
                     "index_select(): Index is supposed to be a vector, got "
                     "shape %s",
                     ptl_shape_str(idx, b, sizeof b));
  if (!is_index_dtype(idx->dtype))
    return ptl_error(PTL_ERR_DTYPE,
                     "index_select(): Expected dtype int32 or int64 for index, "
                     "got %s",
                     ptl_dtype_name(idx->dtype));
  int dim;
  PTL_CHECK(ptl_wrap_dim("index_select", call->attrs->n_ints > 0 ? call->attrs->ints[0] : 0,
                         x->ndim, &dim));
  int64_t n = ptl_tensor_numel(idx), size = x->ndim > 0 ? x->shape[dim] : 1;
  if (x->ndim == 0 && n != 1)
    return ptl_error(PTL_ERR_INDEX,
                     "index_select(): Index to scalar can have only 1 value, got "
                     "%lld value(s)",
                     (long long)n);
  if (size == 0 && n > 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "index_select(): self indexing axis dim should be positive (dimension %d "
                     "of %s is empty)",
                     dim, ptl_shape_str(x, b, sizeof b));
  for (int64_t k = 0; k < n; k++) {
    int64_t i = index_at(idx, k);
    if (i < 0 || i >= size)
      return ptl_error(PTL_ERR_INDEX,
                       "index_select(): index %lld is out of bounds for "
                       "dimension %d with size %lld (index out of range in self)",
                       (long long)i, dim, (long long)size);
  }
  desc_from_dims(out, x->dtype, x->ndim, x->shape);
  if (x->ndim > 0)
    out->shape[dim] = n;
  return PTL_OK;
}

typedef struct {
  const char *src;
  char *dst;
  size_t isz;
} gather_ctx;

static void gather_row(void *vctx, const int64_t *off, const int64_t *st, int64_t n) {
  const gather_ctx *c = vctx;
  int64_t isz = (int64_t)c->isz;
  char *d = c->dst + off[0] * isz;
  const char *s = c->src + off[1] * isz;
  if (st[0] == 1 && st[1] == 1) {
    memcpy(d, s, (size_t)(n * isz));
    return;
  }
  for (int64_t i = 0; i < n; i++)
    memcpy(d + i * st[0] * isz, s + i * st[1] * isz, (size_t)isz);
}

/* Copies the sub-tensor at x[.., i_src, ..] (dim removed) to y[.., i_dst, ..]. */
static void copy_subtensor(const ptl_tensor *x, ptl_tensor *y, int dim, int64_t i_src,
                           int64_t i_dst) {
  int64_t shape[PTL_MAX_DIMS], st[2][PTL_MAX_DIMS];
  int k = 0;
  for (int d = 0; d < y->ndim; d++)
    if (d != dim) {
      shape[k] = y->shape[d];
      st[0][k] = y->strides[d];
      st[1][k++] = x->strides[d];
    }
  size_t isz = ptl_dtype_size(x->dtype);
  gather_ctx c = {(const char *)ptl_tensor_data(x) + i_src * x->strides[dim] * (int64_t)isz,
                  (char *)ptl_tensor_data(y) + i_dst * y->strides[dim] * (int64_t)isz, isz};
  ptl_for_each_row(k, shape, 2, (const int64_t(*)[PTL_MAX_DIMS])st, gather_row, &c);
}

ptl_status ptl_index_select_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *idx = call->in[1];
  ptl_tensor *y = call->out[0];
  if (x->ndim == 0) {
    memcpy(ptl_tensor_data(y), ptl_tensor_data(x), ptl_dtype_size(x->dtype));
    return PTL_OK;
  }
  int dim;
  PTL_CHECK(ptl_wrap_dim("index_select", call->attrs->n_ints > 0 ? call->attrs->ints[0] : 0,
                         x->ndim, &dim));
  int64_t n = ptl_tensor_numel(idx);
  for (int64_t k = 0; k < n; k++)
    copy_subtensor(x, y, dim, index_at(idx, k), k);
  return PTL_OK;
}

ptl_status ptl_embedding_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *w = call->in[0], *idx = call->in[1];
  char b[PTL_SHAPE_BUF];
  if (ptl_dtype_is_quantized(w->dtype))
    return ptl_error(PTL_ERR_UNSUPPORTED,
                     "embedding: quantized weight (%s) is not supported; "
                     "dequantize first",
                     ptl_dtype_name(w->dtype));
  if (w->ndim != 2)
    return ptl_error(PTL_ERR_SHAPE, "embedding: 'weight' must be 2-D, got shape %s",
                     ptl_shape_str(w, b, sizeof b));
  if (!is_index_dtype(idx->dtype))
    return ptl_error(PTL_ERR_DTYPE,
                     "embedding: Expected tensor for argument #1 'indices' to have one of the "
                     "following scalar types: Long, Int; but got %s instead",
                     ptl_dtype_name(idx->dtype));
  if (idx->ndim + 1 > PTL_MAX_DIMS)
    return ptl_error(PTL_ERR_UNSUPPORTED, "embedding: indices have too many dims (%d)", idx->ndim);
  int64_t n = ptl_tensor_numel(idx);
  for (int64_t k = 0; k < n; k++) {
    int64_t i = index_at(idx, k);
    if (i < 0 || i >= w->shape[0])
      return ptl_error(PTL_ERR_INDEX,
                       "embedding: index %lld is out of range for weight of "
                       "shape %s (index out of range in self)",
                       (long long)i, ptl_shape_str(w, b, sizeof b));
  }
  desc_from_dims(out, w->dtype, idx->ndim, idx->shape);
  out->shape[idx->ndim] = w->shape[1];
  out->ndim = idx->ndim + 1;
  return PTL_OK;
}

ptl_status ptl_embedding_ref(const ptl_call *call) {
  const ptl_tensor *w = call->in[0], *idx = call->in[1];
  ptl_tensor *y = call->out[0];
  int64_t n = ptl_tensor_numel(idx), dmodel = w->shape[1];
  size_t isz = ptl_dtype_size(w->dtype);
  const char *src = ptl_tensor_data(w);
  char *dst = ptl_tensor_data(y);
  int nd = idx->ndim;
  int64_t ys = y->strides[nd];
  for (int64_t k = 0; k < n; k++) {
    /* output row offset from k's multi-index (y may be caller-strided) */
    int64_t off = 0, r = k;
    for (int d = nd - 1; d >= 0; d--) {
      off += (r % y->shape[d]) * y->strides[d];
      r /= y->shape[d];
    }
    const char *s = src + index_at(idx, k) * w->strides[0] * (int64_t)isz;
    char *d = dst + off * (int64_t)isz;
    if (w->strides[1] == 1 && ys == 1) {
      memcpy(d, s, (size_t)dmodel * isz);
    } else {
      for (int64_t j = 0; j < dmodel; j++)
        memcpy(d + j * ys * (int64_t)isz, s + j * w->strides[1] * (int64_t)isz, isz);
    }
  }
  return PTL_OK;
}

/* ---- ARANGE -------------------------------------------------------------- */

typedef struct {
  double start, step;
  int64_t n;
} arange_spec;

static ptl_status arange_spec_of(const ptl_call *call, ptl_dtype *dtype, arange_spec *s) {
  const ptl_attrs *a = call->attrs;
  if (a->n_floats < 3 || a->n_ints < 1)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "arange: attributes must be start, end, step "
                                               "and dtype");
  if (a->ints[0] < 0 || a->ints[0] >= PTL_DTYPE_COUNT || ptl_dtype_is_quantized(a->ints[0]))
    return ptl_error(PTL_ERR_DTYPE, "arange: invalid dtype code %lld", (long long)a->ints[0]);
  *dtype = (ptl_dtype)a->ints[0];
  double start = a->floats[0], end = a->floats[1], step = a->floats[2];
  if (!isfinite(start) || !isfinite(end))
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "arange: unsupported range: %g -> %g", start, end);
  if (*dtype == PTL_INT64) {
    /* ATen casts the bounds and step of an int64 range to int64 before sizing it */
    start = trunc(start);
    end = trunc(end);
    step = trunc(step);
    if (step == 0)
      return ptl_error(PTL_ERR_VALUE, "arange: step must be nonzero");
  }
  if (step == 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "arange: step must be nonzero");
  if (!((step > 0 && end >= start) || (step < 0 && end <= start)))
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "arange: upper bound and lower bound inconsistent with step sign "
                     "(start %g, end %g, step %g)",
                     start, end, step);
  double n = ceil((end - start) / step);
  /* 2^52 elements keeps the byte size far from overflow; no machine holds more */
  if (!(n >= 0 && n <= 4503599627370496.0))
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "arange: invalid size, possible overflow?");
  s->start = start;
  s->step = step;
  s->n = (int64_t)n;
  return PTL_OK;
}

ptl_status ptl_arange_infer(const ptl_call *call, ptl_tensor_desc *out) {
  ptl_dtype dtype = PTL_FLOAT32;
  arange_spec s = {0, 0, 0};
  PTL_CHECK(arange_spec_of(call, &dtype, &s));
  desc_from_dims(out, dtype, 1, &s.n);
  return PTL_OK;
}

ptl_status ptl_arange_ref(const ptl_call *call) {
  ptl_dtype dtype = PTL_FLOAT32;
  arange_spec s = {0, 0, 0};
  PTL_CHECK(arange_spec_of(call, &dtype, &s));
  ptl_tensor *y = call->out[0];
  char *base = ptl_tensor_data(y);
  int64_t st = y->strides[0];
  if (ptl_dtype_is_float(dtype)) {
    for (int64_t i = 0; i < s.n; i++)
      ptl_store_f64(dtype, base, i * st, s.start + (double)i * s.step);
  } else {
    /* other integer types: sized in double above, but the values come from the
     * truncated start and step (what ATen's kernel does; e.g. step 0.5 repeats start) */
    int64_t start = (int64_t)trunc(s.start), step = (int64_t)trunc(s.step);
    for (int64_t i = 0; i < s.n; i++) {
      int64_t v = start + i * step;
      if (dtype == PTL_INT64)
        ((int64_t *)(void *)base)[i * st] = v;
      else
        ptl_store_f64(dtype, base, i * st, (double)v);
    }
  }
  return PTL_OK;
}

/* ---- RAND / RANDN / RANDINT ---------------------------------------------- */

/* Values are generated in logical (row-major) order into a contiguous buffer,
 * drawing the generator in blocks under one lock, then stored into the output
 * whatever its strides: a seed gives the same values at the same positions. */
#define RANDOM_BLOCK 512

static float unit_f32(uint64_t x) {
  return (float)(x >> 40) * 0x1.0p-24f;
}

/* RAND / RANDN into float buffer `v` of n values. RANDN uses both outputs of
 * each Box-Muller pair (float math, u1 in (0, 1]). */
static void random_floats(ptl_op_id op, float *v, int64_t n) {
  uint64_t buf[RANDOM_BLOCK];
  int64_t i = 0;
  while (i < n) {
    int64_t want = op == PTL_OP_RANDN ? ((n - i + 1) / 2) * 2 : n - i;
    size_t k = (size_t)(want < RANDOM_BLOCK ? want : RANDOM_BLOCK);
    ptl_random_fill_u64(buf, k);
    if (op == PTL_OP_RAND) {
      for (size_t j = 0; j < k; j++)
        v[i + (int64_t)j] = unit_f32(buf[j]);
      i += (int64_t)k;
      continue;
    }
    for (size_t j = 0; j + 1 < k; j += 2) {
      float u1 = (float)((buf[j] >> 40) + 1) * 0x1.0p-24f, u2 = unit_f32(buf[j + 1]);
      float r = sqrtf(-2.0f * logf(u1)), th = 6.2831853071795865f * u2;
      v[i++] = r * cosf(th);
      if (i < n)
        v[i++] = r * sinf(th);
    }
  }
}

typedef struct {
  ptl_dtype dtype;
  char *base;
  const void *values; /* logical order */
  bool ints;
  int64_t next;
} random_store_ctx;

static void random_store(void *vctx, int64_t off) {
  random_store_ctx *c = vctx;
  int64_t i = c->next++;
  if (c->ints) {
    int64_t v = ((const int64_t *)c->values)[i];
    if (c->dtype == PTL_INT64)
      ((int64_t *)(void *)c->base)[off] = v;
    else
      ptl_store_f64(c->dtype, c->base, off, (double)v);
  } else {
    ptl_store_f64(c->dtype, c->base, off, ((const float *)c->values)[i]);
  }
}

ptl_status ptl_random_ref(const ptl_call *call) {
  ptl_tensor *y = call->out[0];
  const ptl_attrs *a = call->attrs;
  const char *op = ptl_op_name(call->op);
  int64_t low = 0;
  uint64_t range = 1;
  if (ptl_dtype_is_quantized(y->dtype))
    return ptl_error(PTL_ERR_DTYPE, "%s: quantized dtype %s is not supported", op,
                     ptl_dtype_name(y->dtype));
  if (call->op != PTL_OP_RANDINT && !ptl_dtype_is_float(y->dtype))
    return ptl_error(PTL_ERR_DTYPE, "%s: expected a floating point dtype, got %s", op,
                     ptl_dtype_name(y->dtype));
  if (call->op == PTL_OP_RANDINT) {
    if (a->n_floats < 2)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT, "randint: attributes must include low, high");
    double lo = a->floats[0], hi = a->floats[1];
    if (!(hi > lo))
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "randint: random_ expects 'from' to be less than 'to', "
                       "but got from=%lld >= to=%lld",
                       (long long)lo, (long long)hi);
    if (!(lo >= -9.0e18 && hi <= 9.0e18))
      return ptl_error(PTL_ERR_INVALID_ARGUMENT, "randint: range [%g, %g) is too large", lo, hi);
    low = (int64_t)lo;
    range = (uint64_t)((int64_t)hi - (int64_t)lo);
  }
  int64_t n = ptl_tensor_numel(y);
  bool direct = ptl_tensor_is_contiguous(y) &&
                (call->op == PTL_OP_RANDINT ? y->dtype == PTL_INT64 : y->dtype == PTL_FLOAT32);
  size_t isz = call->op == PTL_OP_RANDINT ? sizeof(int64_t) : sizeof(float);
  void *buf = direct ? ptl_tensor_data(y) : malloc((size_t)(n ? n : 1) * isz);
  if (!buf)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory", op);
  if (call->op == PTL_OP_RANDINT) {
    /* modulo bias is below 2^-40 for any range a tensor can use */
    int64_t *v = buf;
    uint64_t draws[RANDOM_BLOCK];
    for (int64_t i = 0; i < n; i += RANDOM_BLOCK) {
      int64_t k = n - i < RANDOM_BLOCK ? n - i : RANDOM_BLOCK;
      ptl_random_fill_u64(draws, (size_t)k);
      for (int64_t j = 0; j < k; j++)
        v[i + j] = low + (int64_t)(draws[j] % range);
    }
  } else {
    random_floats(call->op, buf, n);
  }
  if (!direct) {
    random_store_ctx c = {y->dtype, ptl_tensor_data(y), buf, call->op == PTL_OP_RANDINT, 0};
    for_each_elem(y, random_store, &c);
    free(buf);
  }
  return PTL_OK;
}
