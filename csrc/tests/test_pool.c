/* test_pool.c - C tests of kernels/pool.c through ptl_op_run: hand-computed
 * values, channels-last in/out, fast path against the reference, errors. */
#include <stdbool.h>
#include <stdlib.h>

#include "test_util.h"

static ptl_attrs ints_attrs(int n, const int64_t *v) {
  ptl_attrs a = {0};
  a.n_ints = n;
  for (int i = 0; i < n; i++)
    a.ints[i] = v[i];
  return a;
}

/* runs op on x under the given backend; returns the output (caller releases) */
static ptl_tensor *run1(ptl_op_id op, const ptl_attrs *a, ptl_tensor *x, ptl_backend b) {
  ptl_backend prev = ptl_get_backend();
  ptl_set_backend(b);
  ptl_tensor *out = NULL;
  ptl_status s = ptl_op_run(op, a, &x, 1, &out, 1);
  ptl_set_backend(prev);
  if (s != PTL_OK) {
    fprintf(stderr, "%s failed: %s\n", ptl_op_name(op), ptl_last_error_message());
    return NULL;
  }
  return out;
}

/* value of logical element (n, c, h, w) of a 4-d float tensor, any strides */
static float at4(const ptl_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w) {
  const int64_t *s = ptl_tensor_strides(t);
  return ((const float *)ptl_tensor_data(t))[n * s[0] + c * s[1] + h * s[2] + w * s[3]];
}

/* channels-last copy through the COPY op (memory format 2) */
static ptl_tensor *to_channels_last(ptl_tensor *x) {
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = -1;
  a.ints[1] = 2;
  ptl_tensor *out = NULL;
  if (ptl_op_run(PTL_OP_COPY, &a, &x, 1, &out, 1) != PTL_OK)
    return NULL;
  return out;
}

static bool is_channels_last(const ptl_tensor *t) {
  const int64_t *s = ptl_tensor_strides(t), *d = ptl_tensor_shape(t);
  return s[1] == 1 && s[3] == d[1] && s[2] == d[1] * d[3];
}

/* max abs difference of two same-shape 4-d tensors */
static float max_diff4(const ptl_tensor *a, const ptl_tensor *b) {
  const int64_t *d = ptl_tensor_shape(a);
  float m = 0.0f;
  for (int64_t n = 0; n < d[0]; n++)
    for (int64_t c = 0; c < d[1]; c++)
      for (int64_t h = 0; h < d[2]; h++)
        for (int64_t w = 0; w < d[3]; w++) {
          float e = fabsf(at4(a, n, c, h, w) - at4(b, n, c, h, w));
          m = e > m ? e : m;
        }
  return m;
}

