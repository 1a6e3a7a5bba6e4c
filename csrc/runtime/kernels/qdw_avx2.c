/* qdw_avx2.c - exact depthwise (groups == channels, one output per channel) quint8
 * convolution for AVX2, called from qconv.c (interface declared there too: the
 * prototypes below and qconv.c's must stay identical).
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
 * Each output is summed in a fixed order by exactly one task: same bits for any
 * thread count. Requantization is ptl_requantize's (float multiply, clamp in float,
 * round half even, + zero point), lane by lane. */
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>

#include "../internal.h"
#include "qdw.h"

typedef struct {
  int64_t c, kh, kw, cb, np; /* channels, kernel, 16-channel blocks, pair rows */
  int16_t *w;                /* [cb][np][kw][32]: lanes as P's (see pack) */
} qdw_packed;

void ptl_qdw_packed_destroy(void *obj) {
  qdw_packed *p = obj;
  if (!p)
    return;
  free(p->w);
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
  const int32_t *bias; /* [cb][16] in lane order, 0 past c */
  const float *scale;  /* [cb][16] in lane order */
  uint8_t *y;
  int failed; /* set (atomically) by a task whose scratch allocation failed */
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
  size_t nl = (size_t)(p->cb * 16);
  int32_t *bias = malloc(nl * sizeof(int32_t));
  float *scale = malloc(nl * sizeof(float));
  if (!bias || !scale) {
    free(bias);
    free(scale);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "quantized_conv2d: out of memory");
  }
  for (int64_t b = 0; b < p->cb; b++)
    for (int l = 0; l < 16; l++) {
      int64_t ch = b * 16 + lane_ch[l];
      bias[b * 16 + l] = ch < p->c ? qbias[ch] : 0;
      scale[b * 16 + l] = ch < p->c ? rscale[ch] : 1.0f;
    }
  c.bias = bias;
  c.scale = scale;
  size_t threads = pthreadpool_get_threads_count((pthreadpool_t)ptl_threadpool());
  if (threads < 1)
    threads = 1;
  /* one band of rows per thread keeps the pair-row reuse; with several threads, up to
   * 4 bands each (of >= 8 rows) so a preempted thread delays less of the work. The
   * split changes which task computes a row, never how: same bits either way. */
  int64_t tasks = threads > 1 ? (int64_t)threads * 4 : 1;
  if (tasks > c.rows / 8)
    tasks = c.rows / 8 > (int64_t)threads ? c.rows / 8 : (int64_t)threads;
  c.tasks = c.rows < tasks ? c.rows : tasks;
  ptl_status s = PTL_OK;
  if (c.tasks > 0)
    ptl_parallel_for(qdw_task, &c, (size_t)c.tasks);
  if (__atomic_load_n(&c.failed, __ATOMIC_RELAXED))
    s = ptl_error(
        PTL_ERR_OUT_OF_MEMORY,
        "quantized_conv2d: out of memory (or more than 64 concurrent tasks) for depthwise scratch");
  free(bias);
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
