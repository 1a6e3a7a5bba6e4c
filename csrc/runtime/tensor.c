/* tensor.c - tensors, storage, views, dtype helpers and the packed-weight cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const size_t k_dtype_size[PTL_DTYPE_COUNT] = {4, 2, 1, 1, 4, 8, 1, 1, 1, 4};
static const char *const k_dtype_name[PTL_DTYPE_COUNT] = {
    "float32", "float16", "int8", "uint8", "int32", "int64", "bool", "quint8", "qint8", "qint32"};

size_t ptl_dtype_size(ptl_dtype d) {
  return (unsigned)d < PTL_DTYPE_COUNT ? k_dtype_size[d] : 0;
}

const char *ptl_dtype_name(ptl_dtype d) {
  return (unsigned)d < PTL_DTYPE_COUNT ? k_dtype_name[d] : "invalid";
}

bool ptl_dtype_is_float(ptl_dtype d) {
  return d == PTL_FLOAT32 || d == PTL_FLOAT16;
}

bool ptl_dtype_is_quantized(ptl_dtype d) {
  return d == PTL_QUINT8 || d == PTL_QINT8 || d == PTL_QINT32;
}

int64_t ptl_numel_of(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  return n;
}

void ptl_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i] > 1 ? shape[i] : 1;
  }
}

void ptl_channels_last_strides(const int64_t *shape, int64_t *strides) {
  int64_t c = shape[1] > 1 ? shape[1] : 1, h = shape[2] > 1 ? shape[2] : 1;
  int64_t w = shape[3] > 1 ? shape[3] : 1;
  strides[1] = 1;
  strides[3] = c;
  strides[2] = c * w;
  strides[0] = c * w * h;
}

static ptl_status storage_new(size_t nbytes, ptl_storage **out) {
  ptl_storage *s = calloc(1, sizeof *s);
  if (!s)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory allocating a tensor header");
  /* XNNPACK's vector kernels may read (never use) up to 16 bytes past the end */
  size_t alloc = (nbytes + 16 + 63) & ~(size_t)63;
  s->data = aligned_alloc(64, alloc ? alloc : 64);
  if (!s->data) {
    free(s);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory allocating %zu bytes", nbytes);
  }
  s->nbytes = nbytes;
  atomic_init(&s->refcount, 1);
  atomic_init(&s->version, 0);
  *out = s;
  return PTL_OK;
}

static void storage_release(ptl_storage *s) {
  if (!s || atomic_fetch_sub(&s->refcount, 1) != 1)
    return;
  if (s->borrowed) {
    if (s->release)
      s->release(s->release_ctx);
  } else {
    free(s->data);
  }
  free(s);
}

/* Validates dims and that the element count cannot overflow (bytes fit int64). */
static ptl_status check_shape(ptl_dtype dtype, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > PTL_MAX_DIMS)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "tensors have at most %d dims, got %d", PTL_MAX_DIMS,
                     ndim);
  char b[PTL_SHAPE_BUF];
  int64_t limit = INT64_MAX / (int64_t)(ptl_dtype_size(dtype) ? ptl_dtype_size(dtype) : 1);
  int64_t numel = 1;
  bool empty = false;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "Trying to create tensor with negative dimension %lld: %s",
                       (long long)shape[i], ptl_dims_str(ndim, shape, b, sizeof b));
    empty = empty || shape[i] == 0;
    if (!empty && shape[i] > limit / numel)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY,
                       "a tensor of shape %s and dtype %s has more bytes than can be addressed",
                       ptl_dims_str(ndim, shape, b, sizeof b), ptl_dtype_name(dtype));
    if (!empty)
      numel *= shape[i];
  }
  return PTL_OK;
}

