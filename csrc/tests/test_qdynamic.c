/* test_qdynamic.c - C tests of kernels/qdynamic.c (DYNAMIC_LINEAR, LINEAR_FP16) through
 * ptl_op_run. Expected values of the small case come from torch 2.13's
 * quantized::linear_dynamic under the qnnpack engine. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cpuinfo.h>

#include "internal.h" /* ptl_qparams_set, ptl_float_to_half, ptl_dynamic_linear_kernel_runs */
#include "test_util.h"

/* qint8 [n, k] from integers, per tensor (nch == 0) or per channel along axis 0. */
static ptl_tensor *t_qi8(int64_t n, int64_t k, const int8_t *v, int nch, const float *scale,
                         const int32_t *zp) {
  int64_t shape[2] = {n, k};
  ptl_tensor *t = NULL;
  if (ptl_tensor_create(PTL_QINT8, 2, shape, &t) != PTL_OK)
    return NULL;
  memcpy(ptl_tensor_data(t), v, (size_t)(n * k));
  if (nch == 0)
    ptl_qparams_set_per_tensor(t, scale[0], zp[0]);
  else
    ptl_qparams_set(t, PTL_QSCHEME_PER_CHANNEL_AFFINE, 0, nch, scale, zp);
  return t;
}

static ptl_attrs dyn_attrs(int reduce_range, int relu) {
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = reduce_range;
  a.ints[1] = relu;
  return a;
}

static void test_small_vs_torch(void) {
  const float xv[6] = {0.5f, -1.25f, 2.0f, 3.0f, 0.0f, -0.75f};
  const int8_t wv[6] = {10, -20, 30, -128, 127, 5};
  const float bv[2] = {0.25f, -1.0f};
  const float scale = 0.05f;
  const int32_t zp = 0;
  int64_t xs[2] = {2, 3}, bs[1] = {2};
  ptl_tensor *in[3] = {t_f32(2, xs, xv), t_qi8(2, 3, wv, 0, &scale, &zp), t_f32(1, bs, bv)};
  static const float want[4] = {0x1.300002p+2f, -0x1.746668p+3f, 0x1.4p-1f, -0x1.463336p+4f};
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    for (int relu = 0; relu < 2; relu++) {
      ptl_attrs a = dyn_attrs(0, relu);
      ptl_tensor *y = NULL;
      T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 3, &y, 1));
      if (!y)
        continue;
      T_CHECK(ptl_tensor_dtype(y) == PTL_FLOAT32 && y->ndim == 2 && y->shape[1] == 2);
      const float *yd = ptl_tensor_data(y);
      for (int i = 0; i < 4; i++) {
        float w = relu && want[i] < 0 ? 0.0f : want[i];
        T_CHECK(yd[i] == w);
      }
      ptl_tensor_release(y);
    }
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  for (int i = 0; i < 3; i++)
    ptl_tensor_release(in[i]);
}

/* reduce_range (torch's x86 engine): x's qparams on [0, 127] (scale 0x1.122448p-5, zero
 * point 37), fbgemm's epilogue; values from quantized::linear_dynamic(reduce_range=True)
 * under torch 2.13's x86 engine, with and without the bias. */
static void test_small_reduce_range_vs_torch_x86(void) {
  const float xv[6] = {0.5f, -1.25f, 2.0f, 3.0f, 0.0f, -0.75f};
  const int8_t wv[6] = {10, -20, 30, -128, 127, 5};
  const float bv[2] = {0.25f, -1.0f};
  const float scale = 0.05f;
  const int32_t zp = 0;
  int64_t xs[2] = {2, 3}, bs[1] = {2};
  ptl_tensor *in[3] = {t_f32(2, xs, xv), t_qi8(2, 3, wv, 0, &scale, &zp), t_f32(1, bs, bv)};
  static const float want[2][4] = {
      {0x1.30102p+2f, -0x1.725714p+3f, 0x1.4d9b36p-1f, -0x1.475ab6p+4f},
      {0x1.20102p+2f, -0x1.525714p+3f, 0x1.9b366cp-2f, -0x1.375ab6p+4f}};
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    for (int nb = 0; nb < 2; nb++) {
      ptl_attrs a = dyn_attrs(1, 0);
      ptl_tensor *y = NULL;
      T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, nb ? 2 : 3, &y, 1));
      if (!y)
        continue;
      const float *yd = ptl_tensor_data(y);
      for (int i = 0; i < 4; i++)
        T_CHECK(yd[i] == want[nb][i]);
      ptl_tensor_release(y);
    }
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  for (int i = 0; i < 3; i++)
    ptl_tensor_release(in[i]);
}

