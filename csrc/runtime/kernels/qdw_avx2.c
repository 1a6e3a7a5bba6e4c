/* qdw_avx2.c - exact depthwise (groups == channels, one output per channel) quint8
 * convolution for AVX2, called from qconv.c (interface in qdw.h).
 *
 * Why: XNNPACK's qc8 depthwise path needs the ^0x80 flip copies in and out and runs
 * its exact products at the vpmaddwd rate on widened values anyway; mobilenet's
 * depthwise layers took a third of its int8 time that way.
 *
 * How: products (x - x_zp) * w are exact in vpmaddwd (int16 inputs: |x - x_zp| <= 255,
 * |w| <= 128; a pair sum is below 2^17). vpmaddwd adds two products per int32 lane;
 * the pair is two kernel rows (ky = 2j, 2j + 1) of the same channel and column. A
 * "pair row" P(r) holds, for input rows r and r + 1, every padded column and channel
 * as interleaved int16 (x - x_zp) values (0 outside the image, so padding adds
 * nothing). An output row oy needs P(oy * sh - pt + 2j) for j < ceil(kh / 2) (an odd
 * last kernel row pairs with a zero weight); pair rows are kept in a small ring, so
 * consecutive output rows reuse them. Per 16 channels one pair tap is 2 vpmaddwd.
 * That general path serves every kernel size; 3x3 with horizontal stride 1 or 2 (all
 * of mobilenet's depthwise layers) runs register kernels instead (see qdw3_row_impl), which
 * build the pairs from the quint8 rows as they go and need no pair rows.
 * Each output is summed in a fixed order by exactly one task: same bits for any
 * thread count. Requantization is ptl_requantize's (float multiply, clamp in float,
 * round half even, + zero point), lane by lane. */
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>

#include "../internal.h"
#include "qdw.h"

/* pair vectors of the 3x3 register kernels (wYX: kernel row Y, column X): (w00, w10),
 * (w01, w11), (w02, w12), (w20, w21), (0, w22) [stride 1], (w22, 0) [stride 2] */
enum { QDW3_NW = 6 };

typedef struct {
  int64_t c, kh, kw, cb, np; /* channels, kernel, 16-channel blocks, pair rows */
  int16_t *w;                /* [cb][np][kw][32]: lanes as P's (see pack) */
  /* 3x3 only (NULL otherwise), for the register kernels (qdw3_row_impl): per 16-channel block,
   * QDW3_NW vectors of (weight, weight) int16 pairs, lo then hi half; wsum[c]: the 9 weights' sum
   */
  int16_t *w3;
  int32_t *wsum;
} qdw_packed;

void ptl_qdw_packed_destroy(void *obj) {
  qdw_packed *p = obj;
  if (!p)
    return;
  free(p->w);
  free(p->w3);
  free(p->wsum);
  free(p);
}

/* Lane order of a 16-channel block after unpacklo / unpackhi of two widened rows:
 * the lo half holds channels 0-3 and 8-11, the hi half 4-7 and 12-15, each as
 * (row a, row b) int16 pairs. lane_ch[l] is the channel of int32 lane l (0..15). */
static const int lane_ch[16] = {0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15};

