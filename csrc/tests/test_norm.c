/* test_norm.c - C tests of kernels/norm.c through ptl_op_run. */
#include "test_util.h"

static ptl_tensor *vec(int64_t n, const float *v) {
  return t_f32(1, &n, v);
}

static ptl_tensor *run_bn(ptl_tensor **in, int n_in, float eps, ptl_backend b) {
  ptl_attrs a = {0};
  a.n_floats = 1;
  a.floats[0] = eps;
  ptl_backend prev = ptl_get_backend();
  ptl_set_backend(b);
  ptl_tensor *out = NULL;
  ptl_status s = ptl_op_run(PTL_OP_BATCH_NORM, &a, in, n_in, &out, 1);
  ptl_set_backend(prev);
  if (s != PTL_OK)
    fprintf(stderr, "batch_norm: %s\n", ptl_last_error_message());
  return out;
}

static void test_batch_norm(void) {
  /* x [2, 3, 2, 2], value = n*100 + c*10 + pixel */
  int64_t shape[4] = {2, 3, 2, 2};
  float v[24];
  for (int n = 0; n < 2; n++)
    for (int c = 0; c < 3; c++)
      for (int p = 0; p < 4; p++)
        v[n * 12 + c * 4 + p] = (float)(n * 100 + c * 10 + p);
  ptl_tensor *x = t_f32(4, shape, v);
  const float mean[3] = {1, 2, 3}, var[3] = {4, 0.25f, 1}, w[3] = {2, 1, -1}, b[3] = {0, 1, 2};
  ptl_tensor *tm = vec(3, mean), *tv = vec(3, var), *tw = vec(3, w), *tb = vec(3, b);
  ptl_tensor *in[5] = {x, tm, tv, tw, tb};
  for (int backend = 0; backend < 2; backend++) {
    ptl_tensor *y = run_bn(in, 5, 0.0f, (ptl_backend)backend);
    T_CHECK(y != NULL);
    if (!y)
      continue;
    const float *d = ptl_tensor_data(y);
    /* n=1, c=1, p=3: (113 - 2) / 0.5 * 1 + 1 = 223 */
    T_CHECK(fabsf(d[12 + 4 + 3] - 223.0f) < 1e-4f);
    /* n=0, c=0, p=0: (0 - 1) / 2 * 2 + 0 = -1 */
    T_CHECK(fabsf(d[0] + 1.0f) < 1e-6f);
    /* n=0, c=2, p=1: (21 - 3) / 1 * -1 + 2 = -16 */
    T_CHECK(fabsf(d[8 + 1] + 16.0f) < 1e-5f);
    ptl_tensor_release(y);
  }
  /* channels-last input keeps its layout; same values as the NCHW result */
  ptl_attrs cl = {0};
  cl.n_ints = 2;
  cl.ints[0] = -1;
  cl.ints[1] = 2;
  ptl_tensor *xc = NULL;
  T_OK(ptl_op_run(PTL_OP_COPY, &cl, &x, 1, &xc, 1));
  if (xc) {
    ptl_tensor *inc[5] = {xc, tm, tv, NULL, NULL};
    ptl_tensor *in0[3] = {x, tm, tv};
    for (int backend = 0; backend < 2; backend++) {
      ptl_tensor *y = run_bn(inc, 5, 1e-5f, (ptl_backend)backend);
      ptl_tensor *r = run_bn(in0, 3, 1e-5f, PTL_BACKEND_REFERENCE);
      T_CHECK(y && r);
      if (y && r) {
        const int64_t *st = ptl_tensor_strides(y);
        T_CHECK(st[1] == 1 && st[3] == 3);
        const float *dy = ptl_tensor_data(y), *dr = ptl_tensor_data(r);
        for (int n = 0; n < 2; n++)
          for (int c = 0; c < 3; c++)
            for (int p = 0; p < 4; p++)
              T_CHECK(dy[n * st[0] + c + p * 3] == dr[n * 12 + c * 4 + p]);
      }
      ptl_tensor_release(y);
      ptl_tensor_release(r);
    }
    ptl_tensor_release(xc);
  }
  /* wrong running_mean size: error names both shapes, no output */
  ptl_tensor *bad = vec(4, NULL);
  ptl_tensor *inb[3] = {x, bad, tv};
  ptl_tensor *out = NULL;
  T_CHECK(ptl_op_run(PTL_OP_BATCH_NORM, NULL, inb, 3, &out, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "running_mean should contain 3 elements not 4") &&
          strstr(ptl_last_error_message(), "[4]") &&
          strstr(ptl_last_error_message(), "[2, 3, 2, 2]"));
  T_CHECK(out == NULL);
  ptl_tensor_release(bad);
  ptl_tensor_release(x);
  ptl_tensor_release(tm);
  ptl_tensor_release(tv);
  ptl_tensor_release(tw);
  ptl_tensor_release(tb);
}

static void test_layer_norm(void) {
  int64_t shape[2] = {2, 4};
  const float v[8] = {1, 2, 3, 4, -5, -5, -5, -5};
  ptl_tensor *x = t_f32(2, shape, v);
  const float g[4] = {1, 2, 1, 1}, bb[4] = {0, 0, 0, 1};
  ptl_tensor *tg = vec(4, g), *tb = vec(4, bb);
  ptl_tensor *in[3] = {x, tg, tb};
  ptl_attrs a = {0};
  a.n_ints = 1;
  a.ints[0] = 1;
  a.n_floats = 1;
  a.floats[0] = 0.0;
  ptl_tensor *y = NULL;
  T_OK(ptl_op_run(PTL_OP_LAYER_NORM, &a, in, 3, &y, 1));
  if (y) {
    const float *d = ptl_tensor_data(y);
    /* row 0: mean 2.5, biased var 1.25 */
    float r = 1.0f / sqrtf(1.25f);
    T_CHECK(fabsf(d[0] - (-1.5f * r)) < 1e-6f);
    T_CHECK(fabsf(d[1] - (-0.5f * r * 2)) < 1e-6f);
    T_CHECK(fabsf(d[3] - (1.5f * r + 1)) < 1e-6f);
    /* row 1: constant row with eps 0 -> rstd inf, torch gives nan */
    T_CHECK(isnan(d[4]));
  }
  ptl_tensor_release(y);
  /* weight of the wrong shape */
  ptl_tensor *bad = vec(3, NULL);
  ptl_tensor *inb[2] = {x, bad};
  y = NULL;
  T_CHECK(ptl_op_run(PTL_OP_LAYER_NORM, &a, inb, 2, &y, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "weight of shape [3]") != NULL);
  T_CHECK(y == NULL);
  ptl_tensor_release(bad);
  ptl_tensor_release(tg);
  ptl_tensor_release(tb);
  ptl_tensor_release(x);
}

void test_norm(void) {
  test_batch_norm();
  test_layer_norm();
}
