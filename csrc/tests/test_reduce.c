/* test_reduce.c - C tests of kernels/reduce.c through ptl_op_run. */
#include <stdlib.h>

#include "test_util.h"

/* Runs a reduction over dims (n 0: all); returns the output or NULL. */
static ptl_tensor *reduce(ptl_op_id op, ptl_tensor *x, int keepdim, int n, const int64_t *dims) {
  ptl_attrs a = {0};
  a.n_ints = 2 + n;
  a.ints[0] = keepdim;
  a.ints[1] = n;
  for (int i = 0; i < n; i++)
    a.ints[2 + i] = dims[i];
  ptl_tensor *out = NULL;
  if (ptl_op_run(op, &a, &x, 1, &out, 1) != PTL_OK)
    return NULL;
  return out;
}

/* ptl_tensor_create_borrowed frees the data when release is NULL (see report): pass a no-op */
static void no_release(void *ctx) {
  (void)ctx;
}

static float f(ptl_tensor *t, int64_t i) {
  return ((float *)ptl_tensor_data(t))[i];
}

static void test_sum_mean_dims(void) {
  /* x[i][j][k] = 100 i + 10 j + k, shape [2, 3, 4] */
  int64_t shape[3] = {2, 3, 4};
  float v[24];
  for (int i = 0; i < 24; i++)
    v[i] = (float)(100 * (i / 12) + 10 * ((i / 4) % 3) + i % 4);
  ptl_tensor *x = t_f32(3, shape, v);
  int64_t d1[1] = {1}, d02[2] = {0, -1};
  ptl_tensor *s = reduce(PTL_OP_SUM, x, 0, 1, d1);
  T_CHECK(s && ptl_tensor_ndim(s) == 2 && ptl_tensor_shape(s)[0] == 2 &&
          ptl_tensor_shape(s)[1] == 4);
  /* sum over j of (100 i + 10 j + k) = 300 i + 30 + 3 k */
  T_CHECK(s && f(s, 0) == 30.0f && f(s, 5) == 333.0f);
  ptl_tensor *m = reduce(PTL_OP_MEAN, x, 1, 2, d02);
  T_CHECK(m && ptl_tensor_ndim(m) == 3 && ptl_tensor_shape(m)[1] == 3);
  /* mean over i, k of (100 i + 10 j + k) = 50 + 10 j + 1.5 */
  T_CHECK(m && fabsf(f(m, 2) - 71.5f) < 1e-5f);
  ptl_tensor *all = reduce(PTL_OP_SUM, x, 0, 0, NULL);
  T_CHECK(all && ptl_tensor_ndim(all) == 0 && f(all, 0) == 1200.0f + 240.0f + 36.0f);
  ptl_tensor *mx = reduce(PTL_OP_AMAX, x, 0, 1, d1);
  T_CHECK(mx && f(mx, 7) == 123.0f);
  ptl_tensor *var = reduce(PTL_OP_VAR, x, 0, 1, d1);
  /* values 10 j + c over j = 0..2: variance (correction 1) = 100 */
  T_CHECK(var && fabsf(f(var, 3) - 100.0f) < 1e-4f);
  ptl_tensor_release(s);
  ptl_tensor_release(m);
  ptl_tensor_release(all);
  ptl_tensor_release(mx);
  ptl_tensor_release(var);

  /* errors: duplicate dim, dim out of range, amax over an empty dim */
  int64_t dup[2] = {1, -2}, far[1] = {3};
  T_CHECK(reduce(PTL_OP_SUM, x, 0, 2, dup) == NULL);
  T_CHECK(strstr(ptl_last_error_message(), "appears multiple times") != NULL);
  T_CHECK(reduce(PTL_OP_SUM, x, 0, 1, far) == NULL);
  T_CHECK(strstr(ptl_last_error_message(), "out of range") != NULL);
  ptl_tensor_release(x);
  int64_t eshape[2] = {0, 3};
  ptl_tensor *e = t_f32(2, eshape, NULL);
  int64_t d0[1] = {0};
  T_CHECK(reduce(PTL_OP_AMAX, e, 0, 1, d0) == NULL);
  T_CHECK(strstr(ptl_last_error_message(), "non-zero size") != NULL);
  ptl_tensor *es = reduce(PTL_OP_SUM, e, 0, 1, d0);
  T_CHECK(es && ptl_tensor_numel(es) == 3 && f(es, 2) == 0.0f);
  ptl_tensor *em = reduce(PTL_OP_MEAN, e, 0, 1, d0);
  T_CHECK(em && isnan(f(em, 0)));
  ptl_tensor_release(es);
  ptl_tensor_release(em);
  ptl_tensor_release(e);
}