static void test_max_pool_values(void) {
  /* 1x1x4x4 with values 0..15; 2x2 stride 2 -> [[5, 7], [13, 15]] */
  float v[16];
  for (int i = 0; i < 16; i++)
    v[i] = (float)i;
  int64_t shape[4] = {1, 1, 4, 4};
  ptl_tensor *x = t_f32(4, shape, v);
  int64_t p[9] = {2, 2, 2, 2, 0, 0, 1, 1, 0};
  ptl_attrs a = ints_attrs(9, p);
  ptl_tensor *y = run1(PTL_OP_MAX_POOL2D, &a, x, PTL_BACKEND_REFERENCE);
  T_CHECK(y && ptl_tensor_shape(y)[2] == 2 && ptl_tensor_shape(y)[3] == 2);
  if (y) {
    const float *d = ptl_tensor_data(y);
    T_CHECK(d[0] == 5 && d[1] == 7 && d[2] == 13 && d[3] == 15);
  }
  ptl_tensor_release(y);
  /* 3x3 stride 2 ceil_mode on 4x4: torch gives 2x2 (last window starts inside) */
  int64_t q[9] = {3, 3, 2, 2, 0, 0, 1, 1, 1};
  a = ints_attrs(9, q);
  y = run1(PTL_OP_MAX_POOL2D, &a, x, PTL_BACKEND_REFERENCE);
  T_CHECK(y && ptl_tensor_shape(y)[2] == 2 && ptl_tensor_shape(y)[3] == 2);
  if (y) {
    const float *d = ptl_tensor_data(y);
    T_CHECK(d[0] == 10 && d[1] == 11 && d[2] == 14 && d[3] == 15);
  }
  ptl_tensor_release(y);
  /* avg 3x3 pad 1 on 4x4, count_include_pad: corner = (0+1+4+5)/9 */
  int64_t r[9] = {3, 3, 1, 1, 1, 1, 0, 1, 0};
  a = ints_attrs(9, r);
  y = run1(PTL_OP_AVG_POOL2D, &a, x, PTL_BACKEND_REFERENCE);
  T_CHECK(y && ptl_tensor_shape(y)[2] == 4);
  if (y)
    T_CHECK(fabsf(((const float *)ptl_tensor_data(y))[0] - 10.0f / 9.0f) < 1e-6f);
  ptl_tensor_release(y);
  r[7] = 0; /* count_include_pad off: corner = 10/4 */
  a = ints_attrs(9, r);
  y = run1(PTL_OP_AVG_POOL2D, &a, x, PTL_BACKEND_REFERENCE);
  if (y)
    T_CHECK(fabsf(((const float *)ptl_tensor_data(y))[0] - 2.5f) < 1e-6f);
  ptl_tensor_release(y);
  r[8] = 2; /* divisor_override 2: corner = 10/2 */
  a = ints_attrs(9, r);
  y = run1(PTL_OP_AVG_POOL2D, &a, x, PTL_BACKEND_REFERENCE);
  if (y)
    T_CHECK(fabsf(((const float *)ptl_tensor_data(y))[0] - 5.0f) < 1e-6f);
  ptl_tensor_release(y);
  /* adaptive avg 4x4 -> 3x3: window rows [0,2),[1,3),[2,4) -> (0+1+4+5)/4 first */
  int64_t o[2] = {3, 3};
  a = ints_attrs(2, o);
  y = run1(PTL_OP_ADAPTIVE_AVG_POOL2D, &a, x, PTL_BACKEND_REFERENCE);
  if (y)
    T_CHECK(fabsf(((const float *)ptl_tensor_data(y))[0] - 2.5f) < 1e-6f);
  ptl_tensor_release(y);
  y = run1(PTL_OP_ADAPTIVE_MAX_POOL2D, &a, x, PTL_BACKEND_REFERENCE);
  if (y)
    T_CHECK(((const float *)ptl_tensor_data(y))[8] == 15.0f);
  ptl_tensor_release(y);
  /* nearest 4x4 -> 8x8: y[1][3] = x[0][1] */
  int64_t u[2] = {8, 8};
  a = ints_attrs(2, u);
  y = run1(PTL_OP_UPSAMPLE_NEAREST2D, &a, x, PTL_BACKEND_REFERENCE);
  if (y)
    T_CHECK(((const float *)ptl_tensor_data(y))[1 * 8 + 3] == 1.0f);
  ptl_tensor_release(y);
  /* bilinear align_corners 4x4 -> 7x7: y[1][1] = x at (0.5, 0.5) = 2.5 */
  int64_t bl[3] = {7, 7, 1};
  a = ints_attrs(3, bl);
  y = run1(PTL_OP_UPSAMPLE_BILINEAR2D, &a, x, PTL_BACKEND_REFERENCE);
  if (y)
    T_CHECK(fabsf(((const float *)ptl_tensor_data(y))[1 * 7 + 1] - 2.5f) < 1e-6f);
  ptl_tensor_release(y);
  ptl_tensor_release(x);
}

/* channels-last input: outputs stay channels-last and the fast path agrees
 * with the reference */
