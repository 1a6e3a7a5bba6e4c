/* qgemm_avx2.c - exact u8 x s8 dense convolution for AVX2 (interface in qgemm.h).
 *
 * Why: on AVX2 without VNNI, exact 8-bit products through vpmaddwd (XNNPACK's qu8 /
 * qc8 kernels) run at the float FMA rate, so int8 convs were no faster than fp32.
 * vpmaddubsw does 32 byte products per instruction; its int16 pair sums are exact
 * when activations are <= 127 (see qgemm.h), which torch's x86 / fbgemm qconfigs
 * (reduce_range: activations 0..127) give except where an input goes past the
 * calibrated range (histogram observers clip outliers: a few dozen bytes per layer).
 * The kernel reads activations clamped to 127 (the tap pointers of a pixel with a
 * larger byte point at a clamped copy of that pixel); the remainder (x - 127) * w of
 * those few bytes is summed per affected output pixel and added to its accumulators
 * before requantization, so the result stays exact. Per 4 rows x 16 channels x 4 k:
 * 8 vpmaddubsw + 8 vpmaddwd (with ones, to int32) + 8 vpaddd, about twice the MAC
 * rate of the float kernel in conv.c.
 *
 * Shape: implicit GEMM over output pixels (rows) x output channels, 4x16 register
 * tiles (6x16 for 1x1 stride-1 convs, whose rows are consecutive pixels, and for the
 * im2col copy), one input pointer per (kernel tap, row) like conv.c's float kernel; taps
 * outside the image point at a buffer of x_zp bytes (they then add x_zp * w - x_zp *
 * w = 0 with the zero point correction). Weights are packed in panels of 16 output
 * channels, k in quads: [panel][tap][quad][2 halves of 8 channels][4 bytes]; k past
 * the tap's channels is zero. Small-channel stems (C = 3, 3x3 and 7x7) run from an
 * im2col copy (one tap of kh * kw * C bytes per output pixel; see the layouts below).
 * Each output is summed in a fixed order by one tile, so any thread count gives the
 * same bits. */
#include <stdlib.h>
#include <string.h>

#include "qgemm.h"

#define QG_MR 4
#define QG_NR 16

/* Packing layouts (the weights' k order is [kh][kw][c] in all three):
 *  QG_PIXEL:  one tap per kernel position, c bytes each (padded to 4);
 *  QG_ROWS:   one tap per kernel row of kW * C bytes, read from a padded copy of the
 *             image (larger small-channel kernels: per-pixel taps would pad every pixel's
 *             3 channels to 4);
 *  QG_IM2COL: one tap of all kh * kw * C bytes, read from an im2col copy built from the
 *             padded image (stems: 3x3 RGB is 27 bytes padded to 28, where kernel rows of
 *             9 pad to 3 x 12 = 36; 7x7 RGB 147 -> 148, where rows give 7 x 24 = 168). */
enum { QG_PIXEL = 1, QG_ROWS = 2, QG_IM2COL = 3 };

/* Largest kh * kw * c taken by the im2col layout (7x7 RGB: 147): the copy holds K bytes per
 * output pixel (1.9 MB for resnet's stem, which still runs 1.96 -> 1.80 ms faster than
 * with kernel-row taps). */
#define QG_IM2COL_MAX 160

struct ptl_qgemm_packed {
  int64_t o, panels;
  int64_t taps, tapc, kc; /* taps, real bytes per tap, bytes per tap (multiple of 4) */
  int layout;
  int8_t *w;       /* panels * taps * kc * QG_NR bytes */
  int32_t *colsum; /* panels * QG_NR: sum of each output channel's weights */
};

static int layout_of(const ptl_qgemm_geom *g) {
  if (g->c % 4 == 0 || g->kh * g->kw == 1)
    return QG_PIXEL;
  if (g->kh * g->kw * g->c <= QG_IM2COL_MAX)
    return QG_IM2COL;
  if (g->dw == 1 && g->c * g->kw <= 64)
    return QG_ROWS;
  return QG_PIXEL;
}

uint64_t ptl_qgemm_layout(const ptl_qgemm_geom *g) {
  return (uint64_t)layout_of(g);
}

bool ptl_qgemm_geom_ok(const ptl_qgemm_geom *g) {
  int64_t k = g->kh * g->kw * ((g->c + 3) & ~(int64_t)3);
  /* every int32 partial sum (and x_zp * sum w) stays below 2^31: K * 255 * 128 */
  if (g->c <= 0 || g->o <= 0 || k <= 0 || k > 2147483647 / (255 * 128))
    return false;
  /* the per-tile tap pointers live on the stack: up to 64 taps (8x8 kernels) */
  return g->kh > 0 && g->kw > 0 && g->kh * g->kw <= 64 && g->sh > 0 && g->sw > 0 && g->dh > 0 &&
         g->dw > 0;
}

void ptl_qgemm_packed_destroy(void *obj) {
  ptl_qgemm_packed *p = obj;
  if (!p)
    return;
  free(p->w);
  free(p->colsum);
  free(p);
}

ptl_status ptl_qgemm_pack(const ptl_qgemm_geom *g, const int8_t *w, ptl_qgemm_packed **out) {
  ptl_qgemm_packed *p = calloc(1, sizeof *p);
  if (!p)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory packing weights");
  p->o = g->o;
  p->panels = (g->o + QG_NR - 1) / QG_NR;
  p->layout = layout_of(g);
  p->taps = p->layout == QG_IM2COL ? 1 : p->layout == QG_ROWS ? g->kh : g->kh * g->kw;
  p->tapc = g->kh * g->kw * g->c / p->taps;
  p->kc = (p->tapc + 3) & ~(int64_t)3;
  size_t bytes = (size_t)(p->panels * p->taps * p->kc * QG_NR);
  p->w = aligned_alloc(32, (bytes + 31) & ~(size_t)31);
  p->colsum = calloc((size_t)(p->panels * QG_NR), sizeof(int32_t));
  if (!p->w || !p->colsum) {
    ptl_qgemm_packed_destroy(p);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory packing weights");
  }
  memset(p->w, 0, bytes);
  int64_t k = p->taps * p->tapc; /* [o][kh][kw][c] == [o][tap][tapc] in both layouts */
  for (int64_t o = 0; o < g->o; o++) {
    int64_t pn = o / QG_NR, j = o % QG_NR;
    int8_t *panel = p->w + pn * p->taps * p->kc * QG_NR;
    int32_t sum = 0;
    for (int64_t t = 0; t < p->taps; t++)
      for (int64_t i = 0; i < p->tapc; i++) {
        int8_t v = w[o * k + t * p->tapc + i];
        sum += v;
        panel[(t * p->kc + (i & ~(int64_t)3)) * QG_NR + (j / 8) * 32 + (j % 8) * 4 + (i & 3)] = v;
      }
    p->colsum[o] = sum;
  }
  *out = p;
  return PTL_OK;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool ptl_qgemm_available(void) {
  return ptl_cpu_has_avx2_fma();
}

/* flags[i] = 1 when a byte of pixel i (c bytes at x + i * stride) is above 127;
 * returns the number of such pixels, *bytes the number of such bytes. */
__attribute__((target("avx2"))) static int64_t hot_pixels(const uint8_t *x, int64_t npix,
                                                          int64_t stride, int64_t c, uint8_t *flags,
                                                          int64_t *bytes) {
  int64_t hot = 0, nb = 0;
  if (stride == c) { /* dense: 32 bytes at a time, the few hot ones located by their bits */
    memset(flags, 0, (size_t)npix);
    int64_t n = npix * c, i = 0;
    for (; i < n; i += 32) {
      uint32_t m;
      if (i + 32 <= n) {
        m = (uint32_t)_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(x + i)));
      } else {
        m = 0;
        for (int64_t j = i; j < n; j++)
          m |= (uint32_t)(x[j] >> 7) << (j - i);
      }
      for (; m; m &= m - 1) {
        int64_t px = (i + __builtin_ctz(m)) / c;
        hot += !flags[px];
        flags[px] = 1;
        nb++;
      }
    }
    *bytes = nb;
    return hot;
  }
  for (int64_t i = 0; i < npix; i++) {
    const uint8_t *px = x + i * stride;
    int64_t f = 0;
    for (int64_t k = 0; k < c; k += 32) {
      if (k + 32 <= c) {
        f += __builtin_popcount(
            (uint32_t)_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(px + k))));
      } else {
        for (int64_t j = k; j < c; j++)
          f += px[j] >> 7;
      }
    }
    flags[i] = f > 0;
    hot += f > 0;
    nb += f;
  }
  *bytes = nb;
  return hot;
}

