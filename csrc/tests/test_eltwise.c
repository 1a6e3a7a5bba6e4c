/* test_eltwise.c - C tests of kernels/eltwise.c through ptl_op_run. */
#include "test_util.h"

static ptl_tensor *t_typed(ptl_dtype dt, int ndim, const int64_t *shape, const double *v) {
  ptl_tensor *t = NULL;
  if (ptl_tensor_create(dt, ndim, shape, &t) != PTL_OK)
    return NULL;
  int64_t n = ptl_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) {
    switch (dt) {
    case PTL_INT64: ((int64_t *)ptl_tensor_data(t))[i] = (int64_t)v[i]; break;
    case PTL_INT32: ((int32_t *)ptl_tensor_data(t))[i] = (int32_t)v[i]; break;
    default: ((float *)ptl_tensor_data(t))[i] = (float)v[i]; break;
    }
  }
  return t;
}

static void test_broadcast_add(ptl_backend backend) {
  ptl_set_backend(backend);
  int64_t sa[2] = {2, 3}, sb[1] = {3};
  float va[6] = {1, 2, 3, 4, 5, 6}, vb[3] = {10, 20, 30};
  ptl_tensor *a = t_f32(2, sa, va), *b = t_f32(1, sb, vb), *out = NULL;
  ptl_tensor *in[2] = {a, b};
  ptl_attrs attrs = {0};
  attrs.n_floats = 1;
  attrs.floats[0] = 2.0; /* alpha */
  T_OK(ptl_op_run(PTL_OP_ADD, &attrs, in, 2, &out, 1));
  if (out) {
    T_CHECK(ptl_tensor_ndim(out) == 2 && ptl_tensor_shape(out)[0] == 2 &&
            ptl_tensor_shape(out)[1] == 3);
    const float *y = ptl_tensor_data(out);
    T_CHECK(y[0] == 21 && y[2] == 63 && y[3] == 24 && y[5] == 66);
  }
  ptl_tensor_release(out);
  out = NULL;

  /* comparisons give bool */
  T_OK(ptl_op_run(PTL_OP_GT, NULL, in, 2, &out, 1));
  if (out) {
    T_CHECK(ptl_tensor_dtype(out) == PTL_BOOL);
    T_CHECK(((const uint8_t *)ptl_tensor_data(out))[0] == 0);
  }
  ptl_tensor_release(out);
  out = NULL;

  /* in place: out = a, data pointer kept */
  void *pa = ptl_tensor_data(a);
  ptl_tensor *o = a;
  T_OK(ptl_op_run(PTL_OP_MUL, NULL, in, 2, &o, 1));
  T_CHECK(o == a && ptl_tensor_data(a) == pa && ((float *)pa)[4] == 100);

  /* mismatched shapes: an error naming the op and both shapes, no output */
  int64_t sc[1] = {4};
  ptl_tensor *c = t_f32(1, sc, NULL);
  ptl_tensor *bad[2] = {a, c};
  T_CHECK(ptl_op_run(PTL_OP_SUB, NULL, bad, 2, &out, 1) == PTL_ERR_SHAPE);
  T_CHECK(out == NULL);
  const char *msg = ptl_last_error_message();
  T_CHECK(strstr(msg, "sub") && strstr(msg, "[2, 3]") && strstr(msg, "[4]"));
  ptl_tensor_release(a);
  ptl_tensor_release(b);
  ptl_tensor_release(c);
  ptl_set_backend(PTL_BACKEND_AUTO);
}

static void test_int_ops(void) {
  int64_t s[1] = {4};
  double va[4] = {7, -7, 7, -7}, vb[4] = {2, 2, -2, 0};
  ptl_tensor *a = t_typed(PTL_INT64, 1, s, va), *b = t_typed(PTL_INT64, 1, s, vb), *out = NULL;
  ptl_tensor *in[2] = {a, b};
  ptl_attrs floor_mode = {0};
  floor_mode.n_ints = 1;
  floor_mode.ints[0] = 2;
  /* integer division by zero is an error, not a crash */
  T_CHECK(ptl_op_run(PTL_OP_DIV, &floor_mode, in, 2, &out, 1) == PTL_ERR_VALUE);
  T_CHECK(strstr(ptl_last_error_message(), "ZeroDivisionError") != NULL);
  T_CHECK(out == NULL);
  ((int64_t *)ptl_tensor_data(b))[3] = 2;
  T_OK(ptl_op_run(PTL_OP_DIV, &floor_mode, in, 2, &out, 1));
  if (out) {
    const int64_t *y = ptl_tensor_data(out);
    T_CHECK(ptl_tensor_dtype(out) == PTL_INT64);
    T_CHECK(y[0] == 3 && y[1] == -4 && y[2] == -4 && y[3] == -4);
  }
  ptl_tensor_release(out);
  out = NULL;
  T_OK(ptl_op_run(PTL_OP_REMAINDER, NULL, in, 2, &out, 1));
  if (out) {
    const int64_t *y = ptl_tensor_data(out);
    T_CHECK(y[0] == 1 && y[1] == 1 && y[2] == -1 && y[3] == 1);
  }
  ptl_tensor_release(out);
  out = NULL;
  /* true division of integers is float32 */
  T_OK(ptl_op_run(PTL_OP_DIV, NULL, in, 2, &out, 1));
  if (out) {
    T_CHECK(ptl_tensor_dtype(out) == PTL_FLOAT32);
    T_CHECK(((const float *)ptl_tensor_data(out))[1] == -3.5f);
  }
  ptl_tensor_release(out);
  out = NULL;

  /* int32 tensor + int64 0-d tensor stays int32; + float 0-d gives float32 */
  double one = 5;
  ptl_tensor *i32 = t_typed(PTL_INT32, 1, s, va), *z = t_typed(PTL_INT64, 0, s, &one);
  ptl_tensor *in2[2] = {i32, z};
  T_OK(ptl_op_run(PTL_OP_ADD, NULL, in2, 2, &out, 1));
  T_CHECK(out && ptl_tensor_dtype(out) == PTL_INT32 && ((int32_t *)ptl_tensor_data(out))[1] == -2);
  ptl_tensor_release(out);
  out = NULL;
  ptl_tensor_release(z);
  z = t_typed(PTL_FLOAT32, 0, s, &one);
  in2[1] = z;
  T_OK(ptl_op_run(PTL_OP_ADD, NULL, in2, 2, &out, 1));
  T_CHECK(out && ptl_tensor_dtype(out) == PTL_FLOAT32);
  ptl_tensor_release(out);
  ptl_tensor_release(z);
  ptl_tensor_release(i32);
  ptl_tensor_release(a);
  ptl_tensor_release(b);
}

