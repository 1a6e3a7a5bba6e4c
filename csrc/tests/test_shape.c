/* test_shape.c - C tests of kernels/shape.c through ptl_op_run. */
#include <stdlib.h>

#include "internal.h" /* ptl_qparams: quantized views are checked against the struct */
#include "test_util.h"

static ptl_attrs ints_attrs(int n, const int64_t *v) {
  ptl_attrs a = {0};
  a.n_ints = n;
  for (int i = 0; i < n; i++)
    a.ints[i] = v[i];
  return a;
}

static ptl_tensor *iota_f32(int ndim, const int64_t *shape) {
  ptl_tensor *t = t_f32(ndim, shape, NULL);
  if (!t)
    return NULL;
  float *d = ptl_tensor_data(t);
  for (int64_t i = 0; i < ptl_tensor_numel(t); i++)
    d[i] = (float)i;
  return t;
}

static void test_views(void) {
  int64_t shape[2] = {2, 3};
  ptl_tensor *x = iota_f32(2, shape);

  /* reshape of a contiguous tensor is a view with contiguous strides */
  ptl_attrs a = ints_attrs(2, (int64_t[]){3, -1});
  ptl_tensor *r = NULL;
  T_OK(ptl_op_run(PTL_OP_RESHAPE, &a, &x, 1, &r, 1));
  T_CHECK(r && ptl_tensor_shape(r)[0] == 3 && ptl_tensor_shape(r)[1] == 2);
  T_CHECK(r && ptl_tensor_data(r) == ptl_tensor_data(x));

  /* permute: strides swap, memory shared */
  ptl_attrs p = ints_attrs(2, (int64_t[]){1, 0});
  ptl_tensor *tr = NULL;
  T_OK(ptl_op_run(PTL_OP_PERMUTE, &p, &x, 1, &tr, 1));
  T_CHECK(tr && ptl_tensor_strides(tr)[0] == 1 && ptl_tensor_strides(tr)[1] == 3);
  T_CHECK(tr && !ptl_tensor_is_contiguous(tr));

  /* reshape of the transposed tensor cannot be a view: a contiguous copy in order */
  ptl_attrs flat = ints_attrs(1, (int64_t[]){-1});
  ptl_tensor *f = NULL;
  T_OK(ptl_op_run(PTL_OP_RESHAPE, &flat, &tr, 1, &f, 1));
  if (f) {
    const float *d = ptl_tensor_data(f);
    T_CHECK(ptl_tensor_data(f) != ptl_tensor_data(x));
    T_CHECK(d[0] == 0 && d[1] == 3 && d[2] == 1 && d[5] == 5);
  }

  /* slice with a step and a negative start, then select */
  ptl_attrs sl = ints_attrs(4, (int64_t[]){1, -3, 100, 2});
  ptl_tensor *s = NULL;
  T_OK(ptl_op_run(PTL_OP_SLICE, &sl, &x, 1, &s, 1));
  T_CHECK(s && ptl_tensor_shape(s)[1] == 2 && ptl_tensor_strides(s)[1] == 2);
  ptl_attrs se = ints_attrs(2, (int64_t[]){0, -1});
  ptl_tensor *row = NULL;
  T_OK(ptl_op_run(PTL_OP_SELECT, &se, &s, 1, &row, 1));
  if (row) {
    const float *d = ptl_tensor_data(row);
    T_CHECK(ptl_tensor_ndim(row) == 1 && d[0] == 3.0f && d[ptl_tensor_strides(row)[0]] == 5.0f);
  }

  /* expand adds a stride-0 leading dim */
  ptl_attrs ex = ints_attrs(3, (int64_t[]){4, -1, 3});
  ptl_tensor *e = NULL;
  T_OK(ptl_op_run(PTL_OP_EXPAND, &ex, &x, 1, &e, 1));
  T_CHECK(e && ptl_tensor_strides(e)[0] == 0 && ptl_tensor_shape(e)[0] == 4);

  /* errors: a status and a message naming the op and shapes, no crash, no output */
  ptl_attrs bad = ints_attrs(2, (int64_t[]){2, 5});
  ptl_tensor *none = NULL;
  T_CHECK(ptl_op_run(PTL_OP_RESHAPE, &bad, &x, 1, &none, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "shape '[2, 5]' is invalid for input of size 6"));
  T_CHECK(none == NULL);
  ptl_attrs badx = ints_attrs(2, (int64_t[]){2, 4});
  T_CHECK(ptl_op_run(PTL_OP_EXPAND, &badx, &x, 1, &none, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "Target sizes: [2, 4].  Tensor sizes: [2, 3]"));
  ptl_attrs bads = ints_attrs(2, (int64_t[]){0, 5});
  T_CHECK(ptl_op_run(PTL_OP_SELECT, &bads, &x, 1, &none, 1) == PTL_ERR_INDEX);
  T_CHECK(strstr(ptl_last_error_message(), "index 5 is out of bounds for dimension 0 with size 2"));
  ptl_attrs badp = ints_attrs(2, (int64_t[]){0, 0});
  T_CHECK(ptl_op_run(PTL_OP_PERMUTE, &badp, &x, 1, &none, 1) == PTL_ERR_SHAPE);
  T_CHECK(none == NULL);

  ptl_tensor_release(e);
  ptl_tensor_release(row);
  ptl_tensor_release(s);
  ptl_tensor_release(f);
  ptl_tensor_release(tr);
  ptl_tensor_release(r);
  /* views keep the storage alive after the base is released */
  ptl_tensor *v = NULL;
  T_OK(ptl_op_run(PTL_OP_PERMUTE, &p, &x, 1, &v, 1));
  ptl_tensor_release(x);
  if (v)
    T_CHECK(((const float *)ptl_tensor_data(v))[ptl_tensor_strides(v)[1]] == 3.0f);
  ptl_tensor_release(v);
}