/* Two rows of 16 int32 accumulators (bias already in) -> 2 x 16 quint8, exactly
 * ptl_requantize per lane: float multiply, round half even (cvtps under the default
 * MXCSR, as lrintf), + zero point, clamp to [qmin, 255]. Clamping the rounded integer
 * equals rounding the clamped float (the bounds are integers), so the clamps come from
 * the saturating packs (int16, then 0..255) and a byte max with qmin and min with qmax. cvtps is
 * exact as |acc| * scale < 2^30 (qgemm.h); a NaN product becomes INT_MIN and ends at qmin, as
 * ptl_requantize's clamp to lo gives. r0 gets row a's bytes, r1 row b's. */
__attribute__((target("avx2"))) static inline void
requant2x16(__m256i a0, __m256i a1, __m256i b0, __m256i b1, __m256 s0, __m256 s1, __m256i zp16,
            __m256i qmin8, __m256i qmax8, __m128i *r0, __m128i *r1) {
  __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(a0), s0));
  __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(a1), s1));
  __m256i j0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(b0), s0));
  __m256i j1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(b1), s1));
  __m256i pa = _mm256_adds_epi16(_mm256_packs_epi32(i0, i1), zp16);
  __m256i pb = _mm256_adds_epi16(_mm256_packs_epi32(j0, j1), zp16);
  /* dwords: a0[0..3] a1[0..3] b0[0..3] b1[0..3] | a0[4..7] a1[4..7] b0[4..7] b1[4..7] */
  __m256i v = _mm256_min_epu8(_mm256_max_epu8(_mm256_packus_epi16(pa, pb), qmin8), qmax8);
  v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
  *r0 = _mm256_castsi256_si128(v);
  *r1 = _mm256_extracti128_si256(v, 1);
}

__attribute__((target("avx2"))) static inline void store_row(uint8_t *o, __m128i v, size_t nr) {
  if (nr == QG_NR) {
    _mm_storeu_si128((__m128i *)o, v);
  } else {
    uint8_t t[QG_NR];
    _mm_storeu_si128((__m128i *)t, v);
    memcpy(o, t, nr);
  }
}

#define QROW(r)                                                                                    \
  do {                                                                                             \
    int32_t v_;                                                                                    \
    memcpy(&v_, a##r + 4 * qd, 4);                                                                 \
    const __m256i x_ = _mm256_set1_epi32(v_);                                                      \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_maddubs_epi16(x_, w0), ones));    \
    c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(_mm256_maddubs_epi16(x_, w1), ones));    \
  } while (0)

#define QROWH(r)                                                                                   \
  do {                                                                                             \
    int32_t v_;                                                                                    \
    memcpy(&v_, a##r + 4 * qd, 4);                                                                 \
    const __m256i x_ = _mm256_set1_epi32(v_);                                                      \
    c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(_mm256_maddubs_epi16(x_, w0), ones));    \
  } while (0)

#define QCORR(r)                                                                                   \
  do {                                                                                             \
    if (corr[r]) {                                                                                 \
      c##r##0 = _mm256_add_epi32(c##r##0, _mm256_loadu_si256((const __m256i *)corr[r]));           \
      c##r##1 = _mm256_add_epi32(c##r##1, _mm256_loadu_si256((const __m256i *)(corr[r] + 8)));     \
    }                                                                                              \
  } while (0)

/* The epilogue of a 4-row x 16-channel tile: requantize the eight accumulators and store
 * the mr valid rows (nr valid channels each). Always inlined: the accumulators stay in
 * registers. */
__attribute__((target("avx2"), always_inline)) static inline void
store_tile(__m256i c00, __m256i c01, __m256i c10, __m256i c11, __m256i c20, __m256i c21,
           __m256i c30, __m256i c31, const float *scale, __m256i vzp16, __m256i vqmin8,
           __m256i vqmax8, uint8_t *out, size_t out_pix, size_t mr, size_t nr) {
  const __m256 s0 = _mm256_loadu_ps(scale), s1 = _mm256_loadu_ps(scale + 8);
  __m128i r0, r1, r2, r3;
  requant2x16(c00, c01, c10, c11, s0, s1, vzp16, vqmin8, vqmax8, &r0, &r1);
  requant2x16(c20, c21, c30, c31, s0, s1, vzp16, vqmin8, vqmax8, &r2, &r3);
  store_row(out, r0, nr);
  if (mr > 1)
    store_row(out + out_pix, r1, nr);
  if (mr > 2)
    store_row(out + 2 * out_pix, r2, nr);
  if (mr > 3)
    store_row(out + 3 * out_pix, r3, nr);
}

/* One 4-row tile of 16 channels (full) or of the first 8 (a last panel of at most 8
 * channels, mobilenet's 24-channel projections: a third of their work; the empty half's
 * accumulators stay at the padded bias and are not stored). a[t * 4 + r] is row r's input
 * for tap t (quads * 4 bytes); corr (NULL: none) holds per row a NULL or 16 int32 to add
 * before requantization. Always inlined: `full` is a constant in each wrapper below. */