/* The largest activation the pmaddubsw kernel sees: x in [-1.5, 125.5] gives scale 1 and
 * zero point 2 (1.5 rounded half even), so 125.5 -> 127.5 -> 128; against -128 weights
 * a pair sums to -32768, still exact: y = -128 * (63 * 126 - 2) / 128 = -7936. */
static void test_reduce_range_top_128(void) {
  float xv[64];
  int8_t wv[3 * 64];
  xv[0] = -1.5f;
  for (int i = 1; i < 64; i++)
    xv[i] = 125.5f;
  memset(wv, 0x80, sizeof wv);
  const float scale = 1.0f / 128;
  const int32_t zp = 0;
  int64_t xs[2] = {1, 64};
  ptl_tensor *in[2] = {t_f32(2, xs, xv), t_qi8(3, 64, wv, 0, &scale, &zp)};
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    ptl_attrs a = dyn_attrs(1, 0);
    ptl_tensor *y = NULL;
    T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 2, &y, 1));
    if (y) {
      const float *yd = ptl_tensor_data(y);
      for (int i = 0; i < 3; i++)
        T_CHECK(yd[i] == -7936.0f);
    }
    ptl_tensor_release(y);
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  ptl_tensor_release(in[0]);
  ptl_tensor_release(in[1]);
}

static uint32_t lcg(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

/* The AVX2 kernel (AUTO) and the reference agree bit for bit: odd k, partial panels,
 * row counts around the 4-row block, per-channel non-zero zero points, relu,
 * reduce_range; a second run reuses the cached packed weight; a write to the weight
 * (version bump) repacks it. */
static void test_fast_equals_reference(void) {
  const int64_t cases[][3] = {{1, 1, 1},    {3, 17, 5},  {4, 64, 16},  {7, 33, 35},
                              {9, 200, 70}, {8, 45, 37}, {32, 100, 33}};
  uint32_t seed = 12345;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int64_t m = cases[c][0], k = cases[c][1], n = cases[c][2];
    float *xv = malloc(sizeof(float) * (size_t)(m * k));
    int8_t *wv = malloc((size_t)(n * k));
    float *sc = malloc(sizeof(float) * (size_t)n), *bv = malloc(sizeof(float) * (size_t)n);
    int32_t *zps = malloc(sizeof(int32_t) * (size_t)n);
    for (int64_t i = 0; i < m * k; i++)
      xv[i] = (float)(lcg(&seed) % 2001) / 250.0f - 3.0f;
    for (int64_t i = 0; i < n * k; i++)
      wv[i] = (int8_t)(int)(lcg(&seed) % 256 - 128);
    for (int64_t i = 0; i < n; i++) {
      sc[i] = 0.001f * (float)(1 + lcg(&seed) % 50);
      zps[i] = (int32_t)(lcg(&seed) % 21) - 10;
      bv[i] = (float)(lcg(&seed) % 100) / 50.0f - 1.0f;
    }
    int64_t xs[2] = {m, k}, bs[1] = {n};
    for (int per_channel = 0; per_channel < 2; per_channel++) {
      ptl_tensor *in[3] = {t_f32(2, xs, xv), t_qi8(n, k, wv, per_channel ? (int)n : 0, sc, zps),
                           t_f32(1, bs, bv)};
      for (int flags = 0; flags < 4; flags++) {
        ptl_attrs a = dyn_attrs(flags & 1, flags >> 1);
        ptl_tensor *yf = NULL, *yf2 = NULL, *yr = NULL;
        ptl_set_backend(PTL_BACKEND_AUTO);
        T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 3, &yf, 1));
        T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 3, &yf2, 1));
        ptl_set_backend(PTL_BACKEND_REFERENCE);
        T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 3, &yr, 1));
        ptl_set_backend(PTL_BACKEND_AUTO);
        if (yf && yr && yf2) {
          T_CHECK(memcmp(ptl_tensor_data(yf), ptl_tensor_data(yr),
                         sizeof(float) * (size_t)(m * n)) == 0);
          T_CHECK(memcmp(ptl_tensor_data(yf), ptl_tensor_data(yf2),
                         sizeof(float) * (size_t)(m * n)) == 0);
        }
        ptl_tensor_release(yf);
        ptl_tensor_release(yf2);
        ptl_tensor_release(yr);
      }
      /* negate the weight in place: the packed copies (both kinds, cached by the runs
       * above) must follow the new version */
      ptl_attrs a = dyn_attrs(per_channel, 0);
      ptl_tensor *y0 = NULL, *y1 = NULL;
      T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 3, &y0, 1));
      int8_t *wd = ptl_tensor_data(in[1]);
      for (int64_t i = 0; i < n * k; i++)
        wd[i] = (int8_t)(wd[i] == -128 ? 127 : -wd[i]);
      ptl_tensor_bump_version(in[1]);
      T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 3, &y1, 1));
      ptl_tensor *yr = NULL;
      ptl_set_backend(PTL_BACKEND_REFERENCE);
      T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 3, &yr, 1));
      ptl_set_backend(PTL_BACKEND_AUTO);
      if (y1 && yr)
        T_CHECK(memcmp(ptl_tensor_data(y1), ptl_tensor_data(yr), sizeof(float) * (size_t)(m * n)) ==
                0);
      ptl_tensor_release(y0);
      ptl_tensor_release(y1);
      ptl_tensor_release(yr);
      for (int i = 0; i < 3; i++)
        ptl_tensor_release(in[i]);
    }
    free(xv), free(wv), free(sc), free(bv), free(zps);
  }
}