static ptl_status tensor_alloc(ptl_dtype dtype, int ndim, const int64_t *shape,
                               const int64_t *strides, ptl_tensor **out) {
  if ((unsigned)dtype >= PTL_DTYPE_COUNT)
    return ptl_error(PTL_ERR_DTYPE, "invalid dtype code %d", (int)dtype);
  PTL_CHECK(check_shape(dtype, ndim, shape));
  ptl_tensor *t = calloc(1, sizeof *t);
  if (!t)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory allocating a tensor header");
  atomic_init(&t->refcount, 1);
  t->dtype = dtype;
  t->ndim = ndim;
  if (ndim > 0)
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
  if (strides && ndim > 0)
    memcpy(t->strides, strides, sizeof(int64_t) * (size_t)ndim);
  else if (!strides)
    ptl_contiguous_strides(ndim, shape, t->strides);
  *out = t;
  return PTL_OK;
}

/* Bytes spanned by a strided layout (max offset + 1 element). */
static size_t span_bytes(const ptl_tensor *t) {
  int64_t numel = ptl_numel_of(t->ndim, t->shape);
  if (numel == 0)
    return 0;
  int64_t last = 0;
  for (int i = 0; i < t->ndim; i++)
    last += (t->shape[i] - 1) * t->strides[i];
  return (size_t)(last + 1) * ptl_dtype_size(t->dtype);
}

ptl_status ptl_tensor_create(ptl_dtype dtype, int ndim, const int64_t *shape, ptl_tensor **out) {
  ptl_tensor *t;
  PTL_CHECK(tensor_alloc(dtype, ndim, shape, NULL, &t));
  ptl_status s = storage_new(span_bytes(t), &t->storage);
  if (s != PTL_OK) {
    free(t);
    return s;
  }
  *out = t;
  return PTL_OK;
}

ptl_status ptl_tensor_from_desc(const ptl_tensor_desc *d, ptl_tensor **out) {
  ptl_tensor *t;
  PTL_CHECK(tensor_alloc(d->dtype, d->ndim, d->shape, d->has_strides ? d->strides : NULL, &t));
  ptl_status s = storage_new(span_bytes(t), &t->storage);
  if (s != PTL_OK) {
    free(t);
    return s;
  }
  *out = t;
  return PTL_OK;
}

ptl_status ptl_tensor_create_borrowed(ptl_dtype dtype, int ndim, const int64_t *shape,
                                      const int64_t *strides, void *data,
                                      void (*release)(void *ctx), void *ctx, ptl_tensor **out) {
  ptl_tensor *t;
  PTL_CHECK(tensor_alloc(dtype, ndim, shape, strides, &t));
  for (int i = 0; i < ndim; i++)
    if (t->strides[i] < 0) {
      free(t);
      return ptl_error(PTL_ERR_UNSUPPORTED, "negative strides are not supported (dim %d)", i);
    }
  ptl_storage *s = calloc(1, sizeof *s);
  if (!s) {
    free(t);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory allocating a tensor header");
  }
  atomic_init(&s->refcount, 1);
  atomic_init(&s->version, 0);
  s->data = data;
  s->nbytes = span_bytes(t);
  s->release = release;
  s->release_ctx = ctx;
  s->borrowed = true;
  t->storage = s;
  *out = t;
  return PTL_OK;
}

ptl_status ptl_tensor_view(const ptl_tensor *base, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset, ptl_tensor **out) {
  ptl_tensor *t;
  PTL_CHECK(tensor_alloc(base->dtype, ndim, shape, strides, &t));
  t->offset = offset;
  t->storage = base->storage;
  atomic_fetch_add(&base->storage->refcount, 1);
  ptl_status s = ptl_qparams_copy(t, base); /* views share the parameters by copy */
  if (s != PTL_OK) {
    ptl_tensor_release(t);
    return s;
  }
  *out = t;
  return PTL_OK;
}

ptl_status ptl_qparams_copy(ptl_tensor *dst, const ptl_tensor *src) {
  if (!src->qparams || dst->qparams)
    return PTL_OK;
  ptl_qparams *q = calloc(1, sizeof *q);
  if (!q)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory copying qparams");
  *q = *src->qparams;
  q->scale = malloc(sizeof(float) * (size_t)q->count);
  q->zero_point = malloc(sizeof(int32_t) * (size_t)q->count);
  if (!q->scale || !q->zero_point) {
    free(q->scale);
    free(q->zero_point);
    free(q);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory copying qparams");
  }
  memcpy(q->scale, src->qparams->scale, sizeof(float) * (size_t)q->count);
  memcpy(q->zero_point, src->qparams->zero_point, sizeof(int32_t) * (size_t)q->count);
  dst->qparams = q;
  return PTL_OK;
}