/* w: dense int8 [c][kh][kw]. */
void *ptl_qdw_pack(const int8_t *w, int64_t c, int64_t kh, int64_t kw) {
  qdw_packed *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->c = c;
  p->kh = kh;
  p->kw = kw;
  p->cb = (c + 15) / 16;
  p->np = (kh + 1) / 2;
  size_t n = (size_t)(p->cb * p->np * kw * 32);
  p->w = aligned_alloc(32, ((n * sizeof(int16_t)) + 31) & ~(size_t)31);
  if (!p->w) {
    free(p);
    return NULL;
  }
  int16_t *d = p->w;
  for (int64_t b = 0; b < p->cb; b++)
    for (int64_t j = 0; j < p->np; j++)
      for (int64_t kx = 0; kx < kw; kx++)
        for (int l = 0; l < 16; l++) {
          int64_t ch = b * 16 + lane_ch[l];
          for (int e = 0; e < 2; e++) {
            int64_t ky = 2 * j + e;
            *d++ = (ch < c && ky < kh) ? w[(ch * kh + ky) * kw + kx] : 0;
          }
        }
  if (kh == 3 && kw == 3) {
    p->w3 = aligned_alloc(32, (size_t)p->cb * QDW3_NW * 32 * sizeof(int16_t));
    p->wsum = malloc((size_t)(c > 0 ? c : 1) * sizeof(int32_t));
    if (!p->w3 || !p->wsum) {
      ptl_qdw_packed_destroy(p);
      return NULL;
    }
    /* (ky, kx) of the two taps of each pair vector; -1: a zero weight */
    static const int8_t taps[QDW3_NW][2][2] = {
        {{0, 0}, {1, 0}}, {{0, 1}, {1, 1}},  {{0, 2}, {1, 2}},
        {{2, 0}, {2, 1}}, {{-1, 0}, {2, 2}}, {{2, 2}, {-1, 0}},
    };
    /* [cb][QDW3_NW][lo / hi half][8 lanes][2]: lanes in lane_ch order */
    int16_t *d3 = p->w3;
    for (int64_t b = 0; b < p->cb; b++)
      for (int v = 0; v < QDW3_NW; v++)
        for (int l = 0; l < 16; l++)
          for (int e = 0; e < 2; e++) {
            int64_t ch = b * 16 + lane_ch[l];
            int ky = taps[v][e][0], kx = taps[v][e][1];
            *d3++ = (ch < c && ky >= 0) ? w[(ch * 3 + ky) * 3 + kx] : 0;
          }
    for (int64_t ch = 0; ch < c; ch++) {
      int32_t sum = 0;
      for (int t = 0; t < 9; t++)
        sum += w[ch * 9 + t];
      p->wsum[ch] = sum;
    }
  }
  return p;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool ptl_qdw_available(void) {
  return ptl_cpu_has_avx2_fma();
}

typedef struct {
  const qdw_packed *p;
  const int64_t *g;
  const uint8_t *x;
  int64_t in_pix, out_pix, wp, rows, tasks;
  int32_t xzp, ozp;
  float lo, hi;
  const int32_t *bias; /* [cb][16] in lane order, 0 past c (3x3 path: - x_zp * sum(w)) */
  const float *scale;  /* [cb][16] in lane order */
  uint8_t *y;
  int32_t qmin, qmax;
  int64_t gchunks; /* 3x3 path: block chunks per row band */
  int failed;      /* set (atomically) by a task whose scratch allocation failed */
} qdw_ctx;

/* Pair-row rings: a fixed set of scratch buffers, each claimed by one task at a time
 * and kept (grown on demand) for later calls, so no call allocates in steady state.
 * Not thread-local: the pool's worker threads come and go with the thread count, and
 * their buffers would be lost with them. */
#define QDW_RINGS 64
static int ring_busy[QDW_RINGS];
static int16_t *ring_buf[QDW_RINGS];
static size_t ring_bytes[QDW_RINGS];

/* Claims a ring of at least `need` bytes; -1 when none is free or memory ran out. */
static int ring_claim(size_t need) {
  for (int i = 0; i < QDW_RINGS; i++) {
    if (__atomic_exchange_n(&ring_busy[i], 1, __ATOMIC_ACQUIRE))
      continue;
    if (ring_bytes[i] < need) {
      free(ring_buf[i]);
      ring_buf[i] = aligned_alloc(32, (need + 31) & ~(size_t)31);
      ring_bytes[i] = ring_buf[i] ? need : 0;
      if (!ring_buf[i]) {
        __atomic_store_n(&ring_busy[i], 0, __ATOMIC_RELEASE);
        return -1;
      }
    }
    return i;
  }
  return -1;
}

/* Builds P(r) of image n: rows r, r + 1, padded columns [0, wp) -> ix = i - pl. */
__attribute__((target("avx2"))) static void build_pair(const qdw_ctx *c, int64_t n, int64_t r,
                                                       int16_t *dst) {
  const int64_t *g = c->g;
  const int64_t C = g[QDW_C], cb = c->p->cb, H = g[QDW_H], W = g[QDW_W], pl = g[QDW_PL];
  const __m256i zp = _mm256_set1_epi16((int16_t)c->xzp);
  const bool va = r >= 0 && r < H, vb = r + 1 >= 0 && r + 1 < H;
  const uint8_t *ra = va ? c->x + ((n * H + r) * W) * c->in_pix : NULL;
  const uint8_t *rb = vb ? c->x + ((n * H + r + 1) * W) * c->in_pix : NULL;
  const int64_t wp = c->wp;
  /* both rows in the image: the interior columns of the full blocks in a tight loop,
   * the rest (padding columns, the channel tail) below */
  int64_t i0 = pl < wp ? pl : wp, i1 = W + pl < wp ? W + pl : wp, fullb = C / 16;
  if (va && vb && i1 > i0) {
    for (int64_t b = 0; b < fullb; b++) {
      const uint8_t *pa = ra + (i0 - pl) * c->in_pix + b * 16;
      const uint8_t *pb = rb + (i0 - pl) * c->in_pix + b * 16;
      int16_t *d = dst + (b * wp + i0) * 32;
      for (int64_t i = i0; i < i1; i++, pa += c->in_pix, pb += c->in_pix, d += 32) {
        __m256i A =
            _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)pa)), zp);
        __m256i B =
            _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)pb)), zp);
        _mm256_store_si256((__m256i *)d, _mm256_unpacklo_epi16(A, B));
        _mm256_store_si256((__m256i *)(d + 16), _mm256_unpackhi_epi16(A, B));
      }
    }
  } else {
    fullb = 0;
  }
  for (int64_t i = 0; i < wp; i++) {
    int64_t ix = i - pl;
    bool vc = ix >= 0 && ix < W;
    if (vc && fullb == cb)
      continue;                /* done above */
    int16_t *d = dst + i * 32; /* block b at d + b * wp * 32 */
    if (!vc || (!va && !vb)) {
      for (int64_t b = 0; b < cb; b++)
        memset(d + b * wp * 32, 0, 64);
      continue;
    }
    const uint8_t *pa = va ? ra + ix * c->in_pix : NULL, *pb = vb ? rb + ix * c->in_pix : NULL;
    int64_t bstart = vc ? fullb : 0;
    d += bstart * wp * 32;
    for (int64_t b = bstart; b < cb; b++, d += wp * 32) {
      __m128i xa, xb;
      if (b * 16 + 16 <= C) {
        xa = va ? _mm_loadu_si128((const __m128i *)(pa + b * 16)) : _mm_setzero_si128();
        xb = vb ? _mm_loadu_si128((const __m128i *)(pb + b * 16)) : _mm_setzero_si128();
      } else {
        uint8_t ta[16] = {0}, tb[16] = {0};
        if (va)
          memcpy(ta, pa + b * 16, (size_t)(C - b * 16));
        if (vb)
          memcpy(tb, pb + b * 16, (size_t)(C - b * 16));
        xa = _mm_loadu_si128((const __m128i *)ta);
        xb = _mm_loadu_si128((const __m128i *)tb);
      }
      __m256i A = va ? _mm256_sub_epi16(_mm256_cvtepu8_epi16(xa), zp) : _mm256_setzero_si256();
      __m256i B = vb ? _mm256_sub_epi16(_mm256_cvtepu8_epi16(xb), zp) : _mm256_setzero_si256();
      _mm256_store_si256((__m256i *)d, _mm256_unpacklo_epi16(A, B));
      _mm256_store_si256((__m256i *)(d + 16), _mm256_unpackhi_epi16(A, B));
    }
  }
}

