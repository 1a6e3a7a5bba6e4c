/* test_observer.c - quantization observers (csrc/compiler/observer.c). */
#include "../compiler/observer.h"
#include "test_util.h"

#include <stdlib.h>

static ptl_observer_config cfg_of(ptl_observer_kind kind, ptl_dtype dtype, ptl_qscheme q) {
  ptl_observer_config c;
  memset(&c, 0, sizeof c);
  c.kind = kind;
  c.dtype = dtype;
  c.qscheme = q;
  c.eps = 1.1920928955078125e-07f;
  c.averaging_constant = 0.5;
  c.bins = 2048;
  c.upsample_rate = 16;
  c.percentile = 99.99;
  return c;
}

static void test_minmax_per_tensor(void) {
  int64_t shape[1] = {4};
  float v[4] = {-1.0f, 0.0f, 2.0f, 3.0f};
  ptl_tensor *x = t_f32(1, shape, v);
  ptl_observer_config c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
  ptl_observer *o = NULL;
  T_OK(ptl_observer_create(&c, &o));
  float s;
  int64_t z;
  bool valid = true;
  /* nothing seen: torch's default (1.0, 0) */
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(!valid && s == 1.0f && z == 0);
  T_OK(ptl_observer_update(o, x));
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(valid && s == 4.0f / 255.0f && z == 64); /* 0 - round(-1 / (4/255)) */
  float mn, mx;
  ptl_observer_get_minmax(o, &mn, &mx);
  T_CHECK(mn == -1.0f && mx == 3.0f);
  ptl_observer_destroy(o);

  c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QINT8, PTL_QSCHEME_PER_TENSOR_SYMMETRIC);
  T_OK(ptl_observer_create(&c, &o));
  T_OK(ptl_observer_update(o, x));
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(s == 3.0f / 127.5f && z == 0);
  ptl_observer_destroy(o);

  /* quint8 symmetric: zero point 128; custom range: floor((qmin + qmax) / 2) */
  c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_SYMMETRIC);
  T_OK(ptl_observer_create(&c, &o));
  T_OK(ptl_observer_update(o, x));
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(z == 128);
  ptl_observer_destroy(o);
  c.has_custom_range = true;
  c.quant_min = -3;
  c.quant_max = 12;
  T_OK(ptl_observer_create(&c, &o));
  T_OK(ptl_observer_update(o, x));
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(z == 4 && s == 3.0f / 7.5f);
  ptl_observer_destroy(o);

  /* all zeros: scale is eps, zero point qmin */
  float zeros[4] = {0};
  ptl_tensor *zt = t_f32(1, shape, zeros);
  c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
  T_OK(ptl_observer_create(&c, &o));
  T_OK(ptl_observer_update(o, zt));
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(s == c.eps && z == -128);
  /* NaN propagates into min/max (torch.aminmax) and the qparams don't crash */
  float nanv[4] = {1.0f, NAN, 0.0f, 2.0f};
  ptl_tensor *nt = t_f32(1, shape, nanv);
  T_OK(ptl_observer_update(o, nt));
  ptl_observer_get_minmax(o, &mn, &mx);
  T_CHECK(isnan(mn) && isnan(mx));
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(isnan(s) && z >= -128 && z <= 127);
  ptl_observer_destroy(o);
  ptl_tensor_release(nt);
  ptl_tensor_release(zt);
  ptl_tensor_release(x);
}

/* inputs large enough for the threaded min/max, and odd lengths for the SIMD tail */
static void test_minmax_large(void) {
  int64_t sizes[3] = {200003, 7, 70001};
  for (int k = 0; k < 3; k++) {
    int64_t n = sizes[k];
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
      v[i] = (float)((i * 7919) % 1000) - 500.0f;
    v[n - 1] = 1000.0f; /* in the scalar tail */
    v[n / 2] = -2000.0f;
    ptl_tensor *x = t_f32(1, &n, v);
    ptl_observer_config c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
    ptl_observer *o = NULL;
    T_OK(ptl_observer_create(&c, &o));
    T_OK(ptl_observer_update(o, x));
    float mn, mx;
    ptl_observer_get_minmax(o, &mn, &mx);
    T_CHECK(mn == -2000.0f && mx == 1000.0f);
    ((float *)ptl_tensor_data(x))[n / 3] = NAN;
    T_OK(ptl_observer_update(o, x));
    ptl_observer_get_minmax(o, &mn, &mx);
    T_CHECK(isnan(mn) && isnan(mx));
    ptl_observer_destroy(o);
    ptl_tensor_release(x);
    free(v);
  }
}

