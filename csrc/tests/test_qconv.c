/* test_qconv.c - C tests of kernels/qconv.c: hand-computed quantized conv / linear
 * values (qnnpack arithmetic), the XNNPACK fast paths run directly (so a silent
 * fallback to the reference would be noticed) against the reference, and error
 * statuses. */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "test_util.h"

/* Quantizes float `values` per tensor (QUANTIZE_PER_TENSOR, as ptlite.quantize_per_tensor). */
static ptl_tensor *t_q(int ndim, const int64_t *shape, const float *values, double scale,
                       int64_t zp, ptl_dtype d) {
  ptl_tensor *f = t_f32(ndim, shape, values), *q = NULL;
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = zp;
  a.ints[1] = d;
  a.n_floats = 1;
  a.floats[0] = scale;
  if (f)
    T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &f, 1, &q, 1));
  ptl_tensor_release(f);
  return q;
}

/* Per-channel qint8 along axis 0 with zero points 0. */
static ptl_tensor *t_qpc(int ndim, const int64_t *shape, const float *values, const float *scales) {
  int64_t c = shape[0];
  ptl_tensor *f = t_f32(ndim, shape, values), *s = t_f32(1, &c, scales), *z = NULL, *q = NULL;
  T_OK(ptl_tensor_create(PTL_INT64, 1, &c, &z));
  if (!f || !s || !z)
    goto out;
  memset(ptl_tensor_data(z), 0, sizeof(int64_t) * (size_t)c);
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = 0;
  a.ints[1] = PTL_QINT8;
  ptl_tensor *in[3] = {f, s, z};
  T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_CHANNEL, &a, in, 3, &q, 1));
out:
  ptl_tensor_release(f);
  ptl_tensor_release(s);
  ptl_tensor_release(z);
  return q;
}

static ptl_attrs conv_attrs(int64_t stride, int64_t pad, int64_t groups, int relu, int64_t ozp,
                            double oscale) {
  ptl_attrs a = {0};
  a.n_ints = 9;
  a.ints[0] = a.ints[1] = stride;
  a.ints[2] = a.ints[3] = pad;
  a.ints[4] = a.ints[5] = 1;
  a.ints[6] = groups;
  a.ints[7] = relu;
  a.ints[8] = ozp;
  a.n_floats = 1;
  a.floats[0] = oscale;
  return a;
}

/* The stored integers of a quint8 tensor in logical (row-major) order. */
static void q_values(const ptl_tensor *t, int64_t *out) {
  const uint8_t *d = ptl_tensor_data(t);
  int64_t idx[PTL_MAX_DIMS] = {0};
  int64_t n = ptl_tensor_numel(t);
  for (int64_t i = 0; i < n; i++) {
    int64_t off = 0;
    for (int k = 0; k < t->ndim; k++)
      off += idx[k] * t->strides[k];
    out[i] = d[off];
    for (int k = t->ndim - 1; k >= 0; k--) {
      if (++idx[k] < t->shape[k])
        break;
      idx[k] = 0;
    }
  }
}

/* x ints 10..26 step 2 (scale 0.5, zp 10), w [[1, -1], [2, 0]] (scale 0.25), bias 1.0
 * -> int32 bias 8 (1.0 / (0.25 * 0.5)); accumulators 10, 14, 22, 26 (+8) times the
 * requantization scale 0.125 -> 2.25, 2.75, 3.75, 4.25 -> 2, 3, 4, 4 (+ zp 5). Negated
 * weights: -0.25, -0.75, -1.75, -2.25 -> 0, -1, -2, -2 (half-even), relu floors at 5. */