/* Replaces whatever qparams `t` has: a planned or preset output is reused
 * across runs with possibly different parameters. */
ptl_status ptl_qparams_set(ptl_tensor *t, ptl_qscheme scheme, int32_t axis, int64_t count,
                           const float *scale, const int32_t *zp) {
  ptl_qparams *q = t->qparams;
  if (!q || q->count != count) {
    ptl_qparams *n = calloc(1, sizeof *n);
    float *s = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    int32_t *z = malloc(sizeof(int32_t) * (size_t)(count > 0 ? count : 1));
    if (!n || !s || !z) {
      free(n);
      free(s);
      free(z);
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory for quantization parameters");
    }
    if (q) {
      free(q->scale);
      free(q->zero_point);
      free(q);
    }
    n->scale = s;
    n->zero_point = z;
    t->qparams = q = n;
  }
  q->scheme = scheme;
  q->axis = axis;
  q->count = count;
  if (count > 0) {
    memcpy(q->scale, scale, sizeof(float) * (size_t)count);
    memcpy(q->zero_point, zp, sizeof(int32_t) * (size_t)count);
  }
  return PTL_OK;
}

ptl_status ptl_qparams_set_per_tensor(ptl_tensor *t, float scale, int32_t zero_point) {
  return ptl_qparams_set(t, PTL_QSCHEME_PER_TENSOR_AFFINE, 0, 1, &scale, &zero_point);
}

void ptl_tensor_retain(ptl_tensor *t) {
  if (t)
    atomic_fetch_add(&t->refcount, 1);
}

static void packed_free(ptl_packed *p) {
  while (p) {
    ptl_packed *next = p->next;
    if (p->destroy)
      p->destroy(p->object);
    free(p);
    p = next;
  }
}

void ptl_tensor_release(ptl_tensor *t) {
  if (!t || atomic_fetch_sub(&t->refcount, 1) != 1)
    return;
  storage_release(t->storage);
  if (t->qparams) {
    free(t->qparams->scale);
    free(t->qparams->zero_point);
    free(t->qparams);
  }
  packed_free(t->packed);
  free(t);
}

ptl_dtype ptl_tensor_dtype(const ptl_tensor *t) {
  return t->dtype;
}
int ptl_tensor_ndim(const ptl_tensor *t) {
  return t->ndim;
}
const int64_t *ptl_tensor_shape(const ptl_tensor *t) {
  return t->shape;
}
const int64_t *ptl_tensor_strides(const ptl_tensor *t) {
  return t->strides;
}
int64_t ptl_tensor_numel(const ptl_tensor *t) {
  return ptl_numel_of(t->ndim, t->shape);
}

void *ptl_tensor_data(const ptl_tensor *t) {
  return (char *)t->storage->data + t->offset * (int64_t)ptl_dtype_size(t->dtype);
}

int ptl_tensor_is_contiguous(const ptl_tensor *t) {
  if (ptl_numel_of(t->ndim, t->shape) == 0)
    return 1; /* as torch: an empty tensor is contiguous whatever its strides */
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->strides[i] != s)
      return 0;
    s *= t->shape[i];
  }
  return 1;
}

bool ptl_tensor_is_channels_last(const ptl_tensor *t) {
  if (t->ndim != 4)
    return false;
  int64_t s[4];
  ptl_channels_last_strides(t->shape, s);
  for (int i = 0; i < 4; i++)
    if (t->shape[i] != 1 && t->strides[i] != s[i])
      return false;
  return true;
}