/* The kernel the fast path must take here: a silent fallback to the portable loops would
 * pass every bit-for-bit comparison, so the sweeps check this counter too. */
static const char *expected_kernel(void) {
#if defined(__aarch64__)
  return cpuinfo_initialize() && cpuinfo_has_arm_neon_dot() ? "neondot" : "neon";
#elif defined(__x86_64__)
  return ptl_cpu_has_avx2_fma() ? "avx2" : "c";
#else
  return "c";
#endif
}

/* One fast (AUTO) run and one reference run of the same inputs: same bits, and the fast
 * run counted on the expected kernel. Returns whether the bits agree. */
static bool fast_matches_reference(ptl_tensor **in, int n_in, int reduce_range, int relu,
                                   const char *what) {
  ptl_attrs a = dyn_attrs(reduce_range, relu);
  ptl_tensor *yf = NULL, *yr = NULL;
  const char *kern = expected_kernel();
  uint64_t before = ptl_dynamic_linear_kernel_runs(kern);
  ptl_set_backend(PTL_BACKEND_AUTO);
  T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, n_in, &yf, 1));
  T_CHECK(ptl_dynamic_linear_kernel_runs(kern) == before + 1);
  ptl_set_backend(PTL_BACKEND_REFERENCE);
  T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, n_in, &yr, 1));
  ptl_set_backend(PTL_BACKEND_AUTO);
  bool same = false;
  if (yf && yr) {
    int64_t n = ptl_tensor_numel(yr);
    same = memcmp(ptl_tensor_data(yf), ptl_tensor_data(yr), sizeof(float) * (size_t)n) == 0;
    if (!same) {
      const float *f = ptl_tensor_data(yf), *r = ptl_tensor_data(yr);
      for (int64_t i = 0; i < n; i++)
        if (memcmp(f + i, r + i, sizeof(float)) != 0) {
          fprintf(stderr,
                  "dynamic_linear %s (rr %d relu %d bias %d): element %lld fast %a ref %a\n", what,
                  reduce_range, relu, n_in > 2, (long long)i, (double)f[i], (double)r[i]);
          break;
        }
    }
  }
  T_CHECK(same);
  ptl_tensor_release(yf);
  ptl_tensor_release(yr);
  return same;
}

/* The SIMD kernel against the reference over shapes: rows 1..9 (the 4-row tile and its
 * 1..3-row tails), k not a multiple of the 2 / 4 k groups nor of 8 / 16, up to 2000,
 * n around the 16-column panel; both engines, relu, with and without bias, per-tensor
 * and per-channel weights with zero points across the int8 range. */