typedef struct {
  __m256i bias0, bias1, zp;
  __m256 sc0, sc1, lo, hi;
} qdw_rq;

/* ptl_requantize lane by lane of accumulators that start at the bias (float multiply, clamp in
 * float, round half even under the default MXCSR as lrintf, + zero point) and store of nb <= 16
 * channels. */
__attribute__((target("avx2"))) static inline void
requant_store(const qdw_rq *q, __m256i a0, __m256i a1, uint8_t *yo, int64_t nb) {
  __m256 f0 = _mm256_mul_ps(_mm256_cvtepi32_ps(a0), q->sc0);
  __m256 f1 = _mm256_mul_ps(_mm256_cvtepi32_ps(a1), q->sc1);
  f0 = _mm256_min_ps(_mm256_max_ps(f0, q->lo), q->hi);
  f1 = _mm256_min_ps(_mm256_max_ps(f1, q->lo), q->hi);
  __m256i i0 = _mm256_add_epi32(_mm256_cvtps_epi32(f0), q->zp);
  __m256i i1 = _mm256_add_epi32(_mm256_cvtps_epi32(f1), q->zp);
  /* lanes (0-3, 8-11) and (4-7, 12-15): packs per 128-bit lane restores 0..15; the
   * values are 0..255 so both saturating packs are exact */
  __m256i v = _mm256_packs_epi32(i0, i1);
  __m128i o8 = _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  if (nb == 16) {
    _mm_storeu_si128((__m128i *)yo, o8);
  } else {
    uint8_t t[16];
    _mm_storeu_si128((__m128i *)t, o8);
    memcpy(yo, t, (size_t)nb);
  }
}

#define QDW_TAP(a0, a1, pp, w0, w1)                                                                \
  do {                                                                                             \
    a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(pp)), w0));    \
    a1 = _mm256_add_epi32(a1,                                                                      \
                          _mm256_madd_epi16(_mm256_load_si256((const __m256i *)((pp) + 16)), w1)); \
  } while (0)

/* One output row, one 16-channel block, 3x3 (two pair rows x 3 columns): the 12
 * weight vectors stay in registers. */
__attribute__((target("avx2"))) static void row_3x3(const int16_t *p0, const int16_t *p1,
                                                    const int16_t *wb, int64_t ow, int64_t sw,
                                                    const qdw_rq *q, uint8_t *yo, int64_t out_pix,
                                                    int64_t nb) {
  const __m256i w00 = _mm256_load_si256((const __m256i *)(wb + 0)),
                w01 = _mm256_load_si256((const __m256i *)(wb + 16)),
                w10 = _mm256_load_si256((const __m256i *)(wb + 32)),
                w11 = _mm256_load_si256((const __m256i *)(wb + 48)),
                w20 = _mm256_load_si256((const __m256i *)(wb + 64)),
                w21 = _mm256_load_si256((const __m256i *)(wb + 80)),
                w30 = _mm256_load_si256((const __m256i *)(wb + 96)),
                w31 = _mm256_load_si256((const __m256i *)(wb + 112)),
                w40 = _mm256_load_si256((const __m256i *)(wb + 128)),
                w41 = _mm256_load_si256((const __m256i *)(wb + 144)),
                w50 = _mm256_load_si256((const __m256i *)(wb + 160)),
                w51 = _mm256_load_si256((const __m256i *)(wb + 176));
  for (int64_t ox = 0; ox < ow; ox++, yo += out_pix) {
    const int16_t *a = p0 + ox * sw * 32, *b = p1 + ox * sw * 32;
    __m256i a0 = q->bias0, a1 = q->bias1;
    QDW_TAP(a0, a1, a, w00, w01);
    QDW_TAP(a0, a1, a + 32, w10, w11);
    QDW_TAP(a0, a1, a + 64, w20, w21);
    QDW_TAP(a0, a1, b, w30, w31);
    QDW_TAP(a0, a1, b + 32, w40, w41);
    QDW_TAP(a0, a1, b + 64, w50, w51);
    requant_store(q, a0, a1, yo, nb);
  }
}