static void test_cat_pad_gather(void) {
  int64_t s1[2] = {2, 1}, s2[2] = {2, 2};
  ptl_tensor *a = iota_f32(2, s1), *b = iota_f32(2, s2);
  ptl_tensor *in[2] = {a, b};
  ptl_attrs dim1 = ints_attrs(1, (int64_t[]){1});
  ptl_tensor *c = NULL;
  T_OK(ptl_op_run(PTL_OP_CAT, &dim1, in, 2, &c, 1));
  if (c) {
    const float *d = ptl_tensor_data(c);
    /* [[0, 0, 1], [1, 2, 3]] */
    T_CHECK(d[0] == 0 && d[1] == 0 && d[2] == 1 && d[3] == 1 && d[4] == 2 && d[5] == 3);
  }
  ptl_attrs dim0 = ints_attrs(1, (int64_t[]){0});
  ptl_tensor *none = NULL;
  T_CHECK(ptl_op_run(PTL_OP_CAT, &dim0, in, 2, &none, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "[2, 1] and [2, 2]") != NULL);

  /* reflect pad of [0, 1, 2, 3] by (2, 1) -> [2, 1, 0, 1, 2, 3, 2] */
  int64_t s4[1] = {4};
  ptl_tensor *v = iota_f32(1, s4), *pd = NULL;
  ptl_attrs pa = ints_attrs(4, (int64_t[]){1, 2, 2, 1});
  T_OK(ptl_op_run(PTL_OP_PAD, &pa, &v, 1, &pd, 1));
  if (pd) {
    const float *d = ptl_tensor_data(pd);
    const float want[7] = {2, 1, 0, 1, 2, 3, 2};
    T_CHECK(ptl_tensor_shape(pd)[0] == 7);
    T_CHECK(memcmp(d, want, sizeof want) == 0);
  }
  ptl_attrs pbad = ints_attrs(4, (int64_t[]){1, 2, 4, 0});
  T_CHECK(ptl_op_run(PTL_OP_PAD, &pbad, &v, 1, &none, 1) == PTL_ERR_SHAPE);

  /* index_select and embedding with an int64 index; out-of-range is an index error */
  int64_t n2[1] = {2};
  ptl_tensor *idx = NULL;
  T_OK(ptl_tensor_create(PTL_INT64, 1, n2, &idx));
  if (idx) {
    ((int64_t *)ptl_tensor_data(idx))[0] = 1;
    ((int64_t *)ptl_tensor_data(idx))[1] = 0;
  }
  ptl_tensor *gin[2] = {b, idx}, *g = NULL;
  T_OK(ptl_op_run(PTL_OP_INDEX_SELECT, &dim0, gin, 2, &g, 1));
  if (g) {
    const float *d = ptl_tensor_data(g);
    T_CHECK(d[0] == 2 && d[1] == 3 && d[2] == 0 && d[3] == 1);
  }
  ptl_tensor *emb = NULL;
  T_OK(ptl_op_run(PTL_OP_EMBEDDING, NULL, gin, 2, &emb, 1));
  T_CHECK(emb && ptl_tensor_ndim(emb) == 2 && ((const float *)ptl_tensor_data(emb))[0] == 2);
  if (idx)
    ((int64_t *)ptl_tensor_data(idx))[1] = 7;
  T_CHECK(ptl_op_run(PTL_OP_INDEX_SELECT, &dim0, gin, 2, &none, 1) == PTL_ERR_INDEX);
  T_CHECK(ptl_op_run(PTL_OP_EMBEDDING, NULL, gin, 2, &none, 1) == PTL_ERR_INDEX);
  T_CHECK(strstr(ptl_last_error_message(), "index out of range in self") != NULL);

  ptl_tensor_release(emb);
  ptl_tensor_release(g);
  ptl_tensor_release(idx);
  ptl_tensor_release(pd);
  ptl_tensor_release(v);
  ptl_tensor_release(c);
  ptl_tensor_release(a);
  ptl_tensor_release(b);
}

