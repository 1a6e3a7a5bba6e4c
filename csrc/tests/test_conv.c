/* test_conv.c - C tests of kernels/conv.c: small convs against hand-computed values
 * on both backends, caller-provided outputs, weight-cache invalidation, errors. */
#include "test_util.h"

/* Element (n, c, h, w) of a 4-d float tensor, whatever its strides. */
static float at4(const ptl_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t *s = ptl_tensor_strides(t);
  return ((const float *)ptl_tensor_data(t))[n * s[0] + c * s[1] + h * s[2] + w * s[3]];
}

static ptl_attrs conv_attrs(int stride, int pad, int groups) {
  ptl_attrs a = {0};
  a.n_ints = 8;
  a.ints[0] = a.ints[1] = stride;
  a.ints[2] = a.ints[3] = pad;
  a.ints[4] = a.ints[5] = 1;
  a.ints[6] = groups;
  a.ints[7] = 0;
  return a;
}

/* x = 1..9 as [1, 1, 3, 3]; w [2, 1, 2, 2]: channel 0 all ones, channel 1 the
 * identity tap at (0, 0) times 2; bias {0.5, -1}. */
static void test_conv2d_values(ptl_backend backend) {
  ptl_set_backend(backend);
  int64_t xs[4] = {1, 1, 3, 3}, ws[4] = {2, 1, 2, 2}, bs[1] = {2};
  float xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float wv[8] = {1, 1, 1, 1, 2, 0, 0, 0};
  float bv[2] = {0.5f, -1.0f};
  ptl_tensor *x = t_f32(4, xs, xv), *w = t_f32(4, ws, wv), *b = t_f32(1, bs, bv);
  ptl_tensor *in[3] = {x, w, b}, *y = NULL;
  ptl_attrs a = conv_attrs(1, 0, 1);
  T_OK(ptl_op_run(PTL_OP_CONV2D, &a, in, 3, &y, 1));
  if (y) {
    T_CHECK(ptl_tensor_shape(y)[1] == 2 && ptl_tensor_shape(y)[2] == 2);
    float want0[4] = {12.5f, 16.5f, 24.5f, 28.5f}, want1[4] = {1, 3, 7, 9};
    for (int i = 0; i < 4; i++) {
      T_CHECK(fabsf(at4(y, 0, 0, i / 2, i % 2) - want0[i]) < 1e-5f);
      T_CHECK(fabsf(at4(y, 0, 1, i / 2, i % 2) - want1[i]) < 1e-5f);
    }
    /* the fast path writes channels-last, the reference contiguous NCHW */
    if (backend == PTL_BACKEND_AUTO)
      T_CHECK(ptl_tensor_strides(y)[1] == 1 && ptl_tensor_strides(y)[3] == 2);
    else
      T_CHECK(ptl_tensor_is_contiguous(y));
  }
  ptl_tensor_release(y);

  /* stride 2, padding 1, all-ones weight of one channel: corner sums of a padded 3x3 */
  y = NULL;
  a = conv_attrs(2, 1, 1);
  ptl_tensor *in2[2] = {x, NULL};
  int64_t w1s[4] = {1, 1, 3, 3};
  float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  in2[1] = t_f32(4, w1s, ones);
  T_OK(ptl_op_run(PTL_OP_CONV2D, &a, in2, 2, &y, 1));
  if (y) {
    float want[4] = {12, 16, 24, 28};
    for (int i = 0; i < 4; i++)
      T_CHECK(fabsf(at4(y, 0, 0, i / 2, i % 2) - want[i]) < 1e-5f);
  }
  ptl_tensor_release(y);

  /* caller-provided contiguous output: the fast path goes through a temporary */
  int64_t ys[4] = {1, 2, 2, 2};
  y = t_f32(4, ys, NULL);
  a = conv_attrs(1, 0, 1);
  T_OK(ptl_op_run(PTL_OP_CONV2D, &a, in, 3, &y, 1));
  T_CHECK(ptl_tensor_is_contiguous(y));
  T_CHECK(fabsf(((float *)ptl_tensor_data(y))[0] - 12.5f) < 1e-5f);
  T_CHECK(fabsf(((float *)ptl_tensor_data(y))[7] - 9.0f) < 1e-5f);

  /* writing the weight through an op bumps its version: the packed operator is rebuilt */
  float w2v[8] = {0, 0, 0, 1, 0, 0, 0, 0};
  ptl_tensor *w2 = t_f32(4, ws, w2v), *wout = w;
  ptl_attrs ca = {0};
  ca.n_ints = 2;
  ca.ints[0] = -1;
  ca.ints[1] = 1;
  T_OK(ptl_op_run(PTL_OP_COPY, &ca, &w2, 1, &wout, 1));
  T_OK(ptl_op_run(PTL_OP_CONV2D, &a, in, 3, &y, 1));
  T_CHECK(fabsf(((float *)ptl_tensor_data(y))[0] - 5.5f) < 1e-5f); /* x[1][1] + 0.5 */
  T_CHECK(fabsf(((float *)ptl_tensor_data(y))[4] + 1.0f) < 1e-5f); /* zero weights + bias */
  ptl_tensor_release(y);
  ptl_tensor_release(w2);
  ptl_tensor_release(in2[1]);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
  ptl_tensor_release(b);
}

