/* test_qeltwise.c - C tests of kernels/qeltwise.c and the quint8 paths of the
 * float families, through ptl_op_run. Expected integers were computed with
 * torch 2.13 (qnnpack engine). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* ptl_qparams */
#include "test_util.h"

/* quint8 tensor holding `codes` with (scale, zp). */
static ptl_tensor *t_qu8(int ndim, const int64_t *shape, const uint8_t *codes, float scale,
                         int32_t zp) {
  ptl_tensor *t = NULL;
  if (ptl_tensor_create(PTL_QUINT8, ndim, shape, &t) != PTL_OK)
    return NULL;
  memcpy(ptl_tensor_data(t), codes, (size_t)ptl_tensor_numel(t));
  if (ptl_qparams_set_per_tensor(t, scale, zp) != PTL_OK) {
    ptl_tensor_release(t);
    return NULL;
  }
  return t;
}

static int same_codes(const ptl_tensor *t, const uint8_t *want, int64_t n) {
  if (!t || ptl_tensor_dtype(t) != PTL_QUINT8 || ptl_tensor_numel(t) != n)
    return 0;
  return memcmp(ptl_tensor_data(t), want, (size_t)n) == 0;
}

static int has_qparams(const ptl_tensor *t, float scale, int32_t zp) {
  return t && t->qparams && t->qparams->count == 1 && t->qparams->scale[0] == scale &&
         t->qparams->zero_point[0] == zp;
}

static ptl_attrs bin_attrs(int relu, int64_t zp, double scale) {
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = relu;
  a.ints[1] = zp;
  a.n_floats = 1;
  a.floats[0] = scale;
  return a;
}

static void test_qadd_qmul(void) {
  static const uint8_t ca[4] = {10, 20, 7, 255}, cb[4] = {4, 6, 2, 0};
  int64_t s4[1] = {4}, s1[1] = {1};
  ptl_tensor *a = t_qu8(1, s4, ca, 0.5f, 0), *b = t_qu8(1, s4, cb, 0.25f, 2);
  ptl_tensor *b1 = t_qu8(1, s1, cb, 0.25f, 2);
  ptl_attrs at = bin_attrs(0, 3, 1.0);
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend((ptl_backend)backend);
    ptl_tensor *in[2] = {a, b}, *y = NULL;
    /* same shapes: QNNPACK's fixed point rounds 5.5 half away from zero -> 6 + 3 */
    static const uint8_t want_add[4] = {9, 14, 7, 130};
    T_OK(ptl_op_run(PTL_OP_QADD, &at, in, 2, &y, 1));
    T_CHECK(same_codes(y, want_add, 4));
    T_CHECK(has_qparams(y, 1.0f, 3));
    ptl_tensor_release(y);
    /* broadcasting: torch's float kernel rounds 5.5 + 3 half to even -> 8 */
    static const uint8_t want_bc[4] = {8, 14, 7, 131};
    ptl_tensor *inb[2] = {a, b1};
    y = NULL;
    T_OK(ptl_op_run(PTL_OP_QADD, &at, inb, 2, &y, 1));
    T_CHECK(same_codes(y, want_bc, 4));
    ptl_tensor_release(y);
    /* mul: 10 * 2 * (0.5 * 0.25 / 1) = 2.5 -> 2 (half even) + 3 */
    static const uint8_t want_mul[4] = {5, 13, 3, 0};
    y = NULL;
    T_OK(ptl_op_run(PTL_OP_QMUL, &at, in, 2, &y, 1));
    T_CHECK(same_codes(y, want_mul, 4));
    /* the output reused with other qparams carries the new ones */
    ptl_attrs at2 = bin_attrs(1, 7, 0.5);
    T_OK(ptl_op_run(PTL_OP_QMUL, &at2, in, 2, &y, 1));
    T_CHECK(has_qparams(y, 0.5f, 7));
    ptl_tensor_release(y);
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  ptl_tensor_release(a);
  ptl_tensor_release(b);
  ptl_tensor_release(b1);
}