__attribute__((target("avx2"))) static void qdw_task(void *vctx, size_t idx) {
  const qdw_ctx *c = vctx;
  const qdw_packed *p = c->p;
  const int64_t *g = c->g;
  const int64_t cb = p->cb, np = p->np, kw = p->kw, C = g[QDW_C];
  const int64_t oh = g[QDW_OH], ow = g[QDW_OW], sh = g[QDW_SH], sw = g[QDW_SW];
  const int64_t nring = 2 * np, slot = c->wp * cb * 32; /* int16 per pair row */
  size_t need = (size_t)(nring * slot) * sizeof(int16_t);
  int ring = ring_claim(need);
  if (ring < 0) {
    __atomic_store_n((int *)&c->failed, 1, __ATOMIC_RELAXED);
    return;
  }
  int16_t *const ring_mem = ring_buf[ring];
  int64_t tags[2 * 8];
  for (int64_t i = 0; i < nring; i++)
    tags[i] = INT64_MIN;
  const int64_t r0 = (int64_t)idx * c->rows / c->tasks,
                r1 = ((int64_t)idx + 1) * c->rows / c->tasks;
  const __m256 vlo = _mm256_set1_ps(c->lo), vhi = _mm256_set1_ps(c->hi);
  const __m256i vzp = _mm256_set1_epi32(c->ozp);
  const int16_t *prow[8];
  int64_t cur_n = -1;
  for (int64_t fr = r0; fr < r1; fr++) {
    int64_t n = fr / oh, oy = fr % oh;
    if (n != cur_n) {
      for (int64_t i = 0; i < nring; i++)
        tags[i] = INT64_MIN;
      cur_n = n;
    }
    for (int64_t j = 0; j < np; j++) {
      int64_t r = oy * sh - g[QDW_PT] + 2 * j;
      int64_t s = ((r % nring) + nring) % nring;
      int16_t *buf = ring_mem + s * slot;
      if (tags[s] != r) {
        build_pair(c, n, r, buf);
        tags[s] = r;
      }
      prow[j] = buf;
    }
    uint8_t *yrow = c->y + (n * oh + oy) * ow * c->out_pix;
    for (int64_t b = 0; b < cb; b++) {
      const int16_t *wb = p->w + b * np * kw * 32;
      qdw_rq q = {_mm256_loadu_si256((const __m256i *)(c->bias + b * 16)),
                  _mm256_loadu_si256((const __m256i *)(c->bias + b * 16 + 8)),
                  vzp,
                  _mm256_loadu_ps(c->scale + b * 16),
                  _mm256_loadu_ps(c->scale + b * 16 + 8),
                  vlo,
                  vhi};
      const int64_t nb = C - b * 16 < 16 ? C - b * 16 : 16;
      const int64_t boff = b * c->wp * 32;
      if (np == 2 && kw == 3) {
        row_3x3(prow[0] + boff, prow[1] + boff, wb, ow, sw, &q, yrow + b * 16, c->out_pix, nb);
        continue;
      }
      for (int64_t ox = 0; ox < ow; ox++) {
        __m256i a0 = q.bias0, a1 = q.bias1;
        for (int64_t j = 0; j < np; j++) {
          const int16_t *pp = prow[j] + boff + ox * sw * 32;
          const int16_t *ww = wb + j * kw * 32;
          for (int64_t kx = 0; kx < kw; kx++, pp += 32, ww += 32)
            QDW_TAP(a0, a1, pp, _mm256_load_si256((const __m256i *)ww),
                    _mm256_load_si256((const __m256i *)(ww + 16)));
        }
        requant_store(&q, a0, a1, yrow + ox * c->out_pix + b * 16, nb);
      }
    }
  }
  __atomic_store_n(&ring_busy[ring], 0, __ATOMIC_RELEASE);
}

/* ---- 3x3, horizontal stride 1 or 2: register kernels --------------------------------------
 * Why: the pair rows above cost a widening pass that writes 4 bytes per input byte, read back
 * from L2 (a ring of 4 pair rows exceeds L1 at mobilenet's sizes), and a 16-channel block's 12
 * weight vectors do not fit the registers next to its accumulators. Here the pairs are built
 * in registers straight from the quint8 rows, and each built column serves every output that
 * uses it. With Z_k(i) = kernel row k's column i widened to int16 (16 channels):
 *   V(i) = (Z_0(i), Z_1(i)) interleaved per channel (kernel rows 0 and 1 of column i),
 *   H(i) = (Z_2(i), Z_2(i + 1)) (kernel row 2, columns i and i + 1),
 * out(ix) = V(ix).(w00,w10) + V(ix+1).(w01,w11) + V(ix+2).(w02,w12) + H(ix).(w20,w21)
 *         + H(ix+1).(0,w22)  [stride 1: H(ix+1) is the next output's H(ix)]
 *         or H(ix+2).(w22,0) [stride 2: the next output's H(ix)],
 * 10 vpmaddwd per 16 channels and output (the pair rows need 12). Lanes are in lane_ch order
 * (unpacks within 128-bit lanes), as the pair-row path's. The activations are the raw
 * quint8 values: the accumulator starts at bias - x_zp * sum(w) instead (exact modulo 2^32,
 * and the true result fits int32), so padding is x_zp itself and nothing is subtracted. */