__attribute__((target("avx2"), always_inline)) static inline void
qgemm_4xn(size_t taps, size_t quads, const uint8_t *const *a, const int8_t *w, const int32_t *bias,
          const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
          size_t out_pix, size_t mr, size_t nr, const int32_t *const *corr, const bool full) {
  /* the bias starts the sums: int32 addition wraps, so the order does not matter */
  __m256i c00 = _mm256_loadu_si256((const __m256i *)bias);
  __m256i c01 = _mm256_loadu_si256((const __m256i *)(bias + 8));
  __m256i c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t t = 0; t < taps; t++, a += QG_MR) {
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    for (size_t qd = 0; qd < quads; qd++, w += 4 * QG_NR) {
      const __m256i w0 = _mm256_load_si256((const __m256i *)w);
      if (full) {
        const __m256i w1 = _mm256_load_si256((const __m256i *)(w + 32));
        QROW(0);
        QROW(1);
        QROW(2);
        QROW(3);
      } else {
        QROWH(0);
        QROWH(1);
        QROWH(2);
        QROWH(3);
      }
    }
  }
  if (corr) { /* rows that read a clamped byte: the exact remainder (see fix_rows) */
    QCORR(0);
    QCORR(1);
    QCORR(2);
    QCORR(3);
  }
  store_tile(c00, c01, c10, c11, c20, c21, c30, c31, scale, vzp16, vqmin8, vqmax8, out, out_pix, mr,
             nr);
}

/* The 16-channel tile, inlined into its one call site (qg_task). */
__attribute__((target("avx2"))) static void
qgemm_4x16(size_t taps, size_t quads, const uint8_t *const *a, const int8_t *w, const int32_t *bias,
           const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
           size_t out_pix, size_t mr, size_t nr, const int32_t *const *corr) {
  qgemm_4xn(taps, quads, a, w, bias, scale, vzp16, vqmin8, vqmax8, out, out_pix, mr, nr, corr,
            true);
}

__attribute__((target("avx2"), noinline)) static void
qgemm_4x8(size_t taps, size_t quads, const uint8_t *const *a, const int8_t *w, const int32_t *bias,
          const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
          size_t out_pix, size_t mr, size_t nr, const int32_t *const *corr) {
  qgemm_4xn(taps, quads, a, w, bias, scale, vzp16, vqmin8, vqmax8, out, out_pix, mr, nr, corr,
            false);
}

/* One row x 16 channels: a tile holding a single output pixel (a batch-1 linear, M = 1:
 * the classifier) would otherwise run the 4-row kernel on three copies of its row. */
__attribute__((target("avx2"), noinline)) static void
qgemm_1x16(size_t taps, size_t quads, const uint8_t *const *a, const int8_t *w, const int32_t *bias,
           const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
           size_t out_pix, size_t nr, const int32_t *const *corr) {
  __m256i c00 = _mm256_loadu_si256((const __m256i *)bias);
  __m256i c01 = _mm256_loadu_si256((const __m256i *)(bias + 8));
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t t = 0; t < taps; t++, a += QG_MR) {
    const uint8_t *a0 = a[0];
    for (size_t qd = 0; qd < quads; qd++, w += 4 * QG_NR) {
      const __m256i w0 = _mm256_load_si256((const __m256i *)w);
      const __m256i w1 = _mm256_load_si256((const __m256i *)(w + 32));
      QROW(0);
    }
  }
  if (corr && corr[0]) {
    c00 = _mm256_add_epi32(c00, _mm256_loadu_si256((const __m256i *)corr[0]));
    c01 = _mm256_add_epi32(c01, _mm256_loadu_si256((const __m256i *)(corr[0] + 8)));
  }
  store_tile(c00, c01, c00, c01, c00, c01, c00, c01, scale, vzp16, vqmin8, vqmax8, out, out_pix, 1,
             nr);
}

typedef struct {
  const ptl_qgemm_packed *p;
  ptl_qgemm_geom g; /* as run: the stem layout's padded image */
  const uint8_t *x, *zbuf;
  const int32_t *slot;    /* [pixels]: hot pixel's clamped copy in side, or -1; or NULL */
  const uint8_t *side;    /* clamped copies of the hot pixels, in_pix bytes each */
  const int32_t *fix;     /* fixed-up rows, panels * 16 int32 each */
  const int32_t *fix_row; /* [m_total]: index into fix, or -1 */
  int64_t in_pix, out_pix;
  const int32_t *beff; /* qbias - xzp * colsum, panels * 16 */
  const float *rs;     /* panels * 16 */
  int32_t ozp, qmin, qmax;
  uint8_t *y;
  int64_t m_total, tiles_per_task, m_tasks, panels_per_block;
  bool direct; /* g is a 1x1 stride-1 unpadded conv: row pointers without the tap walk */
} qg_ctx;

#define QG_PTRS_ON_STACK (64 * QG_MR)

