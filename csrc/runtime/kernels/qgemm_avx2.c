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
 * tiles, one input pointer per (kernel tap, row) like conv.c's float kernel; taps
 * outside the image point at a buffer of x_zp bytes (they then add x_zp * w - x_zp *
 * w = 0 with the zero point correction). Weights are packed in panels of 16 output
 * channels, k in quads: [panel][tap][quad][2 halves of 8 channels][4 bytes]; k past
 * the tap's channels is zero. Small-channel stems (C = 3, 7x7) are run from a padded
 * copy where one kernel row is one contiguous tap of kW * C bytes. Each output is
 * summed in a fixed order by one tile, so any thread count gives the same bits. */
#include <stdlib.h>
#include <string.h>

#include "qgemm.h"

#define QG_MR 4
#define QG_NR 16

struct ptl_qgemm_packed {
  int64_t o, panels;
  int64_t taps, tapc, kc; /* taps, real bytes per tap, bytes per tap (multiple of 4) */
  bool stem;
  int8_t *w;       /* panels * taps * kc * QG_NR bytes */
  int32_t *colsum; /* panels * QG_NR: sum of each output channel's weights */
};

/* The stem layout: a dense kernel row of kW * C bytes as one tap (when C is not a
 * multiple of 4, per-pixel taps would pad every pixel's channels). */
static bool stem_layout(const ptl_qgemm_geom *g) {
  return g->dw == 1 && g->kw > 1 && g->c % 4 != 0 && g->c * g->kw <= 64;
}