/* Depthwise: 2 channels, each its own 1x1 scale. */
static void test_conv2d_depthwise(ptl_backend backend) {
  ptl_set_backend(backend);
  int64_t xs[4] = {1, 2, 2, 2}, ws[4] = {2, 1, 1, 1};
  float xv[8] = {1, 2, 3, 4, 5, 6, 7, 8}, wv[2] = {2, -1};
  ptl_tensor *x = t_f32(4, xs, xv), *w = t_f32(4, ws, wv), *y = NULL;
  ptl_tensor *in[2] = {x, w};
  ptl_attrs a = conv_attrs(1, 0, 2);
  T_OK(ptl_op_run(PTL_OP_CONV2D, &a, in, 2, &y, 1));
  if (y)
    for (int i = 0; i < 4; i++) {
      T_CHECK(at4(y, 0, 0, i / 2, i % 2) == 2.0f * xv[i]);
      T_CHECK(at4(y, 0, 1, i / 2, i % 2) == -xv[4 + i]);
    }
  ptl_tensor_release(y);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
}

/* Transposed, stride 2, 2x2 ones kernel: each input value fills a 2x2 block. */
static void test_conv_transpose2d_values(ptl_backend backend) {
  ptl_set_backend(backend);
  int64_t xs[4] = {1, 1, 2, 2}, ws[4] = {1, 1, 2, 2};
  float xv[4] = {1, 2, 3, 4}, wv[4] = {1, 1, 1, 1};
  ptl_tensor *x = t_f32(4, xs, xv), *w = t_f32(4, ws, wv), *y = NULL;
  ptl_tensor *in[2] = {x, w};
  ptl_attrs a = {0};
  a.n_ints = 9;
  a.ints[0] = a.ints[1] = 2;
  a.ints[6] = a.ints[7] = 1;
  a.ints[8] = 1;
  T_OK(ptl_op_run(PTL_OP_CONV_TRANSPOSE2D, &a, in, 2, &y, 1));
  if (y) {
    T_CHECK(ptl_tensor_shape(y)[2] == 4 && ptl_tensor_shape(y)[3] == 4);
    for (int r = 0; r < 4; r++)
      for (int c = 0; c < 4; c++)
        T_CHECK(at4(y, 0, 0, r, c) == xv[(r / 2) * 2 + c / 2]);
  }
  ptl_tensor_release(y);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
}

static void test_conv_errors(void) {
  int64_t xs[4] = {1, 2, 3, 3}, ws[4] = {4, 3, 3, 3};
  ptl_tensor *x = t_f32(4, xs, NULL), *w = t_f32(4, ws, NULL), *y = NULL;
  ptl_tensor *in[2] = {x, w};
  ptl_attrs a = conv_attrs(1, 0, 1);
  T_CHECK(ptl_op_run(PTL_OP_CONV2D, &a, in, 2, &y, 1) == PTL_ERR_SHAPE);
  T_CHECK(y == NULL);
  T_CHECK(strstr(ptl_last_error_message(),
                 "conv2d: Given groups=1, weight of size [4, 3, 3, 3], "
                 "expected input[1, 2, 3, 3] to have 3 channels") != NULL);
  a.ints[0] = 0;
  T_CHECK(ptl_op_run(PTL_OP_CONV2D, &a, in, 2, &y, 1) == PTL_ERR_INVALID_ARGUMENT);
  T_CHECK(strstr(ptl_last_error_message(), "non-positive stride") != NULL);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
}