__attribute__((target("avx2"))) static void qg_task(void *vctx, size_t idx) {
  const qg_ctx *c = vctx;
  const ptl_qgemm_geom *g = &c->g;
  const ptl_qgemm_packed *p = c->p;
  int64_t nb = (int64_t)idx / c->m_tasks, mt = (int64_t)idx % c->m_tasks;
  int64_t taps = p->taps, plane = g->oh * g->ow;
  const uint8_t *ptrs[QG_PTRS_ON_STACK]; /* taps <= 64: ptl_qgemm_geom_ok */
  int64_t p0 = nb * c->panels_per_block, p1 = p0 + c->panels_per_block;
  if (p1 > p->panels)
    p1 = p->panels;
  const __m256i vzp16 = _mm256_set1_epi16((int16_t)c->ozp);
  const __m256i vqmin8 = _mm256_set1_epi8((char)c->qmin);
  const __m256i vqmax8 = _mm256_set1_epi8((char)c->qmax);
  int64_t tile0 = mt * c->tiles_per_task, tile1 = tile0 + c->tiles_per_task;
  for (int64_t tile = tile0; tile < tile1; tile++) {
    int64_t m0 = tile * QG_MR;
    if (m0 >= c->m_total)
      break;
    int64_t mr = c->m_total - m0 < QG_MR ? c->m_total - m0 : QG_MR;
    int64_t n = 0, oy = 0, ox = 0;
    if (!c->direct) /* three divisions: a fifth of a small-K tile's time */
      n = m0 / plane, oy = (m0 % plane) / g->ow, ox = m0 % g->ow;
    const int32_t *corr[QG_MR] = {NULL, NULL, NULL, NULL};
    bool fixed = false;
    for (int64_t r = 0; r < mr && c->fix_row; r++)
      if (c->fix_row[m0 + r] >= 0) {
        corr[r] = c->fix + c->fix_row[m0 + r] * p->panels * QG_NR;
        fixed = true;
      }
    if (c->direct) { /* 1x1, stride 1, no padding: output pixel m reads input pixel m */
      for (int64_t r = 0; r < QG_MR; r++) {
        int64_t pix = m0 + (r < mr ? r : mr - 1); /* missing rows repeat the last one */
        ptrs[r] = c->x + pix * c->in_pix;
        if (c->slot && c->slot[pix] >= 0)
          ptrs[r] = c->side + c->slot[pix] * c->in_pix;
      }
    }
    for (int64_t r = 0; r < QG_MR && !c->direct; r++) {
      if (r > 0 && r < mr && ++ox == g->ow) { /* missing rows repeat the last one */
        ox = 0;
        if (++oy == g->oh) {
          oy = 0;
          n++;
        }
      }
      int64_t pn0 = n * g->h * g->w;
      for (int64_t ky = 0; ky < g->kh; ky++) {
        int64_t iy = oy * g->sh - g->pt + ky * g->dh;
        bool row_in = iy >= 0 && iy < g->h;
        for (int64_t kx = 0; kx < g->kw; kx++) {
          int64_t ix = ox * g->sw - g->pl + kx * g->dw;
          const uint8_t *ptr = c->zbuf;
          if (row_in && ix >= 0 && ix < g->w) {
            int64_t pix = pn0 + iy * g->w + ix;
            ptr = c->x + pix * c->in_pix;
            if (c->slot && c->slot[pix] >= 0)
              ptr = c->side + c->slot[pix] * c->in_pix;
          }
          ptrs[(ky * g->kw + kx) * QG_MR + r] = ptr;
        }
      }
    }
    for (int64_t pn = p0; pn < p1; pn++) {
      int64_t j0 = pn * QG_NR;
      int64_t nr = g->o - j0 < QG_NR ? g->o - j0 : QG_NR;
      const int32_t *cj[QG_MR];
      for (int r = 0; r < QG_MR; r++)
        cj[r] = corr[r] ? corr[r] + j0 : NULL;
      const int32_t *const *cp = fixed ? cj : NULL;
      if (mr == 1)
        qgemm_1x16((size_t)taps, (size_t)(p->kc / 4), ptrs, p->w + pn * taps * p->kc * QG_NR,
                   c->beff + j0, c->rs + j0, vzp16, vqmin8, vqmax8, c->y + m0 * c->out_pix + j0,
                   (size_t)c->out_pix, (size_t)nr, cp);
      else if (nr <= 8) /* one call site each: qgemm_4x16 stays inlined here */
        qgemm_4x8((size_t)taps, (size_t)(p->kc / 4), ptrs, p->w + pn * taps * p->kc * QG_NR,
                  c->beff + j0, c->rs + j0, vzp16, vqmin8, vqmax8, c->y + m0 * c->out_pix + j0,
                  (size_t)c->out_pix, (size_t)mr, (size_t)nr, cp);
      else
        qgemm_4x16((size_t)taps, (size_t)(p->kc / 4), ptrs, p->w + pn * taps * p->kc * QG_NR,
                   c->beff + j0, c->rs + j0, vzp16, vqmin8, vqmax8, c->y + m0 * c->out_pix + j0,
                   (size_t)c->out_pix, (size_t)mr, (size_t)nr, cp);
    }
  }
}

/* 6 rows x 16 (or, FULL 0, 8) channels for 1x1 stride-1 convs without hot-pixel copies
 * (rows are consecutive pixels: a0 + r * in_pix): 12 accumulators share each weight load
 * and the tile's fixed costs (bias, corrections, pointers) cover half as many rows again
 * as the 4-row tile, which is what small K (16 to 32) pays for. Missing rows repeat the
 * last one and are not stored. */
#define QG6_BODY(FULL)                                                                             \
  __m256i c00 = _mm256_loadu_si256((const __m256i *)bias);                                         \
  __m256i c01 = _mm256_loadu_si256((const __m256i *)(bias + 8));                                   \
  __m256i c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01, c40 = c00, c41 = c01,  \
          c50 = c00, c51 = c01;                                                                    \
  const __m256i ones = _mm256_set1_epi16(1);                                                       \
  const uint8_t *a0 = a, *a1 = a + (mr > 1 ? 1 : 0) * in_pix,                                      \
                *a2 = a + (mr > 2 ? 2 : mr - 1) * in_pix;                                          \
  const uint8_t *a3 = a + (mr > 3 ? 3 : mr - 1) * in_pix,                                          \
                *a4 = a + (mr > 4 ? 4 : mr - 1) * in_pix;                                          \
  const uint8_t *a5 = a + (mr > 5 ? 5 : mr - 1) * in_pix;                                          \
  for (size_t qd = 0; qd < quads; qd++, w += 4 * QG_NR) {                                          \
    const __m256i w0 = _mm256_load_si256((const __m256i *)w);                                      \
    if (FULL) {                                                                                    \
      const __m256i w1 = _mm256_load_si256((const __m256i *)(w + 32));                             \
      QROW(0);                                                                                     \
      QROW(1);                                                                                     \
      QROW(2);                                                                                     \
      QROW(3);                                                                                     \
      QROW(4);                                                                                     \
      QROW(5);                                                                                     \
    } else {                                                                                       \
      QROWH(0);                                                                                    \
      QROWH(1);                                                                                    \
      QROWH(2);                                                                                    \
      QROWH(3);                                                                                    \
      QROWH(4);                                                                                    \
      QROWH(5);                                                                                    \
    }                                                                                              \
  }                                                                                                \
  if (corr) {                                                                                      \
    QCORR(0);                                                                                      \
    QCORR(1);                                                                                      \
    QCORR(2);                                                                                      \
    QCORR(3);                                                                                      \
    QCORR(4);                                                                                      \
    QCORR(5);                                                                                      \
  }                                                                                                \
  store_tile(c00, c01, c10, c11, c20, c21, c30, c31, scale, vzp16, vqmin8, vqmax8, out, out_pix,   \
             mr < 4 ? mr : 4, nr);                                                                 \
  if (mr > 4)                                                                                      \
    store_tile(c40, c41, c50, c51, c40, c41, c50, c51, scale, vzp16, vqmin8, vqmax8,               \
               out + 4 * out_pix, out_pix, mr - 4, nr);

__attribute__((target("avx2"))) static inline void
qgemm_6x16(size_t quads, const uint8_t *a, size_t in_pix, const int8_t *w, const int32_t *bias,
           const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
           size_t out_pix, size_t mr, size_t nr, const int32_t *const *corr) {
  QG6_BODY(1)
}

__attribute__((target("avx2"), noinline)) static void
qgemm_6x8(size_t quads, const uint8_t *a, size_t in_pix, const int8_t *w, const int32_t *bias,
          const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
          size_t out_pix, size_t mr, size_t nr, const int32_t *const *corr) {
  QG6_BODY(0)
}

#define QG_MR6 6