static void test_fast_vs_ref(void) {
  int64_t shape[4] = {2, 5, 9, 11};
  int64_t n = 2 * 5 * 9 * 11;
  float *v = malloc(sizeof(float) * (size_t)n);
  if (!v)
    return;
  unsigned s = 12345;
  for (int64_t i = 0; i < n; i++) {
    s = s * 1103515245u + 12345u;
    v[i] = (float)((s >> 8) % 2000) / 1000.0f - 1.0f;
  }
  ptl_tensor *x0 = t_f32(4, shape, v);
  ptl_tensor *x = to_channels_last(x0);
  T_CHECK(x != NULL);
  free(v);
  if (!x) {
    ptl_tensor_release(x0);
    return;
  }
  struct {
    ptl_op_id op;
    int n;
    int64_t a[9];
  } cases[] = {
      {PTL_OP_MAX_POOL2D, 9, {3, 3, 2, 2, 1, 1, 1, 1, 0}},
      {PTL_OP_MAX_POOL2D, 9, {2, 2, 2, 2, 0, 0, 1, 1, 1}},
      {PTL_OP_MAX_POOL2D, 9, {3, 2, 1, 2, 0, 0, 2, 1, 0}},
      {PTL_OP_AVG_POOL2D, 9, {2, 2, 2, 2, 0, 0, 0, 1, 0}},
      {PTL_OP_AVG_POOL2D, 9, {3, 3, 2, 2, 1, 1, 1, 0, 0}},
      {PTL_OP_AVG_POOL2D, 9, {3, 3, 2, 2, 0, 0, 1, 1, 0}},
      {PTL_OP_AVG_POOL2D, 9, {3, 3, 2, 2, 1, 1, 0, 1, 0}}, /* reference only */
      {PTL_OP_ADAPTIVE_AVG_POOL2D, 2, {1, 1}},
      {PTL_OP_ADAPTIVE_AVG_POOL2D, 2, {4, 3}},
      {PTL_OP_ADAPTIVE_MAX_POOL2D, 2, {4, 3}},
      {PTL_OP_UPSAMPLE_NEAREST2D, 2, {13, 22}},
      {PTL_OP_UPSAMPLE_BILINEAR2D, 3, {18, 22, 0}},
      {PTL_OP_UPSAMPLE_BILINEAR2D, 3, {5, 17, 1}},
      {PTL_OP_UPSAMPLE_BILINEAR2D, 3, {7, 17, 0}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ptl_attrs a = ints_attrs(cases[i].n, cases[i].a);
    ptl_tensor *f = run1(cases[i].op, &a, x, PTL_BACKEND_AUTO);
    ptl_tensor *r = run1(cases[i].op, &a, x, PTL_BACKEND_REFERENCE);
    ptl_tensor *c = run1(cases[i].op, &a, x0, PTL_BACKEND_REFERENCE);
    T_CHECK(f && r && c);
    if (f && r && c) {
      T_CHECK(is_channels_last(f) && is_channels_last(r) && ptl_tensor_is_contiguous(c));
      T_CHECK(max_diff4(f, r) <= 1e-6f);
      T_CHECK(max_diff4(c, r) == 0.0f); /* same loops, only the layout differs */
    }
    ptl_tensor_release(f);
    ptl_tensor_release(r);
    ptl_tensor_release(c);
  }
  ptl_tensor_release(x);
  ptl_tensor_release(x0);
}

static void test_errors(void) {
  int64_t shape[4] = {1, 3, 5, 5};
  ptl_tensor *x = t_f32(4, shape, NULL);
  ptl_tensor *out = NULL;
  int64_t p[9] = {3, 3, 1, 1, 2, 2, 1, 1, 0};
  ptl_attrs a = ints_attrs(9, p);
  T_CHECK(ptl_op_run(PTL_OP_MAX_POOL2D, &a, &x, 1, &out, 1) != PTL_OK);
  T_CHECK(strstr(ptl_last_error_message(),
                 "pad should be at most half of effective kernel size, but got pad=2, "
                 "kernel_size=3 and dilation=1") != NULL);
  T_CHECK(out == NULL);
  int64_t big[9] = {7, 7, 7, 7, 0, 0, 1, 1, 0};
  a = ints_attrs(9, big);
  T_CHECK(ptl_op_run(PTL_OP_MAX_POOL2D, &a, &x, 1, &out, 1) != PTL_OK);
  T_CHECK(strstr(ptl_last_error_message(), "Output size is too small") != NULL);
  int64_t neg[2] = {-1, 2};
  a = ints_attrs(2, neg);
  T_CHECK(ptl_op_run(PTL_OP_ADAPTIVE_AVG_POOL2D, &a, &x, 1, &out, 1) != PTL_OK);
  T_CHECK(strstr(ptl_last_error_message(), "adaptive_avg_pool2d") != NULL);
  int64_t zero[2] = {0, 4};
  a = ints_attrs(2, zero);
  T_CHECK(ptl_op_run(PTL_OP_UPSAMPLE_NEAREST2D, &a, &x, 1, &out, 1) != PTL_OK);
  T_CHECK(strstr(ptl_last_error_message(), "greater than 0") != NULL);
  int64_t s2[2] = {5, 5};
  ptl_tensor *x2 = t_f32(2, s2, NULL);
  int64_t k[9] = {2, 2, 2, 2, 0, 0, 1, 1, 0};
  a = ints_attrs(9, k);
  T_CHECK(ptl_op_run(PTL_OP_MAX_POOL2D, &a, &x2, 1, &out, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "max_pool2d") != NULL &&
          strstr(ptl_last_error_message(), "[5, 5]") != NULL);
  T_CHECK(out == NULL);
  ptl_tensor_release(x2);
  ptl_tensor_release(x);
}

void test_pool(void) {
  test_max_pool_values();
  test_fast_vs_ref();
  test_errors();
}