static void test_arange_random(void) {
  ptl_attrs a = {0};
  a.n_ints = 1;
  a.ints[0] = PTL_FLOAT32;
  a.n_floats = 3;
  a.floats[0] = 0.0;
  a.floats[1] = 1.0;
  a.floats[2] = 0.25;
  ptl_tensor *r = NULL;
  T_OK(ptl_op_run(PTL_OP_ARANGE, &a, NULL, 0, &r, 1));
  if (r) {
    const float *d = ptl_tensor_data(r);
    T_CHECK(ptl_tensor_numel(r) == 4 && d[3] == 0.75f);
  }
  a.floats[2] = -1.0;
  ptl_tensor *none = NULL;
  T_CHECK(ptl_op_run(PTL_OP_ARANGE, &a, NULL, 0, &none, 1) == PTL_ERR_INVALID_ARGUMENT);

  ptl_attrs ra = ints_attrs(3, (int64_t[]){PTL_INT64, 1, 1000});
  ra.n_floats = 2;
  ra.floats[0] = -2;
  ra.floats[1] = 3;
  ptl_tensor *ri = NULL;
  T_OK(ptl_op_run(PTL_OP_RANDINT, &ra, NULL, 0, &ri, 1));
  if (ri) {
    const int64_t *d = ptl_tensor_data(ri);
    int ok = 1, seen[5] = {0};
    for (int i = 0; i < 1000; i++) {
      ok = ok && d[i] >= -2 && d[i] < 3;
      if (d[i] >= -2 && d[i] < 3)
        seen[d[i] + 2] = 1;
    }
    T_CHECK(ok && seen[0] && seen[4]);
  }
  ptl_manual_seed(5);
  ptl_attrs ua = ints_attrs(3, (int64_t[]){PTL_FLOAT32, 1, 16});
  ptl_tensor *u1 = NULL, *u2 = NULL;
  T_OK(ptl_op_run(PTL_OP_RAND, &ua, NULL, 0, &u1, 1));
  ptl_manual_seed(5);
  T_OK(ptl_op_run(PTL_OP_RAND, &ua, NULL, 0, &u2, 1));
  T_CHECK(u1 && u2 && memcmp(ptl_tensor_data(u1), ptl_tensor_data(u2), 16 * sizeof(float)) == 0);
  ptl_attrs bad = ints_attrs(3, (int64_t[]){PTL_INT64, 1, 4});
  T_CHECK(ptl_op_run(PTL_OP_RANDN, &bad, NULL, 0, &none, 1) == PTL_ERR_DTYPE);
  T_CHECK(none == NULL);
  ptl_tensor_release(u1);
  ptl_tensor_release(u2);
  ptl_tensor_release(ri);
  ptl_tensor_release(r);
}

static void attach_qparams(ptl_tensor *t, ptl_qscheme scheme, int axis, int64_t count) {
  ptl_qparams *q = calloc(1, sizeof *q);
  q->scheme = scheme;
  q->axis = axis;
  q->count = count;
  q->scale = malloc(sizeof(float) * (size_t)count);
  q->zero_point = malloc(sizeof(int32_t) * (size_t)count);
  for (int64_t i = 0; i < count; i++) {
    q->scale[i] = 0.5f * (float)(i + 1);
    q->zero_point[i] = (int32_t)i;
  }
  t->qparams = q;
}