static void test_fast_sweep(void) {
  static const int64_t ks[] = {1,  2,  3,  5,  7,   8,   9,   15,   16,
                               17, 31, 33, 63, 100, 255, 257, 1000, 2000};
  static const int64_t ns[] = {1, 7, 15, 16, 17, 31, 32, 33, 47, 64};
  const int nk = (int)(sizeof ks / sizeof ks[0]), nn = (int)(sizeof ns / sizeof ns[0]);
  uint32_t seed = 777;
  int cases = 0, failed = 0;
  for (int64_t m = 1; m <= 9; m++) {
    for (int ki = 0; ki < nk; ki++) {
      for (int t = 0; t < 2; t++) {
        int64_t k = ks[ki], n = ns[(m * 3 + ki * 2 + t) % nn];
        int per_channel = (int)((m + ki + t) % 2);
        float *xv = malloc(sizeof(float) * (size_t)(m * k));
        int8_t *wv = malloc((size_t)(n * k));
        float *sc = malloc(sizeof(float) * (size_t)n), *bv = malloc(sizeof(float) * (size_t)n);
        int32_t *zps = malloc(sizeof(int32_t) * (size_t)n);
        if (!xv || !wv || !sc || !bv || !zps) {
          T_CHECK(!"out of memory");
          free(xv), free(wv), free(sc), free(bv), free(zps);
          return;
        }
        /* a shifted range, so x's zero point is neither 0 nor the middle */
        float lo = -(float)(lcg(&seed) % 7), hi = 0.5f + (float)(lcg(&seed) % 9);
        for (int64_t i = 0; i < m * k; i++)
          xv[i] = lo + (hi - lo) * (float)(lcg(&seed) % 10001) / 10000.0f;
        for (int64_t i = 0; i < n * k; i++)
          wv[i] = (int8_t)(int)(lcg(&seed) % 256 - 128);
        for (int64_t i = 0; i < n; i++) {
          sc[i] = 0.0005f * (float)(1 + lcg(&seed) % 64);
          zps[i] = (int32_t)(lcg(&seed) % 256) - 128;
          bv[i] = (float)(lcg(&seed) % 200) / 40.0f - 2.5f;
        }
        int64_t xs[2] = {m, k}, bs[1] = {n};
        ptl_tensor *in[3] = {t_f32(2, xs, xv), t_qi8(n, k, wv, per_channel ? (int)n : 0, sc, zps),
                             t_f32(1, bs, bv)};
        char what[64];
        snprintf(what, sizeof what, "m %lld k %lld n %lld pc %d", (long long)m, (long long)k,
                 (long long)n, per_channel);
        for (int flags = 0; flags < 8; flags++) {
          cases++;
          if (!fast_matches_reference(in, flags & 4 ? 2 : 3, flags & 1, (flags >> 1) & 1, what))
            failed++;
        }
        for (int i = 0; i < 3; i++)
          ptl_tensor_release(in[i]);
        free(xv), free(wv), free(sc), free(bv), free(zps);
      }
    }
  }
  printf("qdynamic: fast path on the %s kernel: %d of %d sweep cases bit-identical to the "
         "reference\n",
         expected_kernel(), cases - failed, cases);
}

/* Extreme values: activations at the top of the range against -128 / 127 weights with
 * k = 2000 (the largest sums), zero points at both ends (x's 0 and 255, weights' -128 and
 * 127), a tiny input range (the small-scale cut-off), huge inputs, a denormal weight scale
 * whose products underflow to -0 (relu must keep -0, as the reference's v < 0 ? 0 : v; a
 * float max would give +0), and non-finite biases. */