bool ptl_tensor_is_dense(const ptl_tensor *t) {
  /* sort dims by stride (insertion sort, ndim <= 8) and check packing */
  int order[PTL_MAX_DIMS], n = 0;
  for (int i = 0; i < t->ndim; i++) {
    if (t->shape[i] == 1)
      continue;
    int j = n++;
    while (j > 0 && t->strides[order[j - 1]] > t->strides[i]) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  int64_t expect = 1;
  for (int k = 0; k < n; k++) {
    if (t->strides[order[k]] != expect)
      return false;
    expect *= t->shape[order[k]];
  }
  return true;
}

bool ptl_tensor_same_dense_layout(const ptl_tensor *x, const ptl_tensor *y) {
  if (x->ndim != y->ndim || !ptl_tensor_is_dense(x) || !ptl_tensor_is_dense(y))
    return false;
  for (int d = 0; d < y->ndim; d++)
    if (x->shape[d] != y->shape[d] || (y->shape[d] != 1 && x->strides[d] != y->strides[d]))
      return false;
  return true;
}

int64_t ptl_tensor_nhwc_pixel_stride(const ptl_tensor *t) {
  const int64_t *s = t->shape, *st = t->strides;
  if (s[1] > 1 && st[1] != 1)
    return 0;
  int64_t pix = s[3] > 1 ? st[3] : (s[2] > 1 ? st[2] / s[3] : s[1]);
  if (pix < s[1] || pix <= 0)
    return 0;
  if (s[3] > 1 && st[3] != pix)
    return 0;
  if (s[2] > 1 && st[2] != pix * s[3])
    return 0;
  if (s[0] > 1 && st[0] != pix * s[3] * s[2])
    return 0;
  return pix;
}

void ptl_tensor_bump_version(ptl_tensor *t) {
  atomic_fetch_add(&t->storage->version, 1);
}
uint64_t ptl_tensor_version(const ptl_tensor *t) {
  return atomic_load(&t->storage->version);
}

ptl_status ptl_tensor_contiguous(ptl_tensor *t, ptl_tensor **out) {
  if (ptl_tensor_is_contiguous(t)) {
    ptl_tensor_retain(t);
    *out = t;
    return PTL_OK;
  }
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = -1;
  a.ints[1] = 0;
  *out = NULL;
  return ptl_op_run(PTL_OP_COPY, &a, &t, 1, out, 1);
}

/* ---- half precision (IEEE 754 binary16), round to nearest even ---------- */
float ptl_half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { /* subnormal */
      exp = 127 - 15 + 1;
      while (!(mant & 0x400)) {
        mant <<= 1;
        exp--;
      }
      bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t ptl_float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) /* inf or nan */
    return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
  if (absx >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
    return (uint16_t)(sign | 0x7c00);
  if (absx < 0x38800000u) { /* subnormal half or zero */
    if (absx < 0x33000000u)
      return (uint16_t)sign;
    uint32_t mant = (absx & 0x7fffff) | 0x800000;
    int shift = 113 - (int)(absx >> 23) + 13; /* 14..24 */
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      half++;
    return (uint16_t)(sign | half);
  }
  uint32_t h = ((absx >> 13) - ((127 - 15) << 10));
  uint32_t rem = absx & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
    h++;
  return (uint16_t)(sign | h);
}

/* ---- generic element access (slow paths and reference kernels) --------- */
double ptl_load_f64(ptl_dtype d, const void *base, int64_t i) {
  switch (d) {
  case PTL_FLOAT32: return ((const float *)base)[i];
  case PTL_FLOAT16: return ptl_half_to_float(((const uint16_t *)base)[i]);
  case PTL_INT8:
  case PTL_QINT8: return ((const int8_t *)base)[i];
  case PTL_UINT8:
  case PTL_QUINT8: return ((const uint8_t *)base)[i];
  case PTL_INT32:
  case PTL_QINT32: return ((const int32_t *)base)[i];
  case PTL_INT64: return (double)((const int64_t *)base)[i];
  case PTL_BOOL: return ((const uint8_t *)base)[i] != 0;
  default: return 0;
  }
}

int64_t ptl_load_i64(ptl_dtype d, const void *base, int64_t i) {
  switch (d) {
  case PTL_INT64: return ((const int64_t *)base)[i];
  case PTL_FLOAT32: return (int64_t)((const float *)base)[i];
  case PTL_FLOAT16: return (int64_t)ptl_half_to_float(((const uint16_t *)base)[i]);
  default: return (int64_t)ptl_load_f64(d, base, i);
  }
}

/* float -> integer conversion as C casts it, without UB on out-of-range values */
static int64_t f64_to_i64(double v) {
  if (isnan(v))
    return 0;
  if (v >= 9.2233720368547758e18)
    return INT64_MAX;
  if (v <= -9.2233720368547758e18)
    return INT64_MIN;
  return (int64_t)v;
}

void ptl_store_f64(ptl_dtype d, void *base, int64_t i, double v) {
  switch (d) {
  case PTL_FLOAT32: ((float *)base)[i] = (float)v; break;
  case PTL_FLOAT16: ((uint16_t *)base)[i] = ptl_float_to_half((float)v); break;
  case PTL_INT8:
  case PTL_QINT8: ((int8_t *)base)[i] = (int8_t)f64_to_i64(v); break;
  case PTL_UINT8:
  case PTL_QUINT8: ((uint8_t *)base)[i] = (uint8_t)f64_to_i64(v); break;
  case PTL_INT32:
  case PTL_QINT32: ((int32_t *)base)[i] = (int32_t)f64_to_i64(v); break;
  case PTL_INT64: ((int64_t *)base)[i] = f64_to_i64(v); break;
  case PTL_BOOL: ((uint8_t *)base)[i] = v != 0; break;
  default: break;
  }
}

/* ---- broadcasting and dims ---------------------------------------------- */
ptl_status ptl_broadcast_shapes(const char *op, int na, const int64_t *sa, int nb,
                                const int64_t *sb, int *nout, int64_t *sout) {
  int n = na > nb ? na : nb;
  for (int i = 0; i < n; i++) {
    int ia = na - n + i, ib = nb - n + i;
    int64_t da = ia >= 0 ? sa[ia] : 1, db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: the size of tensor a (%lld) must match the size of tensor b "
                       "(%lld) at non-singleton dimension %d; shapes %s and %s",
                       op, (long long)da, (long long)db, i, ptl_dims_str(na, sa, b1, sizeof b1),
                       ptl_dims_str(nb, sb, b2, sizeof b2));
    }
    sout[i] = da == 1 ? db : da;
  }
  *nout = n;
  return PTL_OK;
}