/* qg_task for the 6-row tiles (c->direct without hot-pixel copies). */
__attribute__((target("avx2"))) static void qg_task6(void *vctx, size_t idx) {
  const qg_ctx *c = vctx;
  const ptl_qgemm_packed *p = c->p;
  int64_t nb = (int64_t)idx / c->m_tasks, mt = (int64_t)idx % c->m_tasks;
  int64_t p0 = nb * c->panels_per_block, p1 = p0 + c->panels_per_block;
  if (p1 > p->panels)
    p1 = p->panels;
  const __m256i vzp16 = _mm256_set1_epi16((int16_t)c->ozp);
  const __m256i vqmin8 = _mm256_set1_epi8((char)c->qmin);
  const __m256i vqmax8 = _mm256_set1_epi8((char)c->qmax);
  int64_t tile0 = mt * c->tiles_per_task, tile1 = tile0 + c->tiles_per_task;
  size_t quads = (size_t)(p->kc / 4), in_pix = (size_t)c->in_pix, out_pix = (size_t)c->out_pix;
  for (int64_t tile = tile0; tile < tile1; tile++) {
    int64_t m0 = tile * QG_MR6;
    if (m0 >= c->m_total)
      break;
    int64_t mr = c->m_total - m0 < QG_MR6 ? c->m_total - m0 : QG_MR6;
    const int32_t *corr[QG_MR6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    bool fixed = false;
    for (int64_t r = 0; r < mr && c->fix_row; r++)
      if (c->fix_row[m0 + r] >= 0) {
        corr[r] = c->fix + c->fix_row[m0 + r] * p->panels * QG_NR;
        fixed = true;
      }
    const uint8_t *a = c->x + m0 * c->in_pix;
    for (int64_t pn = p0; pn < p1; pn++) {
      int64_t j0 = pn * QG_NR;
      int64_t nr = c->p->o - j0 < QG_NR ? c->p->o - j0 : QG_NR;
      const int32_t *cj[QG_MR6];
      for (int r = 0; r < QG_MR6; r++)
        cj[r] = corr[r] ? corr[r] + j0 : NULL;
      const int32_t *const *cp = fixed ? cj : NULL;
      const int8_t *w = p->w + pn * p->kc * QG_NR;
      uint8_t *out = c->y + m0 * c->out_pix + j0;
      if (nr <= 8)
        qgemm_6x8(quads, a, in_pix, w, c->beff + j0, c->rs + j0, vzp16, vqmin8, vqmax8, out,
                  out_pix, (size_t)mr, (size_t)nr, cp);
      else
        qgemm_6x16(quads, a, in_pix, w, c->beff + j0, c->rs + j0, vzp16, vqmin8, vqmax8, out,
                   out_pix, (size_t)mr, (size_t)nr, cp);
    }
  }
}

/* Copies `cols` pixels of C channels (channel stride sc, pixel stride sw, in bytes) into
 * a dense row of pixels. An NCHW image (a quantize_per_tensor of a float image feeds the
 * stem) has sc = h * w and sw = 1: its 3 channels are interleaved 16 pixels at a time
 * with byte shuffles. */
__attribute__((target("avx2"))) static void gather_row(uint8_t *d, const uint8_t *s, int64_t cols,
                                                       int64_t C, int64_t sc, int64_t sw) {
  if ((sc == 1 || C == 1) && sw == C) {
    memcpy(d, s, (size_t)(cols * C));
    return;
  }
  int64_t ix = 0;
  if (sc == 1) {
    for (; ix < cols; ix++)
      memcpy(d + ix * C, s + ix * sw, (size_t)C);
    return;
  }
  if (C == 3 && sw == 1) {
    /* output byte k of each 16-byte third t comes from plane (16t + k) % 3, pixel
     * (16t + k) / 3; 0x80 lanes are zero and filled by the other planes' shuffles */
    __m128i m[3][3];
    for (int t = 0; t < 3; t++)
      for (int pl = 0; pl < 3; pl++) {
        int8_t b[16];
        for (int k = 0; k < 16; k++)
          b[k] = (16 * t + k) % 3 == pl ? (int8_t)((16 * t + k) / 3) : (int8_t)0x80;
        m[t][pl] = _mm_loadu_si128((const __m128i *)b);
      }
    for (; ix + 16 <= cols; ix += 16, d += 48) {
      __m128i a = _mm_loadu_si128((const __m128i *)(s + ix));
      __m128i b = _mm_loadu_si128((const __m128i *)(s + sc + ix));
      __m128i c = _mm_loadu_si128((const __m128i *)(s + 2 * sc + ix));
      for (int t = 0; t < 3; t++) {
        __m128i v = _mm_or_si128(_mm_shuffle_epi8(a, m[t][0]), _mm_shuffle_epi8(b, m[t][1]));
        v = _mm_or_si128(v, _mm_shuffle_epi8(c, m[t][2]));
        _mm_storeu_si128((__m128i *)(d + 16 * t), v);
      }
    }
    for (; ix < cols; ix++, d += 3) {
      d[0] = s[ix];
      d[1] = s[sc + ix];
      d[2] = s[2 * sc + ix];
    }
    return;
  }
  for (; ix < cols; ix++)
    for (int64_t ch = 0; ch < C; ch++)
      d[ix * C + ch] = s[ch * sc + ix * sw];
}

/* The input of the row and im2col layouts: [n][hp][wp][C] dense, x_zp in the padding,
 * only the rows and columns some output reads, gathered from any strides (xs: n, c, h,
 * w in bytes), with 64 zero bytes of slack past the end for the taps' and im2col's
 * over-reads. gp gets its geometry: the same conv without padding. */
typedef struct {
  const ptl_qgemm_geom *g;
  const uint8_t *x;
  const int64_t *xs;
  uint8_t *d, xzp;
  int64_t hp, wp, x0, cols;
} pad_ctx;

#define QG_PAD_ROWS 8 /* padded rows per task */

static void pad_rows(void *vctx, size_t idx) {
  const pad_ctx *c = vctx;
  const ptl_qgemm_geom *g = c->g;
  int64_t C = g->c, r0 = (int64_t)idx * QG_PAD_ROWS, r1 = r0 + QG_PAD_ROWS;
  if (r1 > g->n * c->hp)
    r1 = g->n * c->hp;
  for (int64_t r = r0; r < r1; r++) {
    int64_t n = r / c->hp, iy = r % c->hp - g->pt;
    uint8_t *row = c->d + r * c->wp * C;
    if (iy < 0 || iy >= g->h || c->cols <= 0) {
      memset(row, c->xzp, (size_t)(c->wp * C));
      continue;
    }
    memset(row, c->xzp, (size_t)(c->x0 * C));
    gather_row(row + c->x0 * C, c->x + n * c->xs[0] + iy * c->xs[2], c->cols, C, c->xs[1],
               c->xs[3]);
    memset(row + (c->x0 + c->cols) * C, c->xzp, (size_t)((c->wp - c->x0 - c->cols) * C));
  }
}

/* Rows are gathered in parallel (each task writes whole rows only): serial, the gather was
 * a sixth of the stem's time on two threads. */
static uint8_t *padded_image(const ptl_qgemm_geom *g, const uint8_t *x, const int64_t *xs,
                             uint8_t xzp, ptl_qgemm_geom *gp) {
  int64_t hp = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
  int64_t wp = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
  size_t bytes = (size_t)(g->n * hp * wp * g->c);
  uint8_t *d = malloc(bytes + 64);
  if (!d)
    return NULL;
  memset(d + bytes, 0, 64);
  pad_ctx pc = {g, x, xs, d, xzp, hp, wp, g->pl, g->w};
  if (pc.x0 + pc.cols > wp)
    pc.cols = wp - pc.x0;
  ptl_parallel_for(pad_rows, &pc, (size_t)((g->n * hp + QG_PAD_ROWS - 1) / QG_PAD_ROWS));
  *gp = *g;
  gp->h = hp;
  gp->w = wp;
  gp->pt = gp->pl = 0;
  return d;
}

typedef struct {
  const ptl_qgemm_geom *g; /* the padded image's */
  const uint8_t *img;
  uint8_t *col;
  int64_t kc;
} im2col_ctx;

/* One output row (n, oy) of the im2col copy: each output pixel's window, [kh][kw][C]
 * bytes, up to kc. Segments (a kernel row when dw == 1) are moved 16 bytes at a time
 * straight into place: a store past a segment's end is overwritten by the next segment or
 * by the following pixels' windows (over-reads land in the image's slack). The pixels
 * whose stores would pass the end of the row are copied exactly, so no task writes into
 * another's rows. The bytes from K to kc meet zero weights: the spill leaves image bytes
 * there (the same on every run). No staging buffer: reloading a row built from
 * overlapping stores stalls store-to-load forwarding. */
__attribute__((target("avx2"))) static void im2col_row(void *vctx, size_t idx) {
  const im2col_ctx *c = vctx;
  const ptl_qgemm_geom *g = c->g;
  int64_t C = g->c, n = (int64_t)idx / g->oh, oy = (int64_t)idx % g->oh, kc = c->kc;
  int64_t kstep = g->dw == 1 ? g->kw : 1, seg = kstep * C, k = g->kh * g->kw * C;
  /* bytes a pixel's moves reach past its start: the last segment's rounded up to 16 */
  int64_t span = k - seg + ((seg + 15) & ~(int64_t)15);
  int64_t safe = g->ow - (span - kc + kc - 1) / kc; /* pixels [0, safe) may spill */
  if (safe < 0)
    safe = 0;
  uint8_t *dst = c->col + (int64_t)idx * g->ow * kc;
  const uint8_t *base = c->img + (n * g->h + oy * g->sh) * g->w * C;
  int64_t ox = 0;
  if (g->dw == 1 && seg <= 16) { /* one 16-byte move per kernel row (3x3 stems) */
    int64_t rstride = g->dh * g->w * C, pstride = g->sw * C;
    for (; ox < safe; ox++, dst += kc) {
      const uint8_t *src = base + ox * pstride;
      for (int64_t ky = 0; ky < g->kh; ky++)
        _mm_storeu_si128((__m128i *)(dst + ky * seg),
                         _mm_loadu_si128((const __m128i *)(src + ky * rstride)));
    }
  }
  for (; ox < g->ow; ox++, dst += kc) {
    bool exact = ox >= safe;
    int64_t off = 0;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      const uint8_t *src = base + (ky * g->dh * g->w + ox * g->sw) * C;
      for (int64_t kx = 0; kx < g->kw; kx += kstep, off += seg) {
        const uint8_t *sp = src + kx * g->dw * C;
        if (exact)
          memcpy(dst + off, sp, (size_t)seg);
        else
          for (int64_t b = 0; b < seg; b += 16)
            _mm_storeu_si128((__m128i *)(dst + off + b),
                             _mm_loadu_si128((const __m128i *)(sp + b)));
      }
    }
    if (exact)
      memset(dst + k, 0, (size_t)(kc - k));
  }
}