static void test_fast_extremes(void) {
  const int64_t m = 5, k = 2000, n = 19;
  float *xv = malloc(sizeof(float) * (size_t)(m * k));
  int8_t *wv = malloc((size_t)(n * k));
  float sc[19], bv[19];
  int32_t zps[19];
  if (!xv || !wv) {
    free(xv), free(wv);
    T_CHECK(!"out of memory");
    return;
  }
  for (int64_t i = 0; i < n * k; i++) /* columns of -128, of 127, alternating */
    wv[i] = (int8_t)(i / k % 3 == 0 ? -128 : i / k % 3 == 1 ? 127 : (i % 2 ? -128 : 127));
  for (int64_t c = 0; c < n; c++) {
    sc[c] = 0.01f;
    zps[c] = c % 3 == 0 ? 127 : c % 3 == 1 ? -128 : 0;
    bv[c] = (float)c - 9.0f;
  }
  bv[1] = INFINITY, bv[2] = -INFINITY, bv[3] = NAN, bv[4] = -0.0f;
  int64_t xs[2] = {m, k}, bs[1] = {n};
  for (int mode = 0; mode < 6; mode++) {
    for (int64_t i = 0; i < m * k; i++) {
      switch (mode) {
      case 0: /* all at x's max: quantized 255 (127 with reduce_range) */
        xv[i] = i == 0 ? 0.0f : 10.0f;
        break;
      case 1: /* all negative: x's zero point at the top, values 0 */
        xv[i] = i % 2 ? -10.0f : -0.001f;
        break;
      case 2: /* range below the small-scale cut-off */
        xv[i] = (float)(i % 7) * 1e-9f - 3e-9f;
        break;
      case 3: /* huge magnitudes */ xv[i] = i % 3 ? 3e37f : -1e37f; break;
      case 4: /* the two ends of the range alternating */ xv[i] = i % 2 ? 1000.0f : -1000.0f; break;
      default: /* all zero: scale 0.1 */ xv[i] = 0.0f; break;
      }
    }
    for (int per_channel = 0; per_channel < 2; per_channel++) {
      ptl_tensor *in[3] = {t_f32(2, xs, xv), t_qi8(n, k, wv, per_channel ? (int)n : 0, sc, zps),
                           t_f32(1, bs, bv)};
      char what[64];
      snprintf(what, sizeof what, "extreme mode %d pc %d", mode, per_channel);
      for (int flags = 0; flags < 8; flags++)
        fast_matches_reference(in, flags & 4 ? 2 : 3, flags & 1, (flags >> 1) & 1, what);
      for (int i = 0; i < 3; i++)
        ptl_tensor_release(in[i]);
    }
  }
  /* underflow to -0: a denormal weight scale times x's scale rounds to 0, so negative
   * sums give -0 outputs (fbgemm without bias keeps the bare product) */
  for (int64_t c = 0; c < n; c++)
    sc[c] = 1e-44f;
  for (int64_t i = 0; i < m * k; i++)
    xv[i] = i % 2 ? 2.0f : -1.0f;
  ptl_tensor *in[2] = {t_f32(2, xs, xv), t_qi8(n, k, wv, (int)n, sc, zps)};
  fast_matches_reference(in, 2, 1, 1, "negative zero");
  fast_matches_reference(in, 2, 0, 1, "negative zero");
  ptl_attrs a = dyn_attrs(1, 1);
  ptl_tensor *yr = NULL;
  ptl_set_backend(PTL_BACKEND_REFERENCE);
  T_OK(ptl_op_run(PTL_OP_DYNAMIC_LINEAR, &a, in, 2, &yr, 1));
  ptl_set_backend(PTL_BACKEND_AUTO);
  if (yr) { /* the case is real: the reference does produce -0 under relu */
    const float *yd = ptl_tensor_data(yr);
    int negzero = 0;
    for (int64_t i = 0; i < m * n; i++)
      negzero += yd[i] == 0.0f && signbit(yd[i]);
    T_CHECK(negzero > 0);
  }
  ptl_tensor_release(yr);
  ptl_tensor_release(in[0]);
  ptl_tensor_release(in[1]);
  free(xv), free(wv);
}

static void expect_error(ptl_op_id op, ptl_tensor **in, int n_in, ptl_status want,
                         const char *needle1, const char *needle2) {
  ptl_attrs a = dyn_attrs(0, 0);
  ptl_tensor *y = NULL;
  ptl_status s = ptl_op_run(op, &a, in, n_in, &y, 1);
  T_CHECK(s == want);
  const char *msg = ptl_last_error_message();
  T_CHECK(msg && strstr(msg, needle1) != NULL);
  T_CHECK(msg && (!needle2 || strstr(msg, needle2) != NULL));
  ptl_tensor_release(y);
}