typedef struct {
  __m256 s0, s1;      /* scales, lanes as the accumulators */
  __m256i b0, b1;     /* bias - x_zp * sum(w) */
  __m256i zp16;       /* output zero point, int16 lanes */
  __m256i qmin, qmax; /* output clamp, uint8 lanes */
  int64_t nb;         /* channels stored (16 but in a channel tail) */
} qdw3_blk;

typedef struct {
  const uint8_t *r[3]; /* kernel rows 0..2 at column 0 of this 16-channel block */
  int64_t s[3];        /* bytes between columns (0: a padding row of x_zp bytes) */
  int64_t w;           /* image width: columns [0, w) are in the image */
  const uint8_t *padp; /* 16 x_zp bytes */
} qdw3_rows;

enum { QDW3_FLOOR = 1, QDW3_CEIL = 2 }; /* output clamps that bind: qmin > 0, qmax < 255 */

#define QDW3_Z(ptr) _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(ptr)))
/* a pair vector: lo / hi halves of two widened columns interleaved */
typedef struct {
  __m256i lo, hi;
} qdw3_pv;
#define QDW3_PV(a, b) ((qdw3_pv){_mm256_unpacklo_epi16(a, b), _mm256_unpackhi_epi16(a, b)})
/* acc += v . weight vector wi of the block (read from memory: L1) */
#define QDW3_MAC(acc0, acc1, v, wb, wi)                                                            \
  do {                                                                                             \
    acc0 = _mm256_add_epi32(                                                                       \
        acc0, _mm256_madd_epi16((v).lo, _mm256_load_si256((const __m256i *)((wb) + (wi)*32))));    \
    acc1 = _mm256_add_epi32(                                                                       \
        acc1,                                                                                      \
        _mm256_madd_epi16((v).hi, _mm256_load_si256((const __m256i *)((wb) + (wi)*32 + 16))));     \
  } while (0)

/* Hides wb's value from the optimizer at the top of each loop iteration: the weights then stay
 * memory operands of vpmaddwd (L1 loads) instead of being hoisted into registers, which
 * made GCC spill the accumulators. */
#define QDW3_OPAQUE(wb) __asm__("" : "+r"(wb))

/* ptl_requantize's bits for two outputs' 16 channels (a: a0, a1; b: b0, b1; yb NULL: a only).
 * Rounding a float clamped to integer bounds equals clamping the rounded value, so the clamp
 * runs on the bytes after saturating packs (|acc * scale| < 2^30 by qdw_quant_ok: cvtps2dq
 * cannot overflow). */
__attribute__((target("avx2"))) static inline void qdw3_store2(const qdw3_blk *q, __m256i a0,
                                                               __m256i a1, __m256i b0, __m256i b1,
                                                               uint8_t *ya, uint8_t *yb,
                                                               const int clamp) {
#define QDW3_RQ(v, s) _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(v), s))
  /* lanes (0-3, 8-11) and (4-7, 12-15): packs per 128-bit lane gives channels 0-7 | 8-15 */
  __m256i va =
      _mm256_adds_epi16(_mm256_packs_epi32(QDW3_RQ(a0, q->s0), QDW3_RQ(a1, q->s1)), q->zp16);
  __m256i vb =
      _mm256_adds_epi16(_mm256_packs_epi32(QDW3_RQ(b0, q->s0), QDW3_RQ(b1, q->s1)), q->zp16);
#undef QDW3_RQ
  /* [a 0-7, b 0-7 | a 8-15, b 8-15] -> [a 0-15 | b 0-15] */
  __m256i o = _mm256_permute4x64_epi64(_mm256_packus_epi16(va, vb), 0xD8);
  /* the packs already clamp to [0, 255]: the floor / ceiling only when they bind */
  if (clamp & QDW3_FLOOR)
    o = _mm256_max_epu8(o, q->qmin);
  if (clamp & QDW3_CEIL)
    o = _mm256_min_epu8(o, q->qmax);
  if (q->nb == 16) {
    _mm_storeu_si128((__m128i *)ya, _mm256_castsi256_si128(o));
    if (yb)
      _mm_storeu_si128((__m128i *)yb, _mm256_extracti128_si256(o, 1));
  } else {
    uint8_t t[32];
    _mm256_storeu_si256((__m256i *)t, o);
    memcpy(ya, t, (size_t)q->nb);
    if (yb)
      memcpy(yb, t + 16, (size_t)q->nb);
  }
}