uint64_t ptl_qgemm_layout(const ptl_qgemm_geom *g) {
  return stem_layout(g) ? 2 : 1;
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
  p->stem = stem_layout(g);
  p->taps = p->stem ? g->kh : g->kh * g->kw;
  p->tapc = p->stem ? g->kw * g->c : g->c;
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
 * returns the number of such pixels. */
__attribute__((target("avx2"))) static int64_t
hot_pixels(const uint8_t *x, int64_t npix, int64_t stride, int64_t c, uint8_t *flags) {
  if (stride == c && npix > 0) { /* dense: one pass over the bytes settles the usual case */
    size_t n = (size_t)(npix * c), i = 0;
    __m256i a = _mm256_setzero_si256();
    for (; i + 32 <= n; i += 32)
      a = _mm256_or_si256(a, _mm256_loadu_si256((const __m256i *)(x + i)));
    uint8_t t = 0;
    for (; i < n; i++)
      t |= x[i];
    if (_mm256_movemask_epi8(a) == 0 && t < 128) {
      memset(flags, 0, (size_t)npix);
      return 0;
    }
  }
  int64_t hot = 0;
  for (int64_t i = 0; i < npix; i++) {
    const uint8_t *px = x + i * stride;
    int f;
    if (c >= 32) { /* the last load overlaps the previous ones: no tail loop */
      __m256i a = _mm256_loadu_si256((const __m256i *)(px + c - 32));
      for (int64_t k = 0; k + 32 <= c; k += 32)
        a = _mm256_or_si256(a, _mm256_loadu_si256((const __m256i *)(px + k)));
      f = _mm256_movemask_epi8(a) != 0;
    } else if (c >= 8) {
      uint64_t a, v;
      memcpy(&a, px + c - 8, 8);
      for (int64_t k = 0; k + 8 <= c; k += 8) {
        memcpy(&v, px + k, 8);
        a |= v;
      }
      f = (a & 0x8080808080808080ull) != 0;
    } else {
      uint8_t a = 0;
      for (int64_t k = 0; k < c; k++)
        a |= px[k];
      f = a >> 7;
    }
    flags[i] = (uint8_t)f;
    hot += f;
  }
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

/* One 4x16 tile: a[t * 4 + r] is row r's input for tap t (quads * 4 bytes); corr
 * (NULL: none) holds per row a NULL or 16 int32 to add before requantization. */
__attribute__((target("avx2"))) static void
qgemm_4x16(size_t taps, size_t quads, const uint8_t *const *a, const int8_t *w, const int32_t *bias,
           const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
           size_t out_pix, size_t mr, size_t nr, const int32_t *const *corr) {
  /* the bias starts the sums: int32 addition wraps, so the order does not matter */
  __m256i c00 = _mm256_loadu_si256((const __m256i *)bias);
  __m256i c01 = _mm256_loadu_si256((const __m256i *)(bias + 8));
  __m256i c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t t = 0; t < taps; t++, a += QG_MR) {
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    for (size_t qd = 0; qd < quads; qd++, w += 4 * QG_NR) {
      const __m256i w0 = _mm256_load_si256((const __m256i *)w);
      const __m256i w1 = _mm256_load_si256((const __m256i *)(w + 32));
      QROW(0);
      QROW(1);
      QROW(2);
      QROW(3);
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

/* qgemm_4x16 for a last panel of at most 8 channels (mobilenet's 24-channel
 * projections: a third of their work): the empty half is skipped; its accumulators
 * stay at the (padded) bias and are not stored. */
__attribute__((target("avx2"), noinline)) static void
qgemm_4x8(size_t taps, size_t quads, const uint8_t *const *a, const int8_t *w, const int32_t *bias,
          const float *scale, __m256i vzp16, __m256i vqmin8, __m256i vqmax8, uint8_t *out,
          size_t out_pix, size_t mr, size_t nr, const int32_t *const *corr) {
  /* the bias starts the sums: int32 addition wraps, so the order does not matter */
  __m256i c00 = _mm256_loadu_si256((const __m256i *)bias);
  __m256i c01 = _mm256_loadu_si256((const __m256i *)(bias + 8));
  __m256i c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
  const __m256i ones = _mm256_set1_epi16(1);
  for (size_t t = 0; t < taps; t++, a += QG_MR) {
    const uint8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    for (size_t qd = 0; qd < quads; qd++, w += 4 * QG_NR) {
      const __m256i w0 = _mm256_load_si256((const __m256i *)w);
      QROWH(0);
      QROWH(1);
      QROWH(2);
      QROWH(3);
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
    int64_t n = m0 / plane, oy = (m0 % plane) / g->ow, ox = m0 % g->ow;
    const int32_t *corr[QG_MR] = {NULL, NULL, NULL, NULL};
    bool fixed = false;
    for (int64_t r = 0; r < mr && c->fix_row; r++)
      if (c->fix_row[m0 + r] >= 0) {
        corr[r] = c->fix + c->fix_row[m0 + r] * p->panels * QG_NR;
        fixed = true;
      }
    for (int64_t r = 0; r < QG_MR; r++) {
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
      if (nr <= 8) /* one call site each: qgemm_4x16 stays inlined here */
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

/* The stem layout's input: [n][hp][wp][c] dense, x_zp outside the image, with slack
 * past the end for the last tap's read up to the next multiple of 4 bytes. */
static uint8_t *stem_image(const ptl_qgemm_geom *g, const uint8_t *x, int64_t in_pix, uint8_t xzp,
                           ptl_qgemm_geom *g2) {
  int64_t hp = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
  int64_t wp = (g->ow - 1) * g->sw + g->kw;
  int64_t C = g->c;
  size_t bytes = (size_t)(g->n * hp * wp * C);
  uint8_t *d = malloc(bytes + 64);
  if (!d)
    return NULL;
  memset(d, xzp, bytes);
  memset(d + bytes, 0, 64);
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t iy = 0; iy < g->h; iy++) {
      int64_t py = iy + g->pt;
      if (py >= hp)
        break;
      int64_t x0 = g->pl, cols = g->w;
      if (x0 + cols > wp)
        cols = wp - x0;
      if (cols <= 0)
        continue;
      uint8_t *dst = d + ((n * hp + py) * wp + x0) * C;
      const uint8_t *src = x + ((n * g->h + iy) * g->w) * in_pix;
      if (in_pix == C)
        memcpy(dst, src, (size_t)(cols * C));
      else
        for (int64_t ix = 0; ix < cols; ix++)
          memcpy(dst + ix * C, src + ix * in_pix, (size_t)C);
    }
  *g2 = *g;
  g2->h = hp;
  g2->w = wp;
  g2->pt = g2->pl = 0;
  g2->kw = 1;
  g2->c = g->kw * C; /* informational: taps read kc bytes from a pixel of C */
  return d;
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

/* Bytes above 127 in the flagged pixels, counted up to just past `limit`. */
static int64_t count_hot_bytes(const ptl_qgemm_geom *g, const uint8_t *x, int64_t in_pix,
                               const uint8_t *flags, int64_t limit) {
  int64_t n = 0, npix = g->n * g->h * g->w;
  for (int64_t i = 0; i < npix && n <= limit; i++)
    if (flags[i])
      for (int64_t ch = 0; ch < g->c; ch++)
        n += x[i * in_pix + ch] > 127;
  return n;
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
          /* w[o][ky][kx][ch] in the packed panels (either layout) */
          int64_t t = p->stem ? ky : ky * g->kw + kx, i = p->stem ? kx * g->c + ch : ch;
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

ptl_status ptl_qgemm_conv(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, const uint8_t *x,
                          int64_t in_pix, const ptl_qgemm_quant *q, uint8_t *y, int64_t out_pix) {
  /* the epilogue adds the zero point in int16 and clamps to qmin in bytes */
  if (!ptl_qgemm_available() || q->xzp < 0 || q->xzp > 127 || p->o != g->o || q->ozp < 0 ||
      q->ozp > 255 || q->qmin < 0 || q->qmax > 255 || q->qmin > q->qmax)
    return PTL_ERR_UNSUPPORTED;
  int64_t m_total = g->n * g->oh * g->ow;
  if (m_total == 0)
    return PTL_OK;
  int64_t npix = g->n * g->h * g->w, taps = g->kh * g->kw;
  uint8_t *flags = malloc((size_t)npix + 1);
  if (!flags)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory");
  /* a fix-up costs about taps * o scalar multiply-adds per hot byte, some 40 times the
   * kernel's time per multiply-add: beyond m_total * c / 256 hot bytes (a quarter of
   * the kernel's time; activations quantized to 0..255 have far more; + 16 so that
   * small convs take a few) XNNPACK is faster, and the caller runs it */
  int64_t limit = m_total * g->c / 256 + 16, nhot = 0;
  int64_t hotpix = hot_pixels(x, npix, in_pix, g->c, flags);
  if (hotpix > 0)
    nhot = count_hot_bytes(g, x, in_pix, flags, limit);
  if (nhot > limit) {
    free(flags);
    return PTL_ERR_UNSUPPORTED;
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
  int32_t *beff = calloc(nch, sizeof(int32_t)), *fix = NULL, *fix_row = NULL, *slot = NULL;
  float *rs = calloc(nch, sizeof(float));
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
  size_t copy_bytes = 0;
  if (p->stem) {
    xcopy = stem_image(g, x, in_pix, (uint8_t)q->xzp, &c.g);
    c.in_pix = g->c;
    copy_bytes = (size_t)(c.g.n * c.g.h * c.g.w * g->c);
  } else if (p->kc != g->c) {
    xcopy = pad_channels(g, x, in_pix, p->kc);
    c.in_pix = p->kc;
    copy_bytes = (size_t)(npix * p->kc);
  }
  if ((p->stem || p->kc != g->c) && !xcopy) {
    s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "qgemm: out of memory copying the input");
    goto done;
  }
  if (xcopy)
    c.x = xcopy;
  if (nhot > 0 && xcopy) {
    clamp_127(xcopy, copy_bytes);
  } else if (nhot > 0) {
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
  if (nhot > 0) {
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
  c.beff = beff;
  c.rs = rs;
  c.zbuf = zbuf;
  c.m_total = m_total;
  c.tiles_per_task = 8;
  /* weights of one block of panels stay in L2 while the pixel tiles pass */
  int64_t per_panel = p->taps * p->kc * QG_NR;
  c.panels_per_block = (256 * 1024) / (per_panel > 0 ? per_panel : 1);
  if (c.panels_per_block < 1)
    c.panels_per_block = 1;
  if (c.panels_per_block > p->panels)
    c.panels_per_block = p->panels;
  int64_t tiles = (m_total + QG_MR - 1) / QG_MR;
  c.m_tasks = (tiles + c.tiles_per_task - 1) / c.tiles_per_task;
  int64_t blocks = (p->panels + c.panels_per_block - 1) / c.panels_per_block;
  ptl_parallel_for(qg_task, &c, (size_t)(blocks * c.m_tasks));
done:
  free(beff);
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

#else
bool ptl_qgemm_available(void) {
  return false;
}

ptl_status ptl_qgemm_conv(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, const uint8_t *x,
                          int64_t in_pix, const ptl_qgemm_quant *q, uint8_t *y, int64_t out_pix) {
  (void)p, (void)g, (void)x, (void)in_pix, (void)q, (void)y, (void)out_pix;
  return PTL_ERR_UNSUPPORTED;
}
#endif