static void test_errors(void) {
  const float scale = 0.1f;
  const int32_t zp = 0;
  int8_t wv[20] = {0};
  int64_t s35[2] = {3, 5}, s36[2] = {3, 6}, s45[2] = {4, 5}, s5[1] = {5};
  ptl_tensor *x = t_f32(2, s35, NULL), *x6 = t_f32(2, s36, NULL), *wf = t_f32(2, s45, NULL);
  ptl_tensor *w = t_qi8(4, 5, wv, 0, &scale, &zp), *b5 = t_f32(1, s5, NULL);
  ptl_tensor *in1[2] = {x, wf};
  expect_error(PTL_OP_DYNAMIC_LINEAR, in1, 2, PTL_ERR_DTYPE, "dynamic_linear", "QInt8");
  ptl_tensor *in2[2] = {x6, w};
  expect_error(PTL_OP_DYNAMIC_LINEAR, in2, 2, PTL_ERR_SHAPE, "dynamic_linear", "[3, 6]");
  ptl_tensor *in3[3] = {x, w, b5};
  expect_error(PTL_OP_DYNAMIC_LINEAR, in3, 3, PTL_ERR_SHAPE, "dynamic_linear: bias", "[5]");
  ptl_tensor *in4[2] = {w, w};
  expect_error(PTL_OP_DYNAMIC_LINEAR, in4, 2, PTL_ERR_DTYPE, "dynamic_linear", "float32");
  ptl_tensor *in5[2] = {x, w};
  expect_error(PTL_OP_LINEAR_FP16, in5, 2, PTL_ERR_DTYPE, "linear_fp16", "Half");
  /* NaN input: torch fails choosing qparams ("quantization scale should be > 0") */
  float *xd = ptl_tensor_data(x);
  xd[3] = NAN;
  ptl_tensor *in6[2] = {x, w};
  expect_error(PTL_OP_DYNAMIC_LINEAR, in6, 2, PTL_ERR_INVALID_ARGUMENT, "dynamic_linear",
               "scale should be > 0");
  ptl_tensor_release(x), ptl_tensor_release(x6), ptl_tensor_release(wf);
  ptl_tensor_release(w), ptl_tensor_release(b5);
}

/* LINEAR_FP16: float16 weight, float32 arithmetic; small integers make every path exact. */
static void test_fp16(void) {
  const float xv[6] = {1, 2, 3, -1, 0.5f, 4};
  const float wf[6] = {0.5f, -1, 2, 1.5f, 0.25f, -3};
  const float bv[2] = {1, -2};
  int64_t xs[2] = {2, 3}, ws[2] = {2, 3}, bs[1] = {2};
  ptl_tensor *w = NULL;
  T_OK(ptl_tensor_create(PTL_FLOAT16, 2, ws, &w));
  if (!w)
    return;
  uint16_t *wd = ptl_tensor_data(w);
  for (int i = 0; i < 6; i++)
    wd[i] = ptl_float_to_half(wf[i]);
  ptl_tensor *in[3] = {t_f32(2, xs, xv), w, t_f32(1, bs, bv)};
  /* y = x @ w.T + b */
  const float want[4] = {0.5f - 2 + 6 + 1, 1.5f + 0.5f - 9 - 2, -0.5f - 0.5f + 8 + 1,
                         -1.5f + 0.125f - 12 - 2};
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    for (int relu = 0; relu < 2; relu++) {
      ptl_attrs a = {0};
      a.n_ints = 1;
      a.ints[0] = relu;
      ptl_tensor *y = NULL;
      T_OK(ptl_op_run(PTL_OP_LINEAR_FP16, &a, in, 3, &y, 1));
      if (y) {
        const float *yd = ptl_tensor_data(y);
        for (int i = 0; i < 4; i++)
          T_CHECK(yd[i] == (relu && want[i] < 0 ? 0.0f : want[i]));
      }
      ptl_tensor_release(y);
    }
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  for (int i = 0; i < 3; i++)
    ptl_tensor_release(in[i]);
}

void test_qdynamic(void) {
  test_small_vs_torch();
  test_small_reduce_range_vs_torch_x86();
  test_reduce_range_top_128();
  test_fast_equals_reference();
  test_fast_sweep();
  test_fast_extremes();
  test_errors();
  test_fp16();
}