static void test_bad_configs(void) {
  ptl_observer_config c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
  ptl_observer *o = NULL;
  c.has_custom_range = true;
  c.quant_min = 1;
  c.quant_max = 10;
  T_CHECK(ptl_observer_create(&c, &o) == PTL_ERR_VALUE && !o);
  T_CHECK(strstr(ptl_last_error_message(), "must include 0") != NULL);
  c.quant_min = 0;
  c.quant_max = 0;
  T_CHECK(ptl_observer_create(&c, &o) == PTL_ERR_VALUE);
  T_CHECK(strstr(ptl_last_error_message(), "strictly less") != NULL);
  c = cfg_of(PTL_OBSERVER_MINMAX, PTL_FLOAT32, PTL_QSCHEME_PER_TENSOR_AFFINE);
  T_CHECK(ptl_observer_create(&c, &o) == PTL_ERR_VALUE);
  c = cfg_of(PTL_OBSERVER_HISTOGRAM, PTL_QUINT8, PTL_QSCHEME_PER_CHANNEL_AFFINE);
  T_CHECK(ptl_observer_create(&c, &o) == PTL_ERR_VALUE);
  c = cfg_of(PTL_OBSERVER_PERCENTILE, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
  c.percentile = 0;
  T_CHECK(ptl_observer_create(&c, &o) == PTL_ERR_VALUE);
  /* wrong input dtype, min > max from a loaded state */
  c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
  T_OK(ptl_observer_create(&c, &o));
  int64_t shape[1] = {3};
  ptl_tensor *it = NULL;
  T_OK(ptl_tensor_create(PTL_INT64, 1, shape, &it));
  T_CHECK(ptl_observer_update(o, it) == PTL_ERR_DTYPE);
  float a = 2.0f, b = 1.0f, s;
  int64_t z;
  bool valid;
  T_OK(ptl_observer_set_minmax(o, 1, &a, &b));
  T_CHECK(ptl_observer_calculate_qparams(o, &s, &z, &valid) == PTL_ERR_VALUE);
  T_CHECK(ptl_observer_set_minmax(o, 2, &a, &b) == PTL_ERR_SHAPE);
  ptl_tensor_release(it);
  ptl_observer_destroy(o);
}

/* per channel along axis 1 of a transposed (non-contiguous) view */
static void test_per_channel_strided(void) {
  int64_t shape[2] = {3, 2};
  float v[6] = {1, -4, 2, 5, -3, 0}; /* rows: [1,-4] [2,5] [-3,0] */
  ptl_tensor *x = t_f32(2, shape, v);
  int64_t tshape[2] = {2, 3}, tstrides[2] = {1, 2};
  ptl_tensor *xt = NULL;
  T_OK(ptl_tensor_view(x, 2, tshape, tstrides, 0, &xt)); /* xt = x.T: rows [1,2,-3] [-4,5,0] */
  ptl_observer_config c = cfg_of(PTL_OBSERVER_MINMAX, PTL_QINT8, PTL_QSCHEME_PER_CHANNEL_SYMMETRIC);
  c.ch_axis = 1; /* channels = columns of xt = rows of x */
  ptl_observer *o = NULL;
  T_OK(ptl_observer_create(&c, &o));
  T_CHECK(ptl_observer_count(o) == 0);
  T_OK(ptl_observer_update(o, xt));
  T_CHECK(ptl_observer_count(o) == 3);
  float mn[3], mx[3], s[3];
  int64_t z[3];
  bool valid;
  ptl_observer_get_minmax(o, mn, mx);
  T_CHECK(mn[0] == -4 && mx[0] == 1 && mn[1] == 2 && mx[1] == 5 && mn[2] == -3 && mx[2] == 0);
  T_CHECK(ptl_observer_qparams_count(o) == 3);
  T_OK(ptl_observer_calculate_qparams(o, s, z, &valid));
  T_CHECK(s[0] == 4.0f / 127.5f && s[1] == 5.0f / 127.5f && s[2] == 3.0f / 127.5f);
  T_CHECK(z[0] == 0 && z[1] == 0 && z[2] == 0);
  /* a different channel count is an error naming the shapes */
  T_CHECK(ptl_observer_update(o, x) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "[3, 2]") != NULL);
  /* merge: element-wise min/max */
  ptl_observer *o2 = NULL;
  T_OK(ptl_observer_create(&c, &o2));
  float w[6] = {10, 0, 0, 0, 0, -10};
  ptl_tensor *y = t_f32(2, tshape, w);
  T_OK(ptl_observer_update(o2, y));
  T_OK(ptl_observer_merge(o, o2));
  ptl_observer_get_minmax(o, mn, mx);
  T_CHECK(mx[0] == 10 && mn[2] == -10 && mn[1] == 0 && mx[1] == 5);
  ptl_observer_destroy(o2);
  ptl_observer_destroy(o);
  ptl_tensor_release(y);
  ptl_tensor_release(xt);
  ptl_tensor_release(x);
}