/* Dense copy with pixel stride kc (channels kc - c.. zero). */
static uint8_t *pad_channels(const ptl_qgemm_geom *g, const uint8_t *x, int64_t in_pix,
                             int64_t kc) {
  int64_t pixels = g->n * g->h * g->w;
  uint8_t *d = calloc((size_t)(pixels * kc) + 16, 1);
  if (!d)
    return NULL;
  for (int64_t i = 0; i < pixels; i++)
    memcpy(d + i * kc, x + i * in_pix, (size_t)g->c);
  return d;
}

__attribute__((target("avx2"))) static void clamp_127(uint8_t *d, size_t n) {
  const __m256i m = _mm256_set1_epi8(127);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(d + i));
    _mm256_storeu_si256((__m256i *)(d + i), _mm256_min_epu8(v, m));
  }
  for (; i < n; i++)
    d[i] = d[i] > 127 ? 127 : d[i];
}

/* The kernel reads activations clamped to 127; every byte v > 127 of the input adds
 * (v - 127) * w[o][ky][kx][ch] to each output pixel whose window holds it. Those
 * remainders are summed here (serially, exact int32) into one row of panels * 16 per
 * affected output pixel (fix_row[m] indexes it) and added to the accumulators before
 * requantization. */
static void fix_rows(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, const uint8_t *x,
                     int64_t in_pix, const uint8_t *flags, int32_t *fix, int32_t *fix_row) {
  int64_t npix = g->n * g->h * g->w, opad = p->panels * QG_NR, rows = 0;
  int64_t panel_bytes = p->taps * p->kc * QG_NR;
  for (int64_t pix = 0; pix < npix; pix++) {
    uint64_t f8;
    if (pix + 8 <= npix && (memcpy(&f8, flags + pix, 8), f8 == 0)) {
      pix += 7; /* eight pixels without a hot byte (the usual case) */
      continue;
    }
    if (!flags[pix])
      continue;
    int64_t n = pix / (g->h * g->w), iy = (pix / g->w) % g->h, ix = pix % g->w;
    for (int64_t ch = 0; ch < g->c; ch++) {
      int32_t e = (int32_t)x[pix * in_pix + ch] - 127;
      if (e <= 0)
        continue;
      for (int64_t ky = 0; ky < g->kh; ky++) {
        int64_t ty = iy + g->pt - ky * g->dh;
        if (ty < 0 || ty % g->sh != 0 || ty / g->sh >= g->oh)
          continue;
        for (int64_t kx = 0; kx < g->kw; kx++) {
          int64_t tx = ix + g->pl - kx * g->dw;
          if (tx < 0 || tx % g->sw != 0 || tx / g->sw >= g->ow)
            continue;
          int64_t m = (n * g->oh + ty / g->sh) * g->ow + tx / g->sw;
          if (fix_row[m] < 0)
            fix_row[m] = (int32_t)rows++;
          int32_t *row = fix + fix_row[m] * opad;
          /* w[o][ky][kx][ch] in the packed panels: k index kk in [kh][kw][c] order is
           * byte kk % tapc of tap kk / tapc in every layout */
          int64_t kk = (ky * g->kw + kx) * g->c + ch, t = kk / p->tapc, i = kk % p->tapc;
          const int8_t *wb = p->w + (t * p->kc + (i & ~(int64_t)3)) * QG_NR + (i & 3);
          for (int64_t o = 0; o < g->o; o++) {
            int64_t j = o % QG_NR;
            row[o] += e * wb[(o / QG_NR) * panel_bytes + (j / 8) * 32 + (j % 8) * 4];
          }
        }
      }
    }
  }
}