static void test_qcat_and_tables(void) {
  static const uint8_t ca[4] = {10, 20, 7, 255}, cb[4] = {4, 6, 2, 0};
  int64_t s4[1] = {4};
  ptl_tensor *a = t_qu8(1, s4, ca, 0.5f, 0), *b = t_qu8(1, s4, cb, 0.25f, 2);
  ptl_attrs at = {0};
  at.n_ints = 2;
  at.ints[0] = 0;
  at.ints[1] = 10;
  at.n_floats = 1;
  at.floats[0] = 0.5;
  ptl_tensor *in[2] = {a, b}, *y = NULL;
  static const uint8_t want_cat[8] = {20, 30, 17, 255, 11, 12, 10, 9};
  T_OK(ptl_op_run(PTL_OP_QCAT, &at, in, 2, &y, 1));
  T_CHECK(same_codes(y, want_cat, 8));
  T_CHECK(has_qparams(y, 0.5f, 10));
  ptl_tensor_release(y);

  static const uint8_t cx[5] = {0, 64, 128, 192, 255};
  int64_t s5[1] = {5};
  ptl_tensor *x = t_qu8(1, s5, cx, 0.05f, 128);
  ptl_attrs u = {0};
  u.n_ints = 1;
  u.n_floats = 2;
  struct {
    ptl_op_id op;
    double scale, slope;
    int64_t zp;
    uint8_t want[5];
  } cases[] = {
      {PTL_OP_QSIGMOID, 1.0 / 256, 0, 0, {0, 10, 128, 246, 255}},
      {PTL_OP_QHARDSWISH, 0.02, 0, 50, {50, 50, 50, 210, 255}},
      {PTL_OP_QLEAKY_RELU, 0.05, 0.1, 100, {87, 94, 100, 164, 227}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    u.ints[0] = cases[c].zp;
    u.floats[0] = cases[c].scale;
    u.floats[1] = cases[c].slope;
    y = NULL;
    T_OK(ptl_op_run(cases[c].op, &u, &x, 1, &y, 1));
    T_CHECK(same_codes(y, cases[c].want, 5));
    T_CHECK(has_qparams(y, (float)cases[c].scale, (int32_t)cases[c].zp));
    ptl_tensor_release(y);
  }
  /* float relu on quint8: max(q, zp), the input's qparams */
  static const uint8_t want_relu[5] = {128, 128, 128, 192, 255};
  y = NULL;
  T_OK(ptl_op_run(PTL_OP_RELU, NULL, &x, 1, &y, 1));
  T_CHECK(same_codes(y, want_relu, 5));
  T_CHECK(has_qparams(y, 0.05f, 128));
  ptl_tensor_release(y);
  ptl_tensor_release(x);
  ptl_tensor_release(a);
  ptl_tensor_release(b);
}

static void test_qpool_and_bn(void) {
  uint8_t codes[16];
  for (int i = 0; i < 16; i++)
    codes[i] = (uint8_t)(10 * i);
  int64_t shape[4] = {1, 1, 4, 4};
  ptl_tensor *x = t_qu8(4, shape, codes, 0.1f, 3);
  ptl_attrs pa = {0};
  pa.n_ints = 2;
  pa.ints[0] = pa.ints[1] = 2;
  ptl_tensor *y = NULL;
  static const uint8_t want_avg[4] = {25, 45, 105, 125}, want_max[4] = {50, 70, 130, 150};
  T_OK(ptl_op_run(PTL_OP_AVG_POOL2D, &pa, &x, 1, &y, 1));
  T_CHECK(same_codes(y, want_avg, 4));
  T_CHECK(has_qparams(y, 0.1f, 3));
  ptl_tensor_release(y);
  y = NULL;
  T_OK(ptl_op_run(PTL_OP_MAX_POOL2D, &pa, &x, 1, &y, 1));
  T_CHECK(same_codes(y, want_max, 4));
  ptl_tensor_release(y);
  ptl_tensor_release(x);

  static const uint8_t cb[8] = {100, 150, 200, 250, 10, 20, 30, 40};
  int64_t sb[4] = {1, 2, 2, 2}, s2[1] = {2};
  ptl_tensor *xb = t_qu8(4, sb, cb, 0.1f, 50);
  const float w[2] = {1, 2}, bias[2] = {0.5f, -1}, mean[2] = {0, 1}, var[2] = {1, 4};
  ptl_tensor *tw = t_f32(1, s2, w), *tb = t_f32(1, s2, bias), *tm = t_f32(1, s2, mean),
             *tv = t_f32(1, s2, var);
  ptl_tensor *in[5] = {xb, tm, tv, tw, tb};
  ptl_attrs ba = {0};
  ba.n_ints = 2;
  ba.ints[0] = 10;
  ba.n_floats = 2;
  ba.floats[0] = 1e-5;
  ba.floats[1] = 0.2;
  y = NULL;
  T_OK(ptl_op_run(PTL_OP_QBATCH_NORM, &ba, in, 5, &y, 1));
  /* channels-last result (as torch); logical NCHW values */
  if (y) {
    const uint8_t *d = ptl_tensor_data(y);
    const int64_t *st = ptl_tensor_strides(y);
    static const uint8_t want[8] = {37, 62, 87, 112, 0, 0, 0, 0};
    int ok = 1;
    for (int c = 0; c < 2; c++)
      for (int i = 0; i < 4; i++)
        ok &= d[c * st[1] + (i / 2) * st[2] + (i % 2) * st[3]] == want[c * 4 + i];
    T_CHECK(ok);
    T_CHECK(has_qparams(y, 0.2f, 10));
  }
  ptl_tensor_release(y);
  /* wrong parameter shape: the message names the op and the shapes */
  int64_t s3[1] = {3};
  ptl_tensor *bad = t_f32(1, s3, NULL);
  in[1] = bad;
  y = NULL;
  T_CHECK(ptl_op_run(PTL_OP_QBATCH_NORM, &ba, in, 5, &y, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "quantized_batch_norm") != NULL);
  T_CHECK(strstr(ptl_last_error_message(), "[3]") != NULL);
  ptl_tensor_release(bad);
  ptl_tensor_release(xb);
  ptl_tensor_release(tw);
  ptl_tensor_release(tb);
  ptl_tensor_release(tm);
  ptl_tensor_release(tv);
}

static void test_qerrors(void) {
  static const uint8_t ca[4] = {1, 2, 3, 4};
  int64_t s4[1] = {4}, s3[1] = {3};
  ptl_tensor *a = t_qu8(1, s4, ca, 0.5f, 0), *b3 = t_qu8(1, s3, ca, 0.5f, 0);
  ptl_tensor *f = t_f32(1, s4, NULL);
  ptl_attrs at = bin_attrs(0, 3, 1.0);
  ptl_tensor *y = NULL;
  ptl_tensor *in1[2] = {a, f};
  T_CHECK(ptl_op_run(PTL_OP_QADD, &at, in1, 2, &y, 1) == PTL_ERR_DTYPE);
  T_CHECK(strstr(ptl_last_error_message(), "quantized_add") != NULL);
  T_CHECK(strstr(ptl_last_error_message(), "quint8") != NULL);
  T_CHECK(y == NULL);
  ptl_tensor *in2[2] = {a, b3};
  T_CHECK(ptl_op_run(PTL_OP_QMUL, &at, in2, 2, &y, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "[4]") != NULL);
  ptl_attrs bad_zp = bin_attrs(0, 256, 1.0);
  ptl_tensor *in3[2] = {a, a};
  T_CHECK(ptl_op_run(PTL_OP_QADD, &bad_zp, in3, 2, &y, 1) == PTL_ERR_VALUE);
  ptl_attrs u = {0};
  u.n_ints = 1;
  u.n_floats = 1;
  u.floats[0] = 0.1;
  T_CHECK(ptl_op_run(PTL_OP_QSIGMOID, &u, &f, 1, &y, 1) == PTL_ERR_DTYPE);
  T_CHECK(strstr(ptl_last_error_message(), "quantized_sigmoid") != NULL);
  ptl_tensor_release(a);
  ptl_tensor_release(b3);
  ptl_tensor_release(f);
}

/* Runs op on the reference kernels, then on the fast path at 1, 2 and 3 threads:
 * the fast results must be the reference's bytes (compared in memory order, the
 * layouts being equal) and carry its qparams. */
static void fast_matches_ref(ptl_op_id op, const ptl_attrs *at, ptl_tensor **in, int n_in) {
  int prev = ptl_get_num_threads();
  ptl_tensor *ref = NULL;
  ptl_set_backend(PTL_BACKEND_REFERENCE);
  T_OK(ptl_op_run(op, at, in, n_in, &ref, 1));
  ptl_set_backend(PTL_BACKEND_AUTO);
  for (int nt = 1; nt <= 3 && ref; nt++) {
    ptl_set_num_threads(nt);
    ptl_tensor *y = NULL;
    T_OK(ptl_op_run(op, at, in, n_in, &y, 1));
    T_CHECK(y && ptl_tensor_numel(y) == ptl_tensor_numel(ref) &&
            memcmp(ptl_tensor_strides(y), ptl_tensor_strides(ref),
                   sizeof(int64_t) * (size_t)ptl_tensor_ndim(y)) == 0 &&
            memcmp(ptl_tensor_data(y), ptl_tensor_data(ref), (size_t)ptl_tensor_numel(y)) == 0);
    T_CHECK(y && has_qparams(y, ref->qparams->scale[0], ref->qparams->zero_point[0]));
    ptl_tensor_release(y);
  }
  ptl_set_num_threads(prev);
  ptl_tensor_release(ref);
}

/* The dense fast paths (AVX2 fixed-point add, float mul, byte clamps, NCHW max
 * pooling) against the reference: lengths with AVX2 blocks, scalar tails and
 * several threadpool chunks, codes over the whole range. */
static void test_qdense_fast(void) {
  enum { N = 40000 + 37 };
  uint8_t *ca = malloc(N), *cb = malloc(N);
  T_CHECK(ca && cb);
  if (!ca || !cb) {
    free(ca);
    free(cb);
    return;
  }
  uint32_t r = 12345;
  for (int i = 0; i < N; i++) {
    r = r * 1664525u + 1013904223u;
    ca[i] = (uint8_t)(r >> 24);
    cb[i] = (uint8_t)(r >> 16);
  }
  int64_t lens[2] = {N, 77};
  for (int l = 0; l < 2; l++) {
    int64_t shape[1] = {lens[l]};
    ptl_tensor *a = t_qu8(1, shape, ca, 0.05f, 100), *b = t_qu8(1, shape, cb, 0.013f, 3);
    ptl_tensor *in[2] = {a, b};
    for (int relu = 0; relu < 2; relu++) {
      ptl_attrs at = bin_attrs(relu, 90, 0.1);
      fast_matches_ref(PTL_OP_QADD, &at, in, 2);
      fast_matches_ref(PTL_OP_QMUL, &at, in, 2);
      ptl_attrs at2 = bin_attrs(relu, 0, 0.0101); /* a larger ratio: another shift */
      fast_matches_ref(PTL_OP_QADD, &at2, in, 2);
    }
    fast_matches_ref(PTL_OP_RELU, NULL, in, 1);
    ptl_attrs ht = {0};
    ht.n_floats = 2;
    ht.floats[0] = 0.0;
    ht.floats[1] = 6.0;
    fast_matches_ref(PTL_OP_HARDTANH, &ht, in, 1);
    ptl_tensor_release(a);
    ptl_tensor_release(b);
  }
  /* NCHW max pooling, the resnet stem's window on an odd plane, and 2x2 / 2 */
  int64_t ps[4] = {2, 3, 41, 37};
  ptl_tensor *x = t_qu8(4, ps, ca, 0.1f, 7);
  ptl_attrs pa = {0};
  pa.n_ints = 6;
  pa.ints[0] = pa.ints[1] = 3;
  pa.ints[2] = pa.ints[3] = 2;
  pa.ints[4] = pa.ints[5] = 1;
  fast_matches_ref(PTL_OP_MAX_POOL2D, &pa, &x, 1);
  pa.ints[0] = pa.ints[1] = 2;
  pa.ints[4] = pa.ints[5] = 0;
  fast_matches_ref(PTL_OP_MAX_POOL2D, &pa, &x, 1);
  ptl_tensor_release(x);
  free(ca);
  free(cb);
}

void test_qeltwise(void) {
  test_qdense_fast();
  test_qadd_qmul();
  test_qcat_and_tables();
  test_qpool_and_bn();
  test_qerrors();
}