static void test_strided_and_large(void) {
  /* a channels-last [1, 3, 2, 2] view over NHWC memory: mean over H, W per channel */
  float nhwc[12] = {1, 10, 100, 2, 20, 200, 3, 30, 300, 4, 40, 400};
  int64_t shape[4] = {1, 3, 2, 2}, strides[4] = {12, 1, 6, 3};
  ptl_tensor *x = NULL;
  T_OK(ptl_tensor_create_borrowed(PTL_FLOAT32, 4, shape, strides, nhwc, no_release, NULL, &x));
  int64_t hw[2] = {2, 3};
  ptl_tensor *m = reduce(PTL_OP_MEAN, x, 1, 2, hw);
  T_CHECK(m && f(m, 0) == 2.5f && f(m, 1) == 25.0f && f(m, 2) == 250.0f);
  ptl_tensor_release(m);
  ptl_tensor_release(x);

  /* 1e6 floats of 0.1: float64-accurate result */
  int64_t n[1] = {1000000};
  ptl_tensor *big = t_f32(1, n, NULL);
  float *d = ptl_tensor_data(big);
  for (int64_t i = 0; i < n[0]; i++)
    d[i] = 0.1f;
  ptl_tensor *s = reduce(PTL_OP_SUM, big, 0, 0, NULL);
  T_CHECK(s && fabs(f(s, 0) - 1e6 * (double)0.1f) < 1e-2);
  ptl_tensor_release(s);
  ptl_tensor_release(big);
}

static void test_int_and_arg(void) {
  int64_t shape[2] = {2, 3};
  ptl_tensor *x = NULL;
  T_OK(ptl_tensor_create(PTL_INT32, 2, shape, &x));
  int32_t *xi = ptl_tensor_data(x);
  int32_t vals[6] = {5, -1, 5, 7, 7, 2};
  memcpy(xi, vals, sizeof vals);
  ptl_tensor *s = reduce(PTL_OP_SUM, x, 0, 0, NULL);
  T_CHECK(s && ptl_tensor_dtype(s) == PTL_INT64 && *(int64_t *)ptl_tensor_data(s) == 25);
  ptl_tensor *mn = reduce(PTL_OP_MEAN, x, 0, 0, NULL);
  T_CHECK(mn == NULL && strstr(ptl_last_error_message(), "int32") != NULL);
  ptl_attrs a = {0};
  a.n_ints = 3;
  a.ints[0] = 0;
  a.ints[1] = 1;
  a.ints[2] = 1;
  ptl_tensor *am = NULL;
  T_OK(ptl_op_run(PTL_OP_ARGMAX, &a, &x, 1, &am, 1));
  /* ties: the first occurrence */
  T_CHECK(am && ((int64_t *)ptl_tensor_data(am))[0] == 0 &&
          ((int64_t *)ptl_tensor_data(am))[1] == 0);
  ptl_tensor *an = NULL;
  a.ints[1] = 0;
  T_OK(ptl_op_run(PTL_OP_ARGMIN, &a, &x, 1, &an, 1));
  T_CHECK(an && ptl_tensor_ndim(an) == 0 && *(int64_t *)ptl_tensor_data(an) == 1);
  ptl_tensor_release(s);
  ptl_tensor_release(am);
  ptl_tensor_release(an);
  ptl_tensor_release(x);

  float fv[5] = {1, NAN, 3, NAN, 9};
  int64_t n5[1] = {5};
  ptl_tensor *fx = t_f32(1, n5, fv), *fa = NULL;
  T_OK(ptl_op_run(PTL_OP_ARGMAX, &a, &fx, 1, &fa, 1));
  T_CHECK(fa && *(int64_t *)ptl_tensor_data(fa) == 1); /* NaN is the maximum */
  ptl_tensor *fm = reduce(PTL_OP_AMIN, fx, 0, 0, NULL);
  T_CHECK(fm && isnan(f(fm, 0)));
  ptl_tensor_release(fa);
  ptl_tensor_release(fm);
  ptl_tensor_release(fx);
}

void test_reduce(void) {
  test_sum_mean_dims();
  test_strided_and_large();
  test_int_and_arg();
}
