/* test_linear.c - C tests of kernels/linear.c through ptl_op_run. */
#include <stdlib.h>

#include "test_util.h"

static ptl_tensor *run2(ptl_op_id op, ptl_tensor *a, ptl_tensor *b, ptl_tensor *c) {
  ptl_tensor *in[3] = {a, b, c}, *out = NULL;
  if (ptl_op_run(op, NULL, in, c ? 3 : 2, &out, 1) != PTL_OK)
    return NULL;
  return out;
}

static void fill(ptl_tensor *t, unsigned seed) {
  float *d = ptl_tensor_data(t);
  for (int64_t i = 0; i < ptl_tensor_numel(t); i++) {
    seed = seed * 1103515245u + 12345u;
    d[i] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
  }
}

/* max |fast - reference| for MATMUL or LINEAR on the given inputs */
static double fast_vs_ref(ptl_op_id op, ptl_tensor *a, ptl_tensor *b, ptl_tensor *c) {
  ptl_set_backend(PTL_BACKEND_REFERENCE);
  ptl_tensor *r = run2(op, a, b, c);
  ptl_set_backend(PTL_BACKEND_AUTO);
  ptl_tensor *q = run2(op, a, b, c);
  double err = r && q ? 0.0 : 1e30;
  for (int64_t i = 0; r && q && i < ptl_tensor_numel(r); i++) {
    double e = fabs(((float *)ptl_tensor_data(r))[i] - ((float *)ptl_tensor_data(q))[i]);
    err = e > err ? e : err;
  }
  ptl_tensor_release(r);
  ptl_tensor_release(q);
  return err;
}

static void test_matmul(void) {
  float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {1, 0, 0, 1, 1, 1};
  int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3};
  ptl_tensor *a = t_f32(2, s23, av), *b = t_f32(2, s32, bv), *v = t_f32(1, s3, av);
  ptl_tensor *c = run2(PTL_OP_MATMUL, a, b, NULL);
  /* [[1,2,3],[4,5,6]] @ [[1,0],[0,1],[1,1]] = [[4,5],[10,11]] */
  T_CHECK(c && ((float *)ptl_tensor_data(c))[0] == 4.0f &&
          ((float *)ptl_tensor_data(c))[3] == 11.0f);
  ptl_tensor *mv = run2(PTL_OP_MATMUL, a, v, NULL);
  T_CHECK(mv && ptl_tensor_ndim(mv) == 1 && ((float *)ptl_tensor_data(mv))[1] == 32.0f);
  ptl_tensor *dot = run2(PTL_OP_MATMUL, v, v, NULL);
  T_CHECK(dot && ptl_tensor_ndim(dot) == 0 && ((float *)ptl_tensor_data(dot))[0] == 14.0f);
  T_CHECK(run2(PTL_OP_MATMUL, a, a, NULL) == NULL);
  T_CHECK(strstr(ptl_last_error_message(), "2x3 and 2x3") != NULL);
  ptl_tensor_release(c);
  ptl_tensor_release(mv);
  ptl_tensor_release(dot);

  /* batched with broadcasting, fast against reference */
  int64_t sa[3] = {3, 37, 50}, sb[2] = {50, 29};
  ptl_tensor *ba = t_f32(3, sa, NULL), *bb = t_f32(2, sb, NULL);
  fill(ba, 1);
  fill(bb, 2);
  T_CHECK(fast_vs_ref(PTL_OP_MATMUL, ba, bb, NULL) < 1e-4);
  int64_t la[2] = {70, 300}, lb[2] = {300, 90};
  ptl_tensor *xa = t_f32(2, la, NULL), *xb = t_f32(2, lb, NULL);
  fill(xa, 3);
  fill(xb, 4);
  T_CHECK(fast_vs_ref(PTL_OP_MATMUL, xa, xb, NULL) < 1e-4);
  ptl_tensor_release(ba);
  ptl_tensor_release(bb);
  ptl_tensor_release(xa);
  ptl_tensor_release(xb);
  ptl_tensor_release(a);
  ptl_tensor_release(b);
  ptl_tensor_release(v);
}

static void test_linear_cache(void) {
  int64_t sx[2] = {5, 40}, sw[2] = {30, 40}, sb[1] = {30};
  ptl_tensor *x = t_f32(2, sx, NULL), *w = t_f32(2, sw, NULL), *b = t_f32(1, sb, NULL);
  fill(x, 5);
  fill(w, 6);
  fill(b, 7);
  T_CHECK(fast_vs_ref(PTL_OP_LINEAR, x, w, b) < 1e-4);
  T_CHECK(fast_vs_ref(PTL_OP_LINEAR, x, w, NULL) < 1e-4);
  ptl_tensor *y1 = run2(PTL_OP_LINEAR, x, w, b);
  /* change the weight through an op (bumps its version): output must follow */
  ptl_attrs fa = {0};
  fa.n_ints = 4;
  fa.ints[0] = PTL_FLOAT32;
  fa.ints[1] = 2;
  fa.ints[2] = 30;
  fa.ints[3] = 40;
  fa.n_floats = 1;
  fa.floats[0] = 0.5;
  ptl_tensor *wout = w;
  T_OK(ptl_op_run(PTL_OP_FILL, &fa, NULL, 0, &wout, 1));
  ptl_tensor *y2 = run2(PTL_OP_LINEAR, x, w, b);
  T_CHECK(y1 && y2);
  if (y1 && y2) {
    double sumx = 0;
    for (int k = 0; k < 40; k++)
      sumx += ((float *)ptl_tensor_data(x))[k];
    float expect = (float)(0.5 * sumx) + ((float *)ptl_tensor_data(b))[0];
    T_CHECK(fabsf(((float *)ptl_tensor_data(y2))[0] - expect) < 1e-4f);
    T_CHECK(((float *)ptl_tensor_data(y1))[0] != ((float *)ptl_tensor_data(y2))[0]);
  }
  /* fused clamp */
  ptl_attrs ca = {0};
  ca.n_ints = 1;
  ca.ints[0] = 1;
  ca.n_floats = 2;
  ca.floats[0] = 0.0;
  ca.floats[1] = 0.25;
  ptl_tensor *in[3] = {x, w, b}, *yc = NULL;
  T_OK(ptl_op_run(PTL_OP_LINEAR, &ca, in, 3, &yc, 1));
  for (int64_t i = 0; yc && i < ptl_tensor_numel(yc); i++) {
    float vy = ((float *)ptl_tensor_data(yc))[i], v2 = ((float *)ptl_tensor_data(y2))[i];
    float e = v2 < 0 ? 0 : v2 > 0.25f ? 0.25f : v2;
    T_CHECK(fabsf(vy - e) < 1e-5f);
  }
  /* shape and dtype errors */
  int64_t bad[2] = {30, 41};
  ptl_tensor *wb = t_f32(2, bad, NULL);
  T_CHECK(run2(PTL_OP_LINEAR, x, wb, NULL) == NULL);
  T_CHECK(strstr(ptl_last_error_message(), "5x40 and 41x30") != NULL);
  ptl_tensor *xi = NULL;
  T_OK(ptl_tensor_create(PTL_INT64, 2, sx, &xi));
  T_CHECK(run2(PTL_OP_LINEAR, xi, w, NULL) == NULL);
  T_CHECK(strstr(ptl_last_error_message(), "same dtype") != NULL);
  ptl_tensor_release(xi);
  ptl_tensor_release(wb);
  ptl_tensor_release(yc);
  ptl_tensor_release(y1);
  ptl_tensor_release(y2);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
  ptl_tensor_release(b);
}

void test_linear(void) {
  test_matmul();
  test_linear_cache();
}