static void test_unary_and_where(void) {
  int64_t s[1] = {6};
  float v[6] = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, NAN};
  ptl_tensor *x = t_f32(1, s, v), *out = NULL;
  T_OK(ptl_op_run(PTL_OP_ROUND, NULL, &x, 1, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    T_CHECK(y[0] == 0 && y[1] == 2 && y[2] == 2 && y[3] == 0 && y[4] == -2 && isnan(y[5]));
  }
  ptl_tensor_release(out);
  out = NULL;
  ptl_attrs clamp = {0};
  clamp.n_ints = 2;
  clamp.ints[0] = 1;
  clamp.ints[1] = 1;
  clamp.n_floats = 2;
  clamp.floats[0] = -1;
  clamp.floats[1] = 1;
  T_OK(ptl_op_run(PTL_OP_CLAMP, &clamp, &x, 1, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    T_CHECK(y[0] == 0.5f && y[1] == 1 && y[4] == -1 && isnan(y[5]));
  }
  ptl_tensor_release(out);
  out = NULL;

  ptl_tensor *cond = NULL;
  ptl_tensor *cin[2] = {x, NULL};
  float zero = 0;
  /* 0-d tensors get a non-NULL (unused) shape: tensor.c memcpy's it even for ndim 0 */
  ptl_tensor *z = t_f32(0, s, &zero);
  cin[1] = z;
  T_OK(ptl_op_run(PTL_OP_GT, NULL, cin, 2, &cond, 1));
  ptl_tensor *win[3] = {cond, x, z};
  T_OK(ptl_op_run(PTL_OP_WHERE, NULL, win, 3, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    T_CHECK(y[0] == 0.5f && y[3] == 0 && y[5] == 0);
  }
  ptl_tensor_release(out);
  out = NULL;
  /* where needs a bool condition */
  ptl_tensor *bad[3] = {x, x, z};
  T_CHECK(ptl_op_run(PTL_OP_WHERE, NULL, bad, 3, &out, 1) == PTL_ERR_DTYPE);
  T_CHECK(strstr(ptl_last_error_message(), "where") != NULL);
  ptl_tensor_release(cond);
  ptl_tensor_release(z);
  ptl_tensor_release(x);
}

/* large enough for the threaded loops and XNNPACK: fast and reference agree bit for bit */
static void test_fast_matches_reference(void) {
  int64_t s[2] = {300, 257}, sb[2] = {300, 1};
  ptl_tensor *x = t_f32(2, s, NULL), *b = t_f32(2, sb, NULL);
  float *px = ptl_tensor_data(x);
  for (int64_t i = 0; i < 300 * 257; i++)
    px[i] = (float)((i * 7919) % 1000) / 37.0f - 13.5f;
  for (int i = 0; i < 300; i++)
    ((float *)ptl_tensor_data(b))[i] = (float)i / 7.0f - 20.0f;
  ptl_op_id ops[3] = {PTL_OP_FLOOR, PTL_OP_ROUND, PTL_OP_SQRT};
  for (int k = 0; k < 4; k++) {
    ptl_tensor *r[2] = {NULL, NULL};
    ptl_tensor *in[2] = {x, b};
    for (int be = 0; be < 2; be++) {
      ptl_set_backend(be ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
      if (k < 3)
        T_OK(ptl_op_run(ops[k], NULL, in, 1, &r[be], 1));
      else
        T_OK(ptl_op_run(PTL_OP_DIV, NULL, in, 2, &r[be], 1));
    }
    ptl_set_backend(PTL_BACKEND_AUTO);
    if (r[0] && r[1])
      T_CHECK(memcmp(ptl_tensor_data(r[0]), ptl_tensor_data(r[1]), sizeof(float) * 300 * 257) == 0);
    ptl_tensor_release(r[0]);
    ptl_tensor_release(r[1]);
  }
  ptl_tensor_release(x);
  ptl_tensor_release(b);
}

void test_eltwise(void) {
  test_fast_matches_reference();
  test_broadcast_add(PTL_BACKEND_AUTO);
  test_broadcast_add(PTL_BACKEND_REFERENCE);
  test_int_ops();
  test_unary_and_where();
}