/* Deterministic values in [-1, 1). */
static ptl_tensor *t_pattern(int ndim, const int64_t *shape, unsigned seed) {
  ptl_tensor *t = t_f32(ndim, shape, NULL);
  if (!t)
    return NULL;
  float *d = ptl_tensor_data(t);
  for (int64_t i = 0; i < ptl_tensor_numel(t); i++) {
    seed = seed * 1664525u + 1013904223u;
    d[i] = (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
  }
  return t;
}

/* The fast path (own GEMM / XNNPACK) against the reference loops on bigger shapes:
 * under ASan this also checks that no kernel reads outside its buffers. */
static void fast_vs_ref(ptl_op_id op, const int64_t *xs, const int64_t *ws, const int64_t *attrs,
                        int n_attrs) {
  ptl_tensor *x = t_pattern(4, xs, 1), *w = t_pattern(4, ws, 2);
  int64_t o = op == PTL_OP_CONV2D ? ws[0] : ws[1] * attrs[n_attrs - 1];
  ptl_tensor *b = t_pattern(1, &o, 3);
  ptl_tensor *in[3] = {x, w, b}, *fast = NULL, *ref = NULL;
  ptl_attrs a = {0};
  a.n_ints = n_attrs;
  for (int i = 0; i < n_attrs; i++)
    a.ints[i] = attrs[i];
  ptl_set_backend(PTL_BACKEND_AUTO);
  T_OK(ptl_op_run(op, &a, in, 3, &fast, 1));
  ptl_set_backend(PTL_BACKEND_REFERENCE);
  T_OK(ptl_op_run(op, &a, in, 3, &ref, 1));
  if (fast && ref) {
    const int64_t *sh = ptl_tensor_shape(ref);
    float worst = 0;
    for (int64_t n = 0; n < sh[0]; n++)
      for (int64_t c = 0; c < sh[1]; c++)
        for (int64_t h = 0; h < sh[2]; h++)
          for (int64_t q = 0; q < sh[3]; q++) {
            float d = fabsf(at4(fast, n, c, h, q) - at4(ref, n, c, h, q));
            worst = d > worst ? d : worst;
          }
    T_CHECK(worst < 1e-4f);
  }
  ptl_tensor_release(fast);
  ptl_tensor_release(ref);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
  ptl_tensor_release(b);
}

static void test_conv_fast_vs_ref(void) {
  /* dense 3x3 (own GEMM, O tail of 4), grouped (own GEMM per group), stem (padded
   * copy), 1x1 stride 2, depthwise (XNNPACK), transposed (XNNPACK) */
  int64_t x1[4] = {2, 8, 7, 5}, w1[4] = {20, 8, 3, 3}, a1[8] = {1, 1, 1, 1, 1, 1, 1, 0};
  fast_vs_ref(PTL_OP_CONV2D, x1, w1, a1, 8);
  int64_t x2[4] = {1, 8, 6, 6}, w2[4] = {20, 4, 3, 3}, a2[8] = {2, 1, 1, 0, 1, 1, 2, 0};
  fast_vs_ref(PTL_OP_CONV2D, x2, w2, a2, 8);
  int64_t x3[4] = {1, 3, 11, 9}, w3[4] = {16, 3, 5, 5}, a3[8] = {2, 2, 2, 2, 1, 1, 1, 0};
  fast_vs_ref(PTL_OP_CONV2D, x3, w3, a3, 8);
  int64_t x4[4] = {3, 16, 5, 5}, w4[4] = {24, 16, 1, 1}, a4[8] = {2, 2, 0, 0, 1, 1, 1, 0};
  fast_vs_ref(PTL_OP_CONV2D, x4, w4, a4, 8);
  int64_t x5[4] = {1, 12, 9, 9}, w5[4] = {12, 1, 3, 3}, a5[8] = {1, 1, 1, 1, 1, 1, 12, 0};
  fast_vs_ref(PTL_OP_CONV2D, x5, w5, a5, 8);
  int64_t x6[4] = {1, 6, 4, 5}, w6[4] = {6, 2, 3, 3}, a6[9] = {2, 2, 1, 1, 1, 0, 1, 1, 3};
  fast_vs_ref(PTL_OP_CONV_TRANSPOSE2D, x6, w6, a6, 9);
}

void test_conv(void) {
  ptl_backend prev = ptl_get_backend();
  test_conv2d_values(PTL_BACKEND_AUTO);
  test_conv2d_values(PTL_BACKEND_REFERENCE);
  test_conv2d_depthwise(PTL_BACKEND_AUTO);
  test_conv2d_depthwise(PTL_BACKEND_REFERENCE);
  test_conv_transpose2d_values(PTL_BACKEND_AUTO);
  test_conv_transpose2d_values(PTL_BACKEND_REFERENCE);
  test_conv_errors();
  test_conv_fast_vs_ref();
  ptl_set_backend(prev);
}