void ptl_broadcast_strides(const ptl_tensor *t, int ndim, const int64_t *shape, int64_t *strides) {
  for (int i = 0; i < ndim; i++) {
    int j = t->ndim - ndim + i;
    strides[i] = (j >= 0 && t->shape[j] == shape[i]) ? t->strides[j] : 0;
  }
}

ptl_status ptl_wrap_dim(const char *op, int64_t dim, int ndim, int *out) {
  int64_t n = ndim > 0 ? ndim : 1;
  if (dim < -n || dim >= n)
    return ptl_error(PTL_ERR_INDEX,
                     "%s: Dimension out of range (expected to be in range of [%lld, %lld], "
                     "but got %lld)",
                     op, (long long)-n, (long long)(n - 1), (long long)dim);
  *out = (int)(dim < 0 ? dim + n : dim);
  return PTL_OK;
}

/* ---- packed weight cache ------------------------------------------------ */
typedef struct {
  const ptl_tensor *weight;
  ptl_packed *list;
} scope_entry;

struct ptl_packed_scope {
  scope_entry *items;
  int n, cap;
};

static _Thread_local ptl_packed_scope *tls_scope;

ptl_status ptl_packed_scope_create(ptl_packed_scope **out) {
  *out = calloc(1, sizeof **out);
  return *out ? PTL_OK : ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory creating a session");
}

void ptl_packed_scope_destroy(ptl_packed_scope *scope) {
  if (!scope)
    return;
  for (int i = 0; i < scope->n; i++)
    packed_free(scope->items[i].list);
  free(scope->items);
  free(scope);
}