#define QG_HOT_CHUNKS 16

typedef struct {
  const uint8_t *x;
  size_t n, chunks;
  uint8_t any[QG_HOT_CHUNKS];
} hot_ctx;

__attribute__((target("avx2"))) static void hot_chunk(void *vctx, size_t idx) {
  hot_ctx *c = vctx;
  size_t i = c->n * idx / c->chunks, end = c->n * (idx + 1) / c->chunks;
  __m256i a = _mm256_setzero_si256();
  for (; i + 32 <= end; i += 32)
    a = _mm256_or_si256(a, _mm256_loadu_si256((const __m256i *)(c->x + i)));
  uint8_t t = 0;
  for (; i < end; i++)
    t |= c->x[i];
  c->any[idx] = _mm256_movemask_epi8(a) != 0 || t >= 128;
}

/* Whether some byte of the c-byte pixels may be above 127: an OR pass over a dense
 * image (the usual answer, no), in parallel chunks when large (serial, a 400 KB input's
 * pass was a tenth of a 32->16 1x1's time on two threads); true for any other layout
 * (hot_pixels then decides). */
static bool maybe_hot(const uint8_t *x, int64_t npix, int64_t stride, int64_t c) {
  if (stride != c)
    return npix > 0;
  hot_ctx h = {x, (size_t)(npix * c), 1, {0}};
  if (h.n < 64 * 1024) {
    hot_chunk(&h, 0);
    return h.any[0];
  }
  h.chunks = QG_HOT_CHUNKS;
  ptl_parallel_for(hot_chunk, &h, h.chunks);
  for (size_t i = 0; i < h.chunks; i++)
    if (h.any[i])
      return true;
  return false;
}

/* Per-channel arrays padded to whole panels: small convs keep them on the stack. */
#define QG_STACK_CH 512

/* The conv over an NHWC image x (pixel stride in_pix; g's geometry). `own`: x is the
 * caller's scratch copy (dense, in_pix == c), clamped in place when it has hot bytes;
 * the row and im2col layouts always get their padded image this way. */
static ptl_status run_conv(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, uint8_t *own,
                           const uint8_t *x, int64_t in_pix, const ptl_qgemm_quant *q, uint8_t *y,
                           int64_t out_pix) {
  int64_t m_total = g->n * g->oh * g->ow;
  int64_t npix = g->n * g->h * g->w, taps = g->kh * g->kw;
  uint8_t *flags = NULL;
  /* a fix-up costs about taps * o scalar multiply-adds per hot byte, some 40 times the
   * kernel's time per multiply-add: beyond m_total * c / 256 hot bytes (a quarter of
   * the kernel's time; activations quantized to 0..255 have far more; + 16 so that
   * small convs take a few) XNNPACK is faster, and the caller runs it */
  int64_t limit = m_total * g->c / 256 + 16, nhot = 0, hotpix = 0;
  if (maybe_hot(x, npix, in_pix, g->c)) {
    flags = malloc((size_t)npix + 1);
    if (!flags)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory");
    hotpix = hot_pixels(x, npix, in_pix, g->c, flags, &nhot);
    if (nhot > limit) {
      free(flags);
      return PTL_ERR_UNSUPPORTED;
    }
  }
  qg_ctx c;
  memset(&c, 0, sizeof c);
  c.p = p;
  c.g = *g;
  c.x = x;
  c.in_pix = in_pix;
  c.out_pix = out_pix;
  c.y = y;
  c.ozp = q->ozp;
  c.qmin = q->qmin;
  c.qmax = q->qmax;
  size_t nch = (size_t)(p->panels * QG_NR);
  int32_t beff_s[QG_STACK_CH], *fix = NULL, *fix_row = NULL, *slot = NULL;
  float rs_s[QG_STACK_CH];
  int32_t *beff = nch <= QG_STACK_CH ? beff_s : malloc(nch * sizeof(int32_t));
  float *rs = nch <= QG_STACK_CH ? rs_s : malloc(nch * sizeof(float));
  uint8_t *zbuf = malloc((size_t)p->kc + 32), *xcopy = NULL, *side = NULL;
  ptl_status s = PTL_OK;
  if (!beff || !rs || !zbuf) {
    s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory");
    goto done;
  }
  memset(zbuf, q->xzp, (size_t)p->kc + 32);
  for (int64_t o = 0; o < g->o; o++) {
    /* wrapping int32 arithmetic: the sum with the accumulator is the true acc */
    beff[o] = (int32_t)((uint32_t)q->qbias[o] - (uint32_t)q->xzp * (uint32_t)p->colsum[o]);
    rs[o] = q->rscale[o];
  }
  for (size_t o = (size_t)g->o; o < nch; o++) {
    beff[o] = 0;
    rs[o] = 0.0f;
  }
  if (nhot > 0) {
    /* the remainders come from the unclamped bytes: before any clamping below */
    int64_t rows = nhot * taps < m_total ? nhot * taps : m_total;
    fix = calloc((size_t)(rows * p->panels * QG_NR), sizeof(int32_t));
    fix_row = malloc(sizeof(int32_t) * (size_t)m_total);
    if (!fix || !fix_row) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory");
      goto done;
    }
    memset(fix_row, 0xff, sizeof(int32_t) * (size_t)m_total); /* -1 */
    fix_rows(p, g, x, in_pix, flags, fix, fix_row);
    c.fix = fix;
    c.fix_row = fix_row;
  }
  if (nhot > 0 && own) {
    clamp_127(own, (size_t)(npix * g->c));
  } else if (nhot > 0 && p->kc == g->c) {
    /* the input is read in place: only its hot pixels get clamped copies */
    slot = malloc(sizeof(int32_t) * (size_t)npix);
    side = malloc((size_t)(hotpix * in_pix) + 32);
    if (!slot || !side) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory");
      goto done;
    }
    int32_t k = 0;
    for (int64_t i = 0; i < npix; i++) {
      slot[i] = flags[i] ? k : -1;
      if (flags[i]) {
        uint8_t *d = side + k++ * in_pix;
        memcpy(d, x + i * in_pix, (size_t)g->c);
        clamp_127(d, (size_t)g->c);
      }
    }
    c.slot = slot;
    c.side = side;
  }
  if (p->layout == QG_IM2COL) {
    /* one tap per output pixel: a 1x1 conv over the m_total im2col rows */
    xcopy = malloc((size_t)(m_total * p->kc) + 64);
    if (!xcopy) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory copying the input");
      goto done;
    }
    im2col_ctx ic = {g, x, xcopy, p->kc};
    ptl_parallel_for(im2col_row, &ic, (size_t)(g->n * g->oh));
    ptl_qgemm_geom g1 = {1, m_total, 1, p->kc, g->o, 1, 1, 1, 1, 0, 0, 1, 1, m_total, 1};
    c.g = g1;
    c.x = xcopy;
    c.in_pix = p->kc;
  } else if (p->layout == QG_ROWS) {
    c.g.kw = 1; /* taps read a kernel row of kW * C (kc) bytes from a pixel of C */
    c.g.c = g->kw * g->c;
  } else if (p->kc != g->c) {
    xcopy = pad_channels(g, x, in_pix, p->kc);
    if (!xcopy) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory copying the input");
      goto done;
    }
    if (nhot > 0)
      clamp_127(xcopy, (size_t)(npix * p->kc));
    c.x = xcopy;
    c.in_pix = p->kc;
  }
  c.direct = c.g.kh == 1 && c.g.kw == 1 && c.g.sh == 1 && c.g.sw == 1 && c.g.pt == 0 &&
             c.g.pl == 0 && c.g.oh == c.g.h && c.g.ow == c.g.w;
  c.beff = beff;
  c.rs = rs;
  c.zbuf = zbuf;
  c.m_total = m_total;
  /* weights of one block of panels stay in L2 while the pixel tiles pass; blocks and
   * row ranges are split evenly (a 20-panel 7x7 conv was 17 + 3 panels x 8 + 5 tiles:
   * the two threads got 151 and 109 units of work) */
  int64_t per_panel = p->taps * p->kc * QG_NR;
  int64_t ppb = (256 * 1024) / (per_panel > 0 ? per_panel : 1);
  if (ppb < 1)
    ppb = 1;
  int64_t blocks = (p->panels + ppb - 1) / ppb;
  c.panels_per_block = (p->panels + blocks - 1) / blocks;
  bool six = c.direct && !c.slot;
  int64_t tile_rows = six ? QG_MR6 : QG_MR;
  int64_t tiles = (m_total + tile_rows - 1) / tile_rows;
  c.m_tasks = (tiles * tile_rows + 31) / 32; /* about 32 rows per task */
  c.tiles_per_task = (tiles + c.m_tasks - 1) / c.m_tasks;
  ptl_parallel_for(six ? qg_task6 : qg_task, &c, (size_t)(blocks * c.m_tasks));
