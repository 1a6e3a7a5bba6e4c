/* test_qgemm.c - C tests of kernels/qgemm_avx2.c called directly (so a silent
 * fallback to another path would be noticed): the vpmaddubsw conv against a plain
 * loop with qconv.c's arithmetic over many geometries, with activations at and above
 * 127 (the clamp and fix-up), refusal of mostly-hot inputs, and the size guards. */
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "kernels/qgemm.h"
#include "kernels/qmath.h"
#include "test_util.h"

static unsigned lcg(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 8) & 0xffffff;
}

/* y = requantize(qbias + sum (x - xzp) * w) with taps in the padding skipped. */
static void naive_conv(const ptl_qgemm_geom *g, const uint8_t *x, int64_t in_pix, const int8_t *w,
                       const ptl_qgemm_quant *q, uint8_t *y) {
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++)
        for (int64_t o = 0; o < g->o; o++) {
          int64_t acc = q->qbias[o];
          for (int64_t ky = 0; ky < g->kh; ky++)
            for (int64_t kx = 0; kx < g->kw; kx++) {
              int64_t iy = oy * g->sh - g->pt + ky * g->dh, ix = ox * g->sw - g->pl + kx * g->dw;
              if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w)
                continue;
              const uint8_t *px = x + ((n * g->h + iy) * g->w + ix) * in_pix;
              const int8_t *wk = w + ((o * g->kh + ky) * g->kw + kx) * g->c;
              for (int64_t c = 0; c < g->c; c++)
                acc += (int64_t)(px[c] - q->xzp) * wk[c];
            }
          y[((n * g->oh + oy) * g->ow + ox) * g->o + o] =
              (uint8_t)ptl_requantize((int32_t)acc, q->rscale[o], q->ozp, q->qmin, q->qmax);
        }
}

/* ptl_qgemm_conv against naive_conv, bit for bit. */
static void compare(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, const uint8_t *x,
                    int64_t in_pix, const int8_t *w, const ptl_qgemm_quant *q, uint8_t *y,
                    uint8_t *yr) {
  int64_t ny = g->n * g->oh * g->ow * g->o;
  naive_conv(g, x, in_pix, w, q, yr);
  memset(y, 0xAB, (size_t)ny);
  T_OK(ptl_qgemm_conv(p, g, x, in_pix, q, y, g->o));
  int64_t diff = 0, distinct = 0;
  for (int64_t i = 0; i < ny; i++) {
    diff += y[i] != yr[i];
    distinct += i > 0 && yr[i] != yr[i - 1];
  }
  T_CHECK(diff == 0);
  /* the outputs are not a constant (the check can fail); under a ceiling below 255 the
   * caller checks the clamp instead */
  T_CHECK(q->qmax < 255 || distinct > ny / 4);
}