static void test_moving_average(void) {
  int64_t shape[1] = {2};
  float a[2] = {-2, 2}, b[2] = {0, 6};
  ptl_tensor *x = t_f32(1, shape, a), *y = t_f32(1, shape, b);
  ptl_observer_config c =
      cfg_of(PTL_OBSERVER_MOVING_AVG, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
  ptl_observer *o = NULL, *o2 = NULL;
  T_OK(ptl_observer_create(&c, &o));
  T_OK(ptl_observer_update(o, x));
  T_OK(ptl_observer_update(o, y));
  float mn, mx;
  ptl_observer_get_minmax(o, &mn, &mx);
  T_CHECK(mn == -1.0f && mx == 4.0f); /* c = 0.5 */
  T_OK(ptl_observer_create(&c, &o2));
  T_CHECK(ptl_observer_merge(o, o2) == PTL_ERR_UNSUPPORTED);
  ptl_observer_destroy(o2);
  ptl_observer_destroy(o);
  ptl_tensor_release(x);
  ptl_tensor_release(y);
}

static void test_histogram_kinds(void) {
  enum { N = 4096 };
  static float v[N];
  uint32_t r = 12345;
  for (int i = 0; i < N; i++) {
    /* a deterministic bell-ish shape in [-3, 3] plus two outliers */
    r = r * 1664525u + 1013904223u;
    float u1 = (float)(r >> 8) / 16777216.0f;
    r = r * 1664525u + 1013904223u;
    float u2 = (float)(r >> 8) / 16777216.0f;
    v[i] = 3.0f * (u1 + u2 - 1.0f);
  }
  v[0] = 30.0f;
  v[1] = -20.0f;
  int64_t half[1] = {N / 2};
  ptl_tensor *x1 = t_f32(1, half, v), *x2 = t_f32(1, half, v + N / 2);
  ptl_observer_kind kinds[3] = {PTL_OBSERVER_HISTOGRAM, PTL_OBSERVER_PERCENTILE,
                                PTL_OBSERVER_ENTROPY};
  for (int k = 0; k < 3; k++) {
    ptl_observer_config c = cfg_of(kinds[k], PTL_QINT8, PTL_QSCHEME_PER_TENSOR_SYMMETRIC);
    c.percentile = 99.9; /* 4 samples: the two outliers fall outside */
    ptl_observer *o = NULL, *a = NULL, *b = NULL;
    T_OK(ptl_observer_create(&c, &o));
    T_OK(ptl_observer_create(&c, &a));
    T_OK(ptl_observer_create(&c, &b));
    T_OK(ptl_observer_update(o, x2)); /* the narrow half first: the outlier grows the range */
    T_OK(ptl_observer_update(o, x1));
    int64_t bins;
    const float *h = ptl_observer_histogram(o, &bins);
    double total = 0;
    for (int64_t i = 0; i < bins; i++)
      total += h[i];
    T_CHECK(bins == 2048 && fabs(total - N) < 1e-2); /* re-binning keeps the mass */
    float lo, hi, s;
    int64_t z;
    bool valid;
    T_OK(ptl_observer_range(o, &lo, &hi));
    if (kinds[k] != PTL_OBSERVER_HISTOGRAM) {
      /* percentile and entropy clip the outliers away (the L2 search may keep them) */
      T_CHECK(hi < 29.0f && hi > 1.0f && lo == -hi);
    }
    T_CHECK(lo < 0 && hi > 2.0f && lo >= -30.01f && hi <= 30.01f);
    T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
    T_CHECK(valid && z == 0 && s > 0 && s <= 30.0f / 127.5f);
    /* merge of the halves: same union range and mass */
    T_OK(ptl_observer_update(a, x1));
    T_OK(ptl_observer_update(b, x2));
    T_OK(ptl_observer_merge(a, b));
    float mn, mx, omn, omx;
    ptl_observer_get_minmax(a, &mn, &mx);
    ptl_observer_get_minmax(o, &omn, &omx);
    T_CHECK(mn == omn && mx == omx);
    ptl_observer_destroy(a);
    ptl_observer_destroy(b);
    ptl_observer_destroy(o);
  }
  /* constant input (torch.histc widens [c, c] to [c-1, c+1]) and NaN */
  float cst[4] = {1.5f, 1.5f, 1.5f, NAN};
  int64_t four[1] = {3};
  ptl_tensor *ct = t_f32(1, four, cst);
  ptl_observer_config c = cfg_of(PTL_OBSERVER_HISTOGRAM, PTL_QUINT8, PTL_QSCHEME_PER_TENSOR_AFFINE);
  ptl_observer *o = NULL;
  T_OK(ptl_observer_create(&c, &o));
  T_OK(ptl_observer_update(o, ct));
  int64_t bins;
  const float *h = ptl_observer_histogram(o, &bins);
  T_CHECK(h[1024] == 3.0f); /* bin (1.5 - 0.5) * 2048 / 2 */
  float s;
  int64_t z;
  bool valid;
  T_OK(ptl_observer_calculate_qparams(o, &s, &z, &valid));
  T_CHECK(valid && s > 0);
  int64_t all[1] = {4};
  ptl_tensor *nt = t_f32(1, all, cst);
  T_CHECK(ptl_observer_update(o, nt) == PTL_ERR_INVALID_ARGUMENT);
  ptl_observer_destroy(o);
  ptl_tensor_release(nt);
  ptl_tensor_release(ct);
  ptl_tensor_release(x1);
  ptl_tensor_release(x2);
}

void test_observer(void) {
  test_minmax_per_tensor();
  test_minmax_large();
  test_bad_configs();
  test_per_channel_strided();
  test_moving_average();
  test_histogram_kinds();
}