done:
  if (beff != beff_s)
    free(beff);
  if (rs != rs_s)
    free(rs);
  free(zbuf);
  free(xcopy);
  free(flags);
  free(fix);
  free(fix_row);
  free(slot);
  free(side);
  return s;
}

/* Pixel stride of an input whose pixels are evenly spaced with their channels dense
 * (xs: n, c, h, w in bytes); 0 otherwise. */
static int64_t uniform_pixels(const ptl_qgemm_geom *g, const int64_t *xs) {
  if (g->c > 1 && xs[1] != 1)
    return 0;
  int64_t pix = g->w > 1   ? xs[3]
                : g->h > 1 ? xs[2] / g->w
                : g->n > 1 ? xs[0] / (g->h * g->w)
                           : g->c;
  if (pix < g->c || (g->w > 1 && xs[3] != pix) || (g->h > 1 && xs[2] != pix * g->w) ||
      (g->n > 1 && xs[0] != pix * g->w * g->h))
    return 0;
  return pix;
}

ptl_status ptl_qgemm_conv_strided(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g,
                                  const uint8_t *x, const int64_t *xs, const ptl_qgemm_quant *q,
                                  uint8_t *y, int64_t out_pix) {
  /* the epilogue adds the zero point in int16 and clamps to qmin in bytes */
  if (!ptl_qgemm_available() || q->xzp < 0 || q->xzp > 127 || p->o != g->o || q->ozp < 0 ||
      q->ozp > 255 || q->qmin < 0 || q->qmax > 255 || q->qmin > q->qmax)
    return PTL_ERR_UNSUPPORTED;
  if (g->n * g->oh * g->ow == 0)
    return PTL_OK;
  ptl_qgemm_geom gp;
  uint8_t *own = NULL;
  int64_t in_pix = p->layout == QG_PIXEL ? uniform_pixels(g, xs) : 0;
  if (p->layout != QG_PIXEL) {
    own = padded_image(g, x, xs, (uint8_t)q->xzp, &gp);
    g = &gp;
  } else if (!in_pix) {
    /* a dense NHWC copy (rare: the stem's NCHW input takes the padded image) */
    int64_t npix = g->n * g->h * g->w, x0 = 0;
    own = malloc((size_t)(npix * g->c) + 16);
    for (int64_t n = 0; own && n < g->n; n++)
      for (int64_t iy = 0; iy < g->h; iy++, x0 += g->w)
        gather_row(own + x0 * g->c, x + n * xs[0] + iy * xs[2], g->w, g->c, xs[1], xs[3]);
  }
  if (!in_pix) {
    if (!own)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory copying the input");
    in_pix = g->c;
  }
  ptl_status s = run_conv(p, g, own, own ? own : x, in_pix, q, y, out_pix);
  free(own);
  return s;
}

ptl_status ptl_qgemm_conv(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, const uint8_t *x,
                          int64_t in_pix, const ptl_qgemm_quant *q, uint8_t *y, int64_t out_pix) {
  const int64_t xs[4] = {g->h * g->w * in_pix, 1, g->w * in_pix, in_pix};
  return ptl_qgemm_conv_strided(p, g, x, xs, q, y, out_pix);
}

#else
bool ptl_qgemm_available(void) {
  return false;
}

ptl_status ptl_qgemm_conv(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, const uint8_t *x,
                          int64_t in_pix, const ptl_qgemm_quant *q, uint8_t *y, int64_t out_pix) {
  (void)p, (void)g, (void)x, (void)in_pix, (void)q, (void)y, (void)out_pix;
  return PTL_ERR_UNSUPPORTED;
}

ptl_status ptl_qgemm_conv_strided(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g,
                                  const uint8_t *x, const int64_t *xs, const ptl_qgemm_quant *q,
                                  uint8_t *y, int64_t out_pix) {
  (void)p, (void)g, (void)x, (void)xs, (void)q, (void)y, (void)out_pix;
  return PTL_ERR_UNSUPPORTED;
}
#endif