void ptl_packed_scope_set(ptl_packed_scope *scope) {
  tls_scope = scope;
}
ptl_packed_scope *ptl_packed_scope_get(void) {
  return tls_scope;
}

/* The cache list head for weight w: the session's when a scope is active. */
static ptl_packed **cache_head(ptl_tensor *w, bool create) {
  ptl_packed_scope *sc = tls_scope;
  if (!sc)
    return &w->packed;
  for (int i = 0; i < sc->n; i++)
    if (sc->items[i].weight == w)
      return &sc->items[i].list;
  if (!create)
    return NULL;
  if (sc->n == sc->cap) {
    int cap = sc->cap ? sc->cap * 2 : 64;
    scope_entry *items = realloc(sc->items, sizeof *items * (size_t)cap);
    if (!items)
      return NULL;
    sc->items = items;
    sc->cap = cap;
  }
  sc->items[sc->n] = (scope_entry){w, NULL};
  return &sc->items[sc->n++].list;
}

void *ptl_packed_find(const ptl_tensor *w, const uint64_t *key) {
  ptl_packed **head = cache_head((ptl_tensor *)w, false);
  for (ptl_packed *p = head ? *head : NULL; p; p = p->next)
    if (memcmp(p->key, key, sizeof p->key) == 0)
      return p->object;
  return NULL;
}

ptl_status ptl_packed_add(ptl_tensor *w, const uint64_t *key, void *object,
                          void (*destroy)(void *)) {
  ptl_packed **head = cache_head(w, true);
  ptl_packed *p = head ? calloc(1, sizeof *p) : NULL;
  if (!p) {
    if (destroy)
      destroy(object);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory caching packed weights");
  }
  memcpy(p->key, key, sizeof p->key);
  p->object = object;
  p->destroy = destroy;
  /* entries for an older weight version are stale: drop them (key[0] holds the version) */
  ptl_packed **pp = head;
  while (*pp) {
    if ((*pp)->key[0] != key[0]) {
      ptl_packed *dead = *pp;
      *pp = dead->next;
      dead->next = NULL;
      packed_free(dead);
    } else {
      pp = &(*pp)->next;
    }
  }
  p->next = *head;
  *head = p;
  return PTL_OK;
}

/* ---- strided iteration -------------------------------------------------- */
void ptl_for_each_row(int ndim, const int64_t *shape, int n_ops,
                      const int64_t (*strides)[PTL_MAX_DIMS], ptl_row_fn fn, void *ctx) {
  int64_t sh[PTL_MAX_DIMS], st[PTL_ITER_MAX_OPS][PTL_MAX_DIMS];
  int n = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 0)
      return;
    if (shape[d] == 1)
      continue; /* size-1 dims never move the offsets */
    bool merge = n > 0;
    for (int k = 0; k < n_ops && merge; k++)
      merge = st[k][n - 1] == strides[k][d] * shape[d];
    if (merge) {
      sh[n - 1] *= shape[d];
      for (int k = 0; k < n_ops; k++)
        st[k][n - 1] = strides[k][d];
    } else {
      sh[n] = shape[d];
      for (int k = 0; k < n_ops; k++)
        st[k][n] = strides[k][d];
      n++;
    }
  }
  int64_t off[PTL_ITER_MAX_OPS] = {0}, row_st[PTL_ITER_MAX_OPS] = {0};
  if (n == 0) {
    fn(ctx, off, row_st, 1);
    return;
  }
  for (int k = 0; k < n_ops; k++)
    row_st[k] = st[k][n - 1];
  int64_t idx[PTL_MAX_DIMS] = {0};
  for (;;) {
    fn(ctx, off, row_st, sh[n - 1]);
    int d = n - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      for (int k = 0; k < n_ops; k++)
        off[k] += st[k][d];
      if (idx[d] < sh[d])
        break;
      for (int k = 0; k < n_ops; k++)
        off[k] -= st[k][d] * sh[d];
      idx[d] = 0;
    }
    if (d < 0)
      return;
  }
}