static void test_quantized_views(void) {
  int64_t shape[3] = {2, 3, 4};
  ptl_tensor *q = NULL, *v = NULL, *none = NULL;
  T_OK(ptl_tensor_create(PTL_QINT8, 3, shape, &q));
  if (!q)
    return;
  memset(ptl_tensor_data(q), 0, 24);
  attach_qparams(q, PTL_QSCHEME_PER_CHANNEL_AFFINE, 1, 3);

  /* permute carries the channel axis to its new position */
  ptl_attrs p = ints_attrs(3, (int64_t[]){2, 0, 1});
  T_OK(ptl_op_run(PTL_OP_PERMUTE, &p, &q, 1, &v, 1));
  T_CHECK(v && v->qparams && v->qparams->axis == 2 && v->qparams->scale[2] == 1.5f);
  ptl_tensor_release(v);
  v = NULL;
  /* select before the axis shifts it; on the axis it is refused */
  ptl_attrs s0 = ints_attrs(2, (int64_t[]){0, 1});
  T_OK(ptl_op_run(PTL_OP_SELECT, &s0, &q, 1, &v, 1));
  T_CHECK(v && v->qparams && v->qparams->axis == 0);
  ptl_tensor_release(v);
  v = NULL;
  ptl_attrs s1 = ints_attrs(2, (int64_t[]){1, 0});
  T_CHECK(ptl_op_run(PTL_OP_SELECT, &s1, &q, 1, &none, 1) == PTL_ERR_UNSUPPORTED);
  T_CHECK(none == NULL && strstr(ptl_last_error_message(), "per-channel") != NULL);
  /* reshape keeping the axis dim, and one that merges it away */
  ptl_attrs r1 = ints_attrs(4, (int64_t[]){2, 3, 2, 2});
  T_OK(ptl_op_run(PTL_OP_RESHAPE, &r1, &q, 1, &v, 1));
  T_CHECK(v && v->qparams && v->qparams->axis == 1);
  ptl_tensor_release(v);
  v = NULL;
  ptl_attrs r2 = ints_attrs(2, (int64_t[]){6, 4});
  T_CHECK(ptl_op_run(PTL_OP_RESHAPE, &r2, &q, 1, &none, 1) == PTL_ERR_UNSUPPORTED);
  /* expand with a new leading dim shifts the axis */
  ptl_attrs e = ints_attrs(4, (int64_t[]){5, 2, 3, 4});
  T_OK(ptl_op_run(PTL_OP_EXPAND, &e, &q, 1, &v, 1));
  T_CHECK(v && v->qparams && v->qparams->axis == 2);
  ptl_tensor_release(v);
  v = NULL;
  /* compute ops refuse quantized inputs instead of dropping their parameters */
  ptl_attrs c = ints_attrs(1, (int64_t[]){0});
  T_CHECK(ptl_op_run(PTL_OP_CAT, &c, &q, 1, &none, 1) == PTL_ERR_UNSUPPORTED);
  ptl_tensor_release(q);

  /* per-tensor: a reshape that must copy keeps the quantization parameters */
  ptl_tensor *pt = NULL, *tr = NULL;
  int64_t s2[2] = {2, 3};
  T_OK(ptl_tensor_create(PTL_QUINT8, 2, s2, &pt));
  if (!pt)
    return;
  for (int i = 0; i < 6; i++)
    ((uint8_t *)ptl_tensor_data(pt))[i] = (uint8_t)i;
  attach_qparams(pt, PTL_QSCHEME_PER_TENSOR_AFFINE, 0, 1);
  ptl_attrs t = ints_attrs(2, (int64_t[]){1, 0});
  T_OK(ptl_op_run(PTL_OP_PERMUTE, &t, &pt, 1, &tr, 1));
  ptl_attrs flat = ints_attrs(1, (int64_t[]){-1});
  if (tr) {
    T_OK(ptl_op_run(PTL_OP_RESHAPE, &flat, &tr, 1, &v, 1));
    T_CHECK(v && v->qparams && v->qparams->scale[0] == 0.5f);
    T_CHECK(v && ((const uint8_t *)ptl_tensor_data(v))[1] == 3);
  }
  ptl_tensor_release(v);
  ptl_tensor_release(tr);
  ptl_tensor_release(pt);
}

void test_shape(void) {
  test_quantized_views();
  test_views();
  test_cat_pad_gather();
  test_arange_random();
}