/* Column j of kernel row k (16 bytes), or x_zp bytes outside the image: one predictable branch
 * per column, so the edges run the same loops as the interior. Reads locals of qdw3_row_impl (not
 * R's fields, which GCC reloads after every store through y as they might alias). */
#define QDW3_ZC(k, j) QDW3_Z((uint64_t)(j) < (uint64_t)w ? r##k + (j)*s##k : padp)

/* A row's ow outputs for one 16-channel block. Each column is loaded once and added to every
 * output that uses it, so the live state is a few accumulators (not columns) and fits the 16
 * ymm registers next to the temporaries. */
__attribute__((target("avx2"), always_inline)) static inline void
qdw3_row_impl(const qdw3_rows *R, const int16_t *wb, const qdw3_blk *qb, int64_t sw, int64_t pl,
              int64_t ow, uint8_t *y, int64_t out_pix, const int clamp) {
  if (ow <= 0)
    return;
  /* a local copy, as for the rows below: GCC may keep its fields in registers */
  const qdw3_blk qc = *qb, *const q = &qc;
  const uint8_t *const r0 = R->r[0], *const r1 = R->r[1], *const r2 = R->r[2],
                       *const padp = R->padp;
  const int64_t s0 = R->s[0], s1 = R->s[1], s2 = R->s[2], w = R->w;
  int64_t j = -pl; /* the next column to load */
  if (sw == 1) {
    /* entering column j: A = out(j - 2) lacks V(j).w2 and H(j - 1).w4; B = out(j - 1) lacks
     * V(j).w1, H(j - 1).w3 and the rest; z = Z_2(j - 1) */
    __m256i A0 = q->b0, A1 = q->b1, B0 = q->b0, B1 = q->b1;
    qdw3_pv v = QDW3_PV(QDW3_ZC(0, j), QDW3_ZC(1, j));
    QDW3_MAC(A0, A1, v, wb, 0);
    v = QDW3_PV(QDW3_ZC(0, j + 1), QDW3_ZC(1, j + 1));
    QDW3_MAC(A0, A1, v, wb, 1);
    QDW3_MAC(B0, B1, v, wb, 0);
    __m256i z = QDW3_ZC(2, j + 1);
    qdw3_pv h = QDW3_PV(QDW3_ZC(2, j), z);
    QDW3_MAC(A0, A1, h, wb, 3);
    j += 2;
    for (int64_t ox = 0; ox < ow; ox++, j++, y += out_pix) {
      QDW3_OPAQUE(wb);
      __m256i zn = QDW3_ZC(2, j);
      v = QDW3_PV(QDW3_ZC(0, j), QDW3_ZC(1, j));
      h = QDW3_PV(z, zn);
      __m256i C0 = q->b0, C1 = q->b1;
      QDW3_MAC(A0, A1, v, wb, 2);
      QDW3_MAC(A0, A1, h, wb, 4);
      QDW3_MAC(B0, B1, v, wb, 1);
      QDW3_MAC(B0, B1, h, wb, 3);
      QDW3_MAC(C0, C1, v, wb, 0);
      qdw3_store2(q, A0, A1, A0, A1, y, NULL, clamp);
      A0 = B0, A1 = B1, B0 = C0, B1 = C1, z = zn;
    }
  } else {
    /* entering output ox at column j = ix: A = bias + V(ix).w0 + H(ix).w3 */
    __m256i A0 = q->b0, A1 = q->b1;
    QDW3_MAC(A0, A1, QDW3_PV(QDW3_ZC(0, j), QDW3_ZC(1, j)), wb, 0);
    QDW3_MAC(A0, A1, QDW3_PV(QDW3_ZC(2, j), QDW3_ZC(2, j + 1)), wb, 3);
    for (int64_t ox = 0; ox < ow; ox++, j += sw, y += out_pix) {
      QDW3_OPAQUE(wb);
      QDW3_MAC(A0, A1, QDW3_PV(QDW3_ZC(0, j + 1), QDW3_ZC(1, j + 1)), wb, 1);
      qdw3_pv v = QDW3_PV(QDW3_ZC(0, j + 2), QDW3_ZC(1, j + 2));
      qdw3_pv h = QDW3_PV(QDW3_ZC(2, j + 2), QDW3_ZC(2, j + 3));
      __m256i B0 = q->b0, B1 = q->b1;
      QDW3_MAC(A0, A1, v, wb, 2);
      QDW3_MAC(A0, A1, h, wb, 5);
      QDW3_MAC(B0, B1, v, wb, 0);
      QDW3_MAC(B0, B1, h, wb, 3);
      qdw3_store2(q, A0, A1, A0, A1, y, NULL, clamp);
      A0 = B0, A1 = B1;
    }
  }
}

/* qdw3_row_impl per clamp (QDW3_FLOOR | QDW3_CEIL): the constant folds the unneeded ops out */
#define QDW3_ROW_FN(name, clamp)                                                                   \
  __attribute__((target("avx2"))) static void name(const qdw3_rows *R, const int16_t *wb,          \
                                                   const qdw3_blk *q, int64_t sw, int64_t pl,      \
                                                   int64_t ow, uint8_t *y, int64_t out_pix) {      \
    qdw3_row_impl(R, wb, q, sw, pl, ow, y, out_pix, clamp);                                        \
  }