static void test_hand_conv(void) {
  const float xv[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  const float wv[4] = {0.25f, -0.25f, 0.5f, 0.0f}, wn[4] = {-0.25f, 0.25f, -0.5f, 0.0f};
  const float bv[1] = {1.0f};
  int64_t xs[4] = {1, 1, 3, 3}, ws[4] = {1, 1, 2, 2}, bs[1] = {1};
  ptl_tensor *x = t_q(4, xs, xv, 0.5, 10, PTL_QUINT8);
  ptl_tensor *w = t_q(4, ws, wv, 0.25, 0, PTL_QINT8);
  ptl_tensor *wneg = t_q(4, ws, wn, 0.25, 0, PTL_QINT8);
  ptl_tensor *b = t_f32(1, bs, bv);
  static const int64_t want[3][4] = {{7, 8, 9, 9}, {5, 4, 3, 3}, {5, 5, 5, 5}};
  for (int be = 0; be < 2; be++) {
    ptl_set_backend(be ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    for (int c = 0; c < 3; c++) {
      ptl_attrs a = conv_attrs(1, 0, 1, c == 2, 5, 1.0);
      ptl_tensor *in[3] = {x, c == 0 ? w : wneg, b}, *y = NULL;
      T_OK(ptl_op_run(PTL_OP_QCONV2D, &a, in, 3, &y, 1));
      if (!y)
        continue;
      int64_t got[4];
      T_CHECK(ptl_tensor_dtype(y) == PTL_QUINT8 && ptl_tensor_numel(y) == 4);
      T_CHECK(y->qparams && y->qparams->scale[0] == 1.0f && y->qparams->zero_point[0] == 5);
      q_values(y, got);
      for (int i = 0; i < 4; i++)
        T_CHECK(got[i] == want[c][i]);
      ptl_tensor_release(y);
    }
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
  ptl_tensor_release(wneg);
  ptl_tensor_release(b);
}

/* x [1, 2, 3] (scale 1, zp 0), w [[1, 0, -1], [2, 2, 2]] -> -2, 12; out zp 100. */
static void test_hand_linear(void) {
  const float xv[3] = {1, 2, 3}, wv[6] = {1, 0, -1, 2, 2, 2};
  int64_t xs[2] = {1, 3}, ws[2] = {2, 3};
  ptl_tensor *x = t_q(2, xs, xv, 1.0, 0, PTL_QUINT8);
  ptl_tensor *w = t_q(2, ws, wv, 1.0, 0, PTL_QINT8);
  for (int be = 0; be < 2; be++) {
    ptl_set_backend(be ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    ptl_attrs a = {0};
    a.n_ints = 2;
    a.ints[1] = 100;
    a.n_floats = 1;
    a.floats[0] = 1.0;
    ptl_tensor *in[2] = {x, w}, *y = NULL;
    T_OK(ptl_op_run(PTL_OP_QLINEAR, &a, in, 2, &y, 1));
    if (y) {
      int64_t got[2];
      q_values(y, got);
      T_CHECK(got[0] == 98 && got[1] == 112);
      ptl_tensor_release(y);
    }
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
}

/* Runs op's FAST kernel directly (it must not decline) and REF on separate outputs. */
static void fast_vs_ref(ptl_op_id op, const ptl_attrs *a, ptl_tensor **in, int n_in) {
  const ptl_op_def *def = ptl_op_lookup(op);
  ptl_tensor_desc d = {0};
  ptl_call c = {op, a, in, n_in, NULL, 1, PTL_BACKEND_AUTO};
  T_OK(def->infer(&c, &d));
  ptl_tensor *yf = NULL, *yr = NULL;
  T_OK(ptl_tensor_from_desc(&d, &yf));
  T_OK(ptl_tensor_from_desc(&d, &yr));
  if (!yf || !yr)
    goto out;
  c.out = &yf;
  T_OK(def->fast(&c));
  c.out = &yr;
  c.backend = PTL_BACKEND_REFERENCE;
  T_OK(def->ref(&c));
  int64_t n = ptl_tensor_numel(yf);
  int64_t *vf = malloc(sizeof(int64_t) * (size_t)n), *vr = malloc(sizeof(int64_t) * (size_t)n);
  if (vf && vr) {
    q_values(yf, vf);
    q_values(yr, vr);
    int64_t diff = 0;
    for (int64_t i = 0; i < n; i++)
      diff += vf[i] != vr[i];
    T_CHECK(diff == 0);
  }
  free(vf);
  free(vr);
out:
  ptl_tensor_release(yf);
  ptl_tensor_release(yr);
}

static void fill_pattern(float *v, int64_t n, float amp, unsigned seed) {
  for (int64_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    v[i] = amp * ((float)((seed >> 8) & 0xffff) / 32768.0f - 1.0f);
  }
}

static void test_fast_paths(void) {
  float xv[2 * 8 * 7 * 7], wv[8 * 8 * 3 * 3], bv[8], sc[8];
  fill_pattern(xv, 2 * 8 * 7 * 7, 3.0f, 1);
  fill_pattern(wv, 8 * 8 * 3 * 3, 1.0f, 2);
  fill_pattern(bv, 8, 2.0f, 3);
  for (int i = 0; i < 8; i++)
    sc[i] = 0.004f + 0.001f * (float)i;
  int64_t xs[4] = {2, 8, 7, 7}, ws[4] = {8, 8, 3, 3}, dws[4] = {8, 1, 3, 3}, bs[1] = {8};
  ptl_tensor *x = t_q(4, xs, xv, 0.03, 131, PTL_QUINT8);
  ptl_tensor *w = t_q(4, ws, wv, 0.008, 0, PTL_QINT8);
  ptl_tensor *wz = t_q(4, ws, wv, 0.008, 7, PTL_QINT8); /* asymmetric: still qu8 */
  ptl_tensor *wc = t_qpc(4, ws, wv, sc);
  ptl_tensor *wdw = t_qpc(4, dws, wv, sc);
  ptl_tensor *b = t_f32(1, bs, bv);
  if (!x || !w || !wz || !wc || !wdw || !b)
    goto out;
  for (int relu = 0; relu < 2; relu++) {
    ptl_attrs a = conv_attrs(1, 1, 1, relu, 120, 0.05);
    ptl_tensor *in[3] = {x, w, b};
    fast_vs_ref(PTL_OP_QCONV2D, &a, in, 3);
    in[1] = wz;
    fast_vs_ref(PTL_OP_QCONV2D, &a, in, 3);
    in[1] = wc;
    fast_vs_ref(PTL_OP_QCONV2D, &a, in, 3);
    ptl_attrs dw = conv_attrs(2, 1, 8, relu, 3, 0.02);
    in[1] = wdw;
    fast_vs_ref(PTL_OP_QCONV2D, &dw, in, 3);
  }
  /* transposed: w [I=8, O/g=8, 3, 3], stride 2, output_padding 1 */
  ptl_attrs t = {0};
  t.n_ints = 10;
  t.ints[0] = t.ints[1] = 2;
  t.ints[2] = t.ints[3] = 1;
  t.ints[4] = t.ints[5] = 1;
  t.ints[6] = t.ints[7] = 1;
  t.ints[8] = 1;
  t.ints[9] = 77;
  t.n_floats = 1;
  t.floats[0] = 0.1;
  ptl_tensor *tin[3] = {x, w, b};
  fast_vs_ref(PTL_OP_QCONV_TRANSPOSE2D, &t, tin, 3);
  /* linear over x viewed as [2 * 8 * 7, 7]: per tensor (qu8 FC) and per channel (qc8) */
  {
    int64_t lx[2] = {112, 7}, lw[2] = {8, 7};
    ptl_tensor *xl = t_q(2, lx, xv, 0.03, 5, PTL_QUINT8);
    ptl_tensor *wl = t_q(2, lw, wv, 0.01, 0, PTL_QINT8);
    ptl_tensor *wlc = t_qpc(2, lw, wv, sc);
    ptl_attrs la = {0};
    la.n_ints = 2;
    la.ints[0] = 1;
    la.ints[1] = 40;
    la.n_floats = 1;
    la.floats[0] = 0.04;
    if (xl && wl && wlc) {
      ptl_tensor *in[3] = {xl, wl, b};
      fast_vs_ref(PTL_OP_QLINEAR, &la, in, 3);
      in[1] = wlc;
      fast_vs_ref(PTL_OP_QLINEAR, &la, in, 3);
    }
    ptl_tensor_release(xl);
    ptl_tensor_release(wl);
    ptl_tensor_release(wlc);
  }
out:
  ptl_tensor_release(x);
  ptl_tensor_release(w);
  ptl_tensor_release(wz);
  ptl_tensor_release(wc);
  ptl_tensor_release(wdw);
  ptl_tensor_release(b);
}

static void test_errors(void) {
  const float v[16] = {0};
  int64_t xs[4] = {1, 4, 2, 2}, ws[4] = {2, 4, 1, 1}, w3[4] = {2, 3, 1, 1}, l1[1] = {4},
          lw[2] = {2, 4};
  ptl_tensor *xf = t_f32(4, xs, v);
  ptl_tensor *x = t_q(4, xs, v, 0.1, 0, PTL_QUINT8);
  ptl_tensor *w = t_q(4, ws, v, 0.1, 0, PTL_QINT8);
  ptl_tensor *wbad = t_q(4, w3, v, 0.1, 0, PTL_QINT8);
  ptl_tensor *x1 = t_q(1, l1, v, 0.1, 0, PTL_QUINT8);
  ptl_tensor *wl = t_q(2, lw, v, 0.1, 0, PTL_QINT8);
  ptl_attrs a = conv_attrs(1, 0, 1, 0, 0, 1.0);
  ptl_tensor *y = NULL;
  ptl_tensor *in[2] = {xf, w};
  T_CHECK(ptl_op_run(PTL_OP_QCONV2D, &a, in, 2, &y, 1) == PTL_ERR_DTYPE);
  T_CHECK(strstr(ptl_last_error_message(), "quantized_conv2d") != NULL);
  in[0] = x;
  in[1] = x;
  T_CHECK(ptl_op_run(PTL_OP_QCONV2D, &a, in, 2, &y, 1) == PTL_ERR_DTYPE);
  in[1] = wbad;
  T_CHECK(ptl_op_run(PTL_OP_QCONV2D, &a, in, 2, &y, 1) == PTL_ERR_SHAPE);
  in[1] = w;
  a.ints[8] = 256;
  T_CHECK(ptl_op_run(PTL_OP_QCONV2D, &a, in, 2, &y, 1) == PTL_ERR_INVALID_ARGUMENT);
  a.ints[8] = 0;
  a.floats[0] = 0.0;
  T_CHECK(ptl_op_run(PTL_OP_QCONV2D, &a, in, 2, &y, 1) == PTL_ERR_INVALID_ARGUMENT);
  ptl_attrs la = {0};
  la.n_ints = 2;
  la.n_floats = 1;
  la.floats[0] = 1.0;
  ptl_tensor *lin[2] = {x1, wl};
  T_CHECK(ptl_op_run(PTL_OP_QLINEAR, &la, lin, 2, &y, 1) == PTL_ERR_SHAPE);
  T_CHECK(y == NULL);
  ptl_tensor_release(xf);
  ptl_tensor_release(x);
  ptl_tensor_release(w);
  ptl_tensor_release(wbad);
  ptl_tensor_release(x1);
  ptl_tensor_release(wl);
}

static void test_qdw_direct(void);

void test_qconv(void) {
  test_hand_conv();
  test_hand_linear();
  test_fast_paths();
  test_errors();
  test_qdw_direct();
}

/* ---- the AVX2 depthwise kernel (kernels/qdw_avx2.c) called directly -----------------------
 * Called directly so a silent fallback cannot pass: every geometry must return PTL_OK and match
 * a scalar model of the reference (taps outside the image add nothing, ptl_requantize) bit for
 * bit at 1 and 2 threads, leaving the bytes between output pixels alone. */
#include "kernels/qdw.h"
#include "kernels/qmath.h"

static uint32_t qdw_rng = 12345u;
static int qdw_rand(int lo, int hi) { /* [lo, hi] */
  qdw_rng = qdw_rng * 1664525u + 1013904223u;
  return lo + (int)((qdw_rng >> 8) % (uint32_t)(hi - lo + 1));
}

/* g: n, h, w, c, kh, kw, sh, sw, pt, pl (oh, ow derived); in / out pixel padding; x_zp;
 * qmin / qmax relative to the output zero point (qmin < 0: 0). */
static void qdw_case(const int64_t *gin, int64_t in_extra, int64_t out_extra, int32_t xzp,
                     bool relu, int32_t qmax) {
  int64_t g[12];
  memcpy(g, gin, 10 * sizeof(int64_t));
  g[QDW_OH] = (g[QDW_H] + 2 * g[QDW_PT] - g[QDW_KH]) / g[QDW_SH] + 1;
  g[QDW_OW] = (g[QDW_W] + 2 * g[QDW_PL] - g[QDW_KW]) / g[QDW_SW] + 1;
  const int64_t N = g[0], H = g[1], W = g[2], C = g[3], KH = g[4], KW = g[5], OH = g[10],
                OW = g[11];
  const int64_t in_pix = C + in_extra, out_pix = C + out_extra;
  const int32_t ozp = 100, qmin = relu ? ozp : 0;
  uint8_t *x = malloc((size_t)(N * H * W * in_pix));
  int8_t *w = malloc((size_t)(C * KH * KW));
  int32_t *bias = malloc((size_t)C * sizeof(int32_t));
  float *rs = malloc((size_t)C * sizeof(float));
  size_t ny = (size_t)(N * OH * OW * out_pix);
  uint8_t *y = malloc(ny), *e = malloc(ny);
  if (!x || !w || !bias || !rs || !y || !e) {
    T_CHECK(!"out of memory");
    goto out;
  }
  for (int64_t i = 0; i < N * H * W * in_pix; i++)
    x[i] = (uint8_t)qdw_rand(0, 255);
  for (int64_t i = 0; i < C * KH * KW; i++)
    w[i] = (int8_t)qdw_rand(-128, 127);
  w[0] = -128;
  for (int64_t c = 0; c < C; c++) {
    bias[c] = qdw_rand(-20000, 20000);
    rs[c] = 0.002f * (float)qdw_rand(1, 8) / (float)(KH * KW);
  }
  for (size_t i = 0; i < ny; i++)
    e[i] = (uint8_t)(i * 7);
  for (int64_t n = 0; n < N; n++)
    for (int64_t oy = 0; oy < OH; oy++)
      for (int64_t ox = 0; ox < OW; ox++)
        for (int64_t c = 0; c < C; c++) {
          int32_t acc = bias[c];
          for (int64_t ky = 0; ky < KH; ky++)
            for (int64_t kx = 0; kx < KW; kx++) {
              int64_t iy = oy * g[QDW_SH] - g[QDW_PT] + ky, ix = ox * g[QDW_SW] - g[QDW_PL] + kx;
              if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                acc += ((int32_t)x[((n * H + iy) * W + ix) * in_pix + c] - xzp) *
                       w[(c * KH + ky) * KW + kx];
            }
          e[((n * OH + oy) * OW + ox) * out_pix + c] =
              (uint8_t)ptl_requantize(acc, rs[c], ozp, qmin, qmax);
        }
  const int prev_threads = ptl_get_num_threads();
  void *pk = ptl_qdw_pack(w, C, KH, KW);
  T_CHECK(pk != NULL);
  for (int threads = 1; pk && threads <= 2; threads++) {
    T_OK(ptl_set_num_threads(threads));
    for (size_t i = 0; i < ny; i++)
      y[i] = (uint8_t)(i * 7);
    T_OK(ptl_qdw_conv(pk, g, x, in_pix, xzp, ozp, qmin, qmax, bias, rs, y, out_pix));
    size_t bad = 0;
    for (size_t i = 0; i < ny; i++)
      bad += y[i] != e[i];
    T_CHECK(bad == 0);
    if (bad)
      fprintf(stderr,
              "qdw %lldx%lldx%lldx%lld k%lldx%lld s%lld,%lld p%lld,%lld pix +%lld/+%lld "
              "xzp %d relu %d qmax %d threads %d: %zu bytes differ\n",
              (long long)N, (long long)H, (long long)W, (long long)C, (long long)KH, (long long)KW,
              (long long)g[6], (long long)g[7], (long long)g[8], (long long)g[9],
              (long long)in_extra, (long long)out_extra, xzp, relu, qmax, threads, bad);
  }
  ptl_qdw_packed_destroy(pk);
  T_OK(ptl_set_num_threads(prev_threads));
out:
  free(x);
  free(w);
  free(bias);
  free(rs);
  free(y);
  free(e);
}

static void test_qdw_direct(void) {
  if (!ptl_qdw_available())
    return;
  /* n, h, w, c, kh, kw, sh, sw, pt, pl */
  static const int64_t geoms[][10] = {
      {1, 9, 11, 16, 3, 3, 1, 1, 1, 1}, /* the 3x3 register kernels */
      {1, 10, 13, 32, 3, 3, 2, 2, 1, 1},
      {2, 7, 6, 17, 3, 3, 1, 1, 1, 1}, /* batch 2, a 1-channel tail block */
      {1, 8, 9, 7, 3, 3, 2, 2, 1, 1},  /* C < 16 */
      {1, 6, 5, 24, 3, 3, 1, 2, 0, 0}, /* no padding, stride (1, 2) */
      {1, 7, 8, 40, 3, 3, 2, 1, 2, 2}, /* padding 2: whole padding columns and rows */
      {1, 4, 3, 33, 3, 3, 1, 1, 3, 3}, /* padding 3 > the image's width */
      {1, 5, 1, 16, 3, 3, 1, 1, 1, 1}, /* one column */
      {1, 3, 2, 48, 3, 3, 2, 2, 1, 1},
      {1, 9, 10, 20, 3, 3, 3, 3, 1, 1}, /* stride 3: the pair-row path */
      {1, 8, 8, 16, 1, 1, 1, 1, 0, 0},  /* other kernels: the pair-row path */
      {1, 8, 9, 9, 2, 2, 1, 1, 1, 0},
      {2, 9, 9, 18, 5, 5, 1, 1, 2, 2},
      {1, 11, 10, 12, 7, 7, 2, 2, 3, 3},
      {1, 9, 12, 16, 3, 5, 1, 2, 1, 2},
      {1, 12, 7, 31, 5, 3, 2, 1, 2, 1},
      {1, 6, 9, 8, 1, 7, 1, 1, 0, 3},
  };
  const int ng = (int)(sizeof geoms / sizeof geoms[0]);
  for (int i = 0; i < ng; i++) {
    qdw_case(geoms[i], 0, 0, 0, false, 255);
    qdw_case(geoms[i], 5, 3, 77, true, 255);
    qdw_case(geoms[i], 16, 0, 255, false, 180); /* a fused relu6-like ceiling */
    qdw_case(geoms[i], 1, 9, 128, true, 150);
  }
}