/* One geometry: x in [0, 127] (pixel stride in_pix >= c), full-range weights. */
static void check_geom(ptl_qgemm_geom g, int64_t in_pix, unsigned seed, bool relu) {
  g.oh = (g.h + 2 * g.pt - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.ow = (g.w + 2 * g.pl - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  T_CHECK(ptl_qgemm_geom_ok(&g));
  int64_t nx = g.n * g.h * g.w * in_pix, nw = g.o * g.kh * g.kw * g.c;
  int64_t ny = g.n * g.oh * g.ow * g.o;
  uint8_t *x = malloc((size_t)nx), *y = malloc((size_t)ny), *yr = malloc((size_t)ny);
  int8_t *w = malloc((size_t)nw);
  int32_t *qb = malloc(sizeof(int32_t) * (size_t)g.o);
  float *rs = malloc(sizeof(float) * (size_t)g.o);
  ptl_qgemm_packed *p = NULL;
  if (!x || !y || !yr || !w || !qb || !rs)
    goto out;
  for (int64_t i = 0; i < nx; i++)
    x[i] = (uint8_t)(lcg(&seed) % 128);
  x[0] = 127;
  for (int64_t i = 0; i < nw; i++)
    w[i] = (int8_t)(int)(lcg(&seed) % 256 - 128);
  w[0] = -128;
  for (int64_t o = 0; o < g.o; o++) {
    qb[o] = (int32_t)(lcg(&seed) % 20001) - 10000;
    rs[o] = 0.0005f + 0.0001f * (float)(lcg(&seed) % 50);
  }
  int32_t ozp = (int32_t)(lcg(&seed) % 256);
  ptl_qgemm_quant q = {(int32_t)(lcg(&seed) % 128), ozp, relu ? ozp : 0, 255, qb, rs};
  T_OK(ptl_qgemm_pack(&g, w, &p));
  if (!p)
    goto out;
  compare(p, &g, x, in_pix, w, &q, y, yr);
  /* a ceiling below 255 (a fused relu6): some outputs end at it, none above */
  int64_t hist[256] = {0}, cum = 0;
  for (int64_t i = 0; i < ny; i++)
    hist[y[i]]++;
  q.qmax = 255; /* the top quarter of the unclamped outputs gets clamped */
  while (q.qmax > q.qmin && cum + hist[q.qmax] <= ny / 4)
    cum += hist[q.qmax--];
  compare(p, &g, x, in_pix, w, &q, y, yr);
  int64_t at_max = 0, above = 0;
  for (int64_t i = 0; i < ny; i++) {
    at_max += y[i] == q.qmax;
    above += y[i] > q.qmax;
  }
  T_CHECK(at_max > 0 && above == 0);
  q.qmax = 255;
  /* a few bytes above 127 (clamped in the kernel, the remainder fixed up per output
   * pixel), the extreme 255 among them */
  x[nx / 2] = 200;
  x[nx - 1] = 255;
  x[in_pix] = 128;
  compare(p, &g, x, in_pix, w, &q, y, yr);
  /* as many hot bytes as taken (m_total * c / 256 + 16, 3 already): neighbouring
   * output pixels share fix-up rows */
  int64_t take = g.n * g.oh * g.ow * g.c / 256 + 13;
  for (int64_t k = 0, i = 5; k < take && i < nx; k++, i += nx / (take + 1) + 1)
    x[i] = x[i] > 127 ? x[i] : (uint8_t)(128 + lcg(&seed) % 128);
  compare(p, &g, x, in_pix, w, &q, y, yr);
  /* refused, nothing written: an x_zp above 127 (the padding would need fix-ups), and
   * activations mostly above 127 (quantized to 0..255) */
  memset(y, 0xAB, (size_t)ny);
  int32_t xzp = q.xzp;
  q.xzp = 128;
  T_CHECK(ptl_qgemm_conv(p, &g, x, in_pix, &q, y, g.o) == PTL_ERR_UNSUPPORTED);
  q.xzp = xzp;
  for (int64_t i = 0; i < nx; i++)
    x[i] = (uint8_t)(128 + lcg(&seed) % 128);
  T_CHECK(ptl_qgemm_conv(p, &g, x, in_pix, &q, y, g.o) == PTL_ERR_UNSUPPORTED);
  bool untouched = true;
  for (int64_t i = 0; i < ny; i++)
    untouched &= y[i] == 0xAB;
  T_CHECK(untouched);
out:
  ptl_qgemm_packed_destroy(p);
  free(x);
  free(y);
  free(yr);
  free(w);
  free(qb);
  free(rs);
}

static void test_kernel_geometries(void) {
  if (!ptl_qgemm_available())
    return; /* not an AVX2 machine: qconv.c never calls it */
  /* n, h, w, c, o, kh, kw, sh, sw, pt, pl, dh, dw (oh, ow computed) */
  const ptl_qgemm_geom gs[] = {
      {1, 7, 7, 16, 32, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},
      {2, 6, 5, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0},
      {1, 9, 9, 24, 40, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},
      {1, 10, 10, 8, 17, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0},
      {1, 17, 15, 3, 16, 7, 7, 2, 2, 3, 3, 1, 1, 0, 0},
      {1, 8, 8, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0},
      {1, 8, 9, 5, 33, 3, 2, 1, 2, 1, 0, 1, 1, 0, 0},
      {3, 5, 5, 64, 64, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},
      {1, 9, 9, 10, 12, 3, 3, 1, 1, 1, 1, 2, 1, 0, 0},
      {1, 40, 1, 100, 9, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},
      {2, 4, 4, 12, 48, 2, 2, 2, 2, 0, 0, 1, 1, 0, 0},
  };
  for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
    check_geom(gs[i], gs[i].c, (unsigned)i + 1, i % 2 == 0);
    if (gs[i].c % 4 == 0) /* a channel slice: pixels further apart than c */
      check_geom(gs[i], gs[i].c + 8, (unsigned)i + 50, i % 2 == 1);
  }
}

/* ptl_qgemm_conv_strided with an input in NCHW memory (what quantize_per_tensor of an
 * image gives the stem) and with channels-last pixels further apart than c: the same
 * bits as naive_conv over a dense NHWC copy, at 1, 2 and 3 threads (im2col rows are
 * built in parallel). Stems (im2col and row layouts), small-c windows, 1x1 and a
 * 4-channel 3x3 (gathered into a dense copy), batch 2, relu, a ceiling below 255 and
 * bytes above 127 (in the padded image's fix-up path). */
static void check_strided(ptl_qgemm_geom g, unsigned seed, bool relu, int32_t qmax, int hot) {
  g.oh = (g.h + 2 * g.pt - g.dh * (g.kh - 1) - 1) / g.sh + 1;
  g.ow = (g.w + 2 * g.pl - g.dw * (g.kw - 1) - 1) / g.sw + 1;
  T_CHECK(ptl_qgemm_geom_ok(&g));
  int64_t npix = g.n * g.h * g.w, nx = npix * g.c, nw = g.o * g.kh * g.kw * g.c;
  int64_t ny = g.n * g.oh * g.ow * g.o, cs = g.c + 5; /* channels-last pixel stride */
  uint8_t *dense = malloc((size_t)nx), *nchw = malloc((size_t)nx);
  uint8_t *cl = malloc((size_t)(npix * cs)), *y = malloc((size_t)ny), *yr = malloc((size_t)ny);
  int8_t *w = malloc((size_t)nw);
  int32_t *qb = malloc(sizeof(int32_t) * (size_t)g.o);
  float *rs = malloc(sizeof(float) * (size_t)g.o);
  ptl_qgemm_packed *p = NULL;
  if (!dense || !nchw || !cl || !y || !yr || !w || !qb || !rs)
    goto out;
  for (int64_t i = 0; i < nx; i++)
    dense[i] = (uint8_t)(lcg(&seed) % 128);
  for (int k = 0; k < hot && hot > 1; k++) /* hot == 1: only the last two bytes */
    dense[lcg(&seed) % (unsigned)nx] = (uint8_t)(128 + lcg(&seed) % 128);
  if (hot) /* one vpmaddubsw pair of the last pixel: unclamped, its sums saturate */
    dense[nx - 1] = 255;
  if (hot && nx > 1)
    dense[nx - 2] = 250;
  memset(cl, 0xEE, (size_t)(npix * cs)); /* bytes between pixels: never read */
  for (int64_t i = 0; i < npix; i++)
    for (int64_t ch = 0; ch < g.c; ch++) {
      int64_t n = i / (g.h * g.w), hw = i % (g.h * g.w);
      nchw[(n * g.c + ch) * g.h * g.w + hw] = dense[i * g.c + ch];
      cl[i * cs + ch] = dense[i * g.c + ch];
    }
  for (int64_t i = 0; i < nw; i++)
    w[i] = (int8_t)(int)(lcg(&seed) % 256 - 128);
  for (int64_t o = 0; o < g.o; o++) {
    qb[o] = (int32_t)(lcg(&seed) % 20001) - 10000;
    rs[o] = 0.0005f + 0.0001f * (float)(lcg(&seed) % 50);
  }
  int32_t ozp = (int32_t)(lcg(&seed) % (qmax < 255 ? 100 : 200)); /* below the ceiling */
  ptl_qgemm_quant q = {(int32_t)(lcg(&seed) % 128), ozp, relu ? ozp : 0, qmax, qb, rs};
  T_OK(ptl_qgemm_pack(&g, w, &p));
  if (!p)
    goto out;
  naive_conv(&g, dense, g.c, w, &q, yr);
  int64_t distinct = 0, at_max = 0;
  for (int64_t i = 1; i < ny; i++)
    distinct += yr[i] != yr[i - 1];
  for (int64_t i = 0; i < ny; i++)
    at_max += yr[i] == qmax;
  T_CHECK(distinct > ny / 8); /* outputs that can differ */
  T_CHECK(qmax == 255 || at_max > 0);
  const int64_t hw = g.h * g.w;
  const int64_t s_nchw[4] = {g.c * hw, hw, g.w, 1};
  const int64_t s_cl[4] = {hw * cs, 1, g.w * cs, cs};
  int prev = ptl_get_num_threads();
  for (int t = 1; t <= 3; t++) {
    T_OK(ptl_set_num_threads(t));
    for (int layout = 0; layout < 2; layout++) {
      memset(y, 0xAB, (size_t)ny);
      T_OK(ptl_qgemm_conv_strided(p, &g, layout ? cl : nchw, layout ? s_cl : s_nchw, &q, y, g.o));
      int64_t diff = 0;
      for (int64_t i = 0; i < ny; i++)
        diff += y[i] != yr[i];
      T_CHECK(diff == 0);
    }
  }
  T_OK(ptl_set_num_threads(prev));
out:
  ptl_qgemm_packed_destroy(p);
  free(dense);
  free(nchw);
  free(cl);
  free(y);
  free(yr);
  free(w);
  free(qb);
  free(rs);
}

static void test_strided_inputs(void) {
  if (!ptl_qgemm_available())
    return;
  /* n, h, w, c, o, kh, kw, sh, sw, pt, pl, dh, dw */
  const ptl_qgemm_geom gs[] = {
      {2, 23, 21, 3, 32, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0}, /* the 3x3 stem: im2col */
      {1, 17, 19, 3, 20, 7, 7, 2, 2, 3, 3, 1, 1, 0, 0}, /* 7x7 stem: im2col, K = 147 */
      {1, 20, 18, 3, 24, 8, 8, 2, 2, 3, 3, 1, 1, 0, 0}, /* K = 192: kernel-row taps */
      {2, 15, 14, 5, 18, 7, 7, 1, 2, 3, 2, 1, 1, 0, 0}, /* c = 5 kernel rows (35 bytes) */
      {2, 13, 11, 1, 5, 3, 2, 1, 1, 1, 1, 2, 1, 0, 0},  /* c = 1, dilated: short segments */
      {1, 12, 15, 2, 9, 2, 3, 1, 2, 2, 0, 1, 2, 0, 0},  /* c = 2, dw = 2 */
      {2, 9, 7, 5, 17, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0},   /* K = 45: im2col, 3 x 16-byte moves */
      {2, 9, 10, 16, 40, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0}, /* direct 1x1: 6-row tiles */
      {1, 7, 5, 16, 40, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},  /* 35 pixels: a 5-row last tile */
      {1, 5, 5, 32, 8, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},   /* 8 channels (6 x 8), 1-row tile */
      {1, 3, 3, 24, 21, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},  /* 9 pixels, 16 + 5 channels */
      /* inputs past 64 KB: the hot-byte scan and the padded rows run in parallel chunks */
      {1, 64, 40, 32, 16, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0},
      {1, 150, 151, 3, 8, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0},
      {1, 8, 9, 4, 24, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, /* per-pixel taps: a dense copy */
  };
  for (size_t i = 0; i < sizeof gs / sizeof gs[0]; i++) {
    check_strided(gs[i], (unsigned)i + 300, i % 2 == 0, 255, 0);
    check_strided(gs[i], (unsigned)i + 400, i % 2 == 1, 255, 6);
    check_strided(gs[i], (unsigned)i + 500, true, 150, 3);
    check_strided(gs[i], (unsigned)i + 600, false, 255, 1); /* in the scan's last chunk */
  }
}

static void test_guards(void) {
  ptl_qgemm_geom g = {1, 1, 1, 140000, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  T_CHECK(!ptl_qgemm_geom_ok(&g)); /* K * 255 * 128 past 2^31 */
  g.c = 65796;
  T_CHECK(!ptl_qgemm_geom_ok(&g));
  g.c = 4608;
  T_CHECK(ptl_qgemm_geom_ok(&g)); /* resnet's largest K */
  g.kh = g.kw = 9;
  g.c = 4;
  T_CHECK(!ptl_qgemm_geom_ok(&g)); /* more taps than the stack pointer tile */
  g.kh = g.kw = 3;
  g.o = 0;
  T_CHECK(!ptl_qgemm_geom_ok(&g));
}

void test_qgemm(void) {
  test_kernel_geometries();
  test_strided_inputs();
  test_guards();
}