QDW3_ROW_FN(qdw3_row_0, 0)
QDW3_ROW_FN(qdw3_row_f, QDW3_FLOOR)
QDW3_ROW_FN(qdw3_row_c, QDW3_CEIL)
QDW3_ROW_FN(qdw3_row_fc, QDW3_FLOOR | QDW3_CEIL)
#undef QDW3_ROW_FN
typedef void (*qdw3_row_fn)(const qdw3_rows *, const int16_t *, const qdw3_blk *, int64_t, int64_t,
                            int64_t, uint8_t *, int64_t);
static const qdw3_row_fn qdw3_rows_by_clamp[4] = {qdw3_row_0, qdw3_row_f, qdw3_row_c, qdw3_row_fc};

/* A task: a band of output rows (of n * oh) times a chunk of 16-channel blocks. c->bias is
 * bias - x_zp * sum(w) and c->scale the scale, per block in lane order. */
__attribute__((target("avx2"))) static void qdw3_task(void *vctx, size_t idx) {
  const qdw_ctx *c = vctx;
  const qdw_packed *p = c->p;
  const int64_t *g = c->g;
  const int64_t C = g[QDW_C], H = g[QDW_H], W = g[QDW_W], oh = g[QDW_OH], ow = g[QDW_OW];
  const int64_t sh = g[QDW_SH], sw = g[QDW_SW], pt = g[QDW_PT], pl = g[QDW_PL];
  const int64_t band = (int64_t)idx / c->gchunks, chunk = (int64_t)idx % c->gchunks;
  const int64_t r0 = band * c->rows / c->tasks, r1 = (band + 1) * c->rows / c->tasks;
  const int64_t b0 = chunk * p->cb / c->gchunks, b1 = (chunk + 1) * p->cb / c->gchunks;
  /* a channel tail (C % 16 != 0) is copied to 16-byte pixels first: 16-byte loads in place
   * would read past the last pixel */
  uint8_t *tmp = NULL;
  int ring = -1;
  if (C % 16 != 0 && b1 == p->cb) {
    ring = ring_claim((size_t)(3 * W * 16 + 32));
    if (ring < 0) {
      __atomic_store_n((int *)&c->failed, 1, __ATOMIC_RELAXED);
      return;
    }
    tmp = (uint8_t *)ring_buf[ring];
  }
  uint8_t padb[16];
  memset(padb, c->xzp, sizeof padb);
  qdw3_blk q;
  q.zp16 = _mm256_set1_epi16((int16_t)c->ozp);
  q.qmin = _mm256_set1_epi8((char)(uint8_t)c->qmin);
  q.qmax = _mm256_set1_epi8((char)(uint8_t)c->qmax);
  qdw3_rows R;
  R.w = W;
  R.padp = padb;
  const qdw3_row_fn row =
      qdw3_rows_by_clamp[(c->qmin > 0 ? QDW3_FLOOR : 0) | (c->qmax < 255 ? QDW3_CEIL : 0)];
  for (int64_t fr = r0; fr < r1; fr++) {
    const int64_t n = fr / oh, oy = fr % oh;
    const uint8_t *rows[3];
    for (int k = 0; k < 3; k++) {
      int64_t r = oy * sh - pt + k;
      rows[k] = r >= 0 && r < H ? c->x + ((n * H + r) * W) * c->in_pix : NULL;
    }
    uint8_t *yrow = c->y + (n * oh + oy) * ow * c->out_pix;
    for (int64_t b = b0; b < b1; b++) {
      q.nb = C - b * 16 < 16 ? C - b * 16 : 16;
      for (int k = 0; k < 3; k++) {
        R.r[k] = rows[k] ? rows[k] + b * 16 : padb;
        R.s[k] = rows[k] ? c->in_pix : 0;
        if (rows[k] && q.nb < 16) {
          uint8_t *d = tmp + k * W * 16;
          memset(d, c->xzp, (size_t)(W * 16));
          for (int64_t i = 0; i < W; i++)
            memcpy(d + i * 16, R.r[k] + i * c->in_pix, (size_t)q.nb);
          R.r[k] = d;
          R.s[k] = 16;
        }
      }
      q.s0 = _mm256_loadu_ps(c->scale + b * 16);
      q.s1 = _mm256_loadu_ps(c->scale + b * 16 + 8);
      q.b0 = _mm256_loadu_si256((const __m256i *)(c->bias + b * 16));
      q.b1 = _mm256_loadu_si256((const __m256i *)(c->bias + b * 16 + 8));
      row(&R, p->w3 + b * QDW3_NW * 32, &q, sw, pl, ow, yrow + b * 16, c->out_pix);
    }
  }
  if (ring >= 0)
    __atomic_store_n(&ring_busy[ring], 0, __ATOMIC_RELEASE);
}

ptl_status ptl_qdw_conv(const void *packed, const int64_t *g, const uint8_t *x, int64_t in_pix,
                        int32_t xzp, int32_t ozp, int32_t qmin, int32_t qmax, const int32_t *qbias,
                        const float *rscale, uint8_t *y, int64_t out_pix) {
  const qdw_packed *p = packed;
  if (!ptl_qdw_available() || p->c != g[QDW_C] || p->kh != g[QDW_KH] || p->kw != g[QDW_KW] ||
      p->np > 8)
    return PTL_ERR_UNSUPPORTED;
  qdw_ctx c = {0};
  c.p = p;
  c.g = g;
  c.x = x;
  c.in_pix = in_pix;
  c.out_pix = out_pix;
  c.wp = (g[QDW_OW] - 1) * g[QDW_SW] + g[QDW_KW];
  c.xzp = xzp;
  c.ozp = ozp;
  c.lo = (float)(qmin - ozp);
  c.hi = (float)(qmax - ozp);
  c.y = y;
  c.rows = g[QDW_N] * g[QDW_OH];
  c.qmin = qmin;
  c.qmax = qmax;
  /* the 3x3 register kernels, else the pair rows */
  const bool k3 = p->w3 && (g[QDW_SW] == 1 || g[QDW_SW] == 2);
  /* per-channel arrays, padded to whole blocks: on the stack unless huge (no allocation per
   * call in steady state) */
  const size_t nl = (size_t)(p->cb * 16);
  int32_t bias_st[1024];
  float scale_st[1024];
  int32_t *bias = nl <= 1024 ? bias_st : malloc(nl * sizeof(int32_t));
  float *scale = nl <= 1024 ? scale_st : malloc(nl * sizeof(float));
  if (!bias || !scale) {
    if (bias != bias_st)
      free(bias);
    if (scale != scale_st)
      free(scale);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "quantized_conv2d: out of memory");
  }
  for (int64_t b = 0; b < p->cb; b++)
    for (int l = 0; l < 16; l++) {
      int64_t ch = b * 16 + lane_ch[l], i = b * 16 + l;
      scale[i] = ch < p->c ? rscale[ch] : 1.0f;
      /* 3x3: the raw activations' sum minus x_zp * sum(w), wrapped to int32 like the
       * accumulator itself (the final sum is exact) */
      bias[i] = ch >= p->c ? 0
                : k3       ? (int32_t)(uint32_t)((uint64_t)(int64_t)qbias[ch] -
                                           (uint64_t)((int64_t)xzp * p->wsum[ch]))
                           : qbias[ch];
    }
  c.bias = bias;
  c.scale = scale;
  size_t threads = pthreadpool_get_threads_count((pthreadpool_t)ptl_threadpool());
  if (threads < 1)
    threads = 1;
  int64_t ntasks;
  if (k3) {
    /* no state carries from row to row: with several threads, about 4 tasks each (so a
     * preempted thread delays less of the work), splitting channels too when rows are few */
    int64_t want = threads > 1 ? (int64_t)threads * 4 : 1;
    c.tasks = c.rows < want ? c.rows : want;
    c.gchunks = c.tasks > 0 ? (want + c.tasks - 1) / c.tasks : 1;
    if (c.gchunks > p->cb)
      c.gchunks = p->cb > 0 ? p->cb : 1;
    ntasks = c.tasks * c.gchunks;
  } else {
    /* one band of rows per thread keeps the pair-row reuse; with several threads, up to
     * 4 bands each (of >= 8 rows) so a preempted thread delays less of the work. */
    int64_t tasks = threads > 1 ? (int64_t)threads * 4 : 1;
    if (tasks > c.rows / 8)
      tasks = c.rows / 8 > (int64_t)threads ? c.rows / 8 : (int64_t)threads;
    c.tasks = c.rows < tasks ? c.rows : tasks;
    ntasks = c.tasks;
  }
  /* the split changes which task computes an output, never how: same bits either way */
  ptl_status s = PTL_OK;
  if (ntasks > 0)
    ptl_parallel_for(k3 ? qdw3_task : qdw_task, &c, (size_t)ntasks);
  if (__atomic_load_n(&c.failed, __ATOMIC_RELAXED))
    s = ptl_error(
        PTL_ERR_OUT_OF_MEMORY,
        "quantized_conv2d: out of memory (or more than 64 concurrent tasks) for depthwise scratch");
  if (bias != bias_st)
    free(bias);
  if (scale != scale_st)
    free(scale);
  return s;
}

#else
bool ptl_qdw_available(void) {
  return false;
}

ptl_status ptl_qdw_conv(const void *packed, const int64_t *g, const uint8_t *x, int64_t in_pix,
                        int32_t xzp, int32_t ozp, int32_t qmin, int32_t qmax, const int32_t *qbias,
                        const float *rscale, uint8_t *y, int64_t out_pix) {
  (void)packed, (void)g, (void)x, (void)in_pix, (void)xzp, (void)ozp, (void)qmin, (void)qmax;
  (void)qbias;
  (void)rscale, (void)y, (void)out_pix;
  return PTL_ERR_UNSUPPORTED;
}
#endif
