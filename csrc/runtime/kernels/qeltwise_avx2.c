/* qeltwise_avx2.c - AVX2 bodies of qeltwise.c's dense fast paths (same-shape
 * quantized add in QNNPACK's fixed point, quantized mul in float). Each function
 * does the integer / float steps of the scalar reference in the same order, 8
 * lanes at a time, on whole blocks of 32 elements, and returns how many elements
 * it wrote; the caller finishes the rest with the scalar code. Compiled for AVX2
 * with target attributes and called only after a runtime CPU check, so the rest
 * of the build stays baseline x86-64 (prototypes are declared in qeltwise.c). */
#include <stdbool.h>
#include <stdint.h>

#include "../internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

bool ptl_qeltwise_have_avx2(void) {
  static int state = -1; /* racing initializers write the same value */
  if (state < 0) {
    __builtin_cpu_init();
    state = __builtin_cpu_supports("avx2") ? 1 : 0;
  }
  return state == 1;
}

/* 32 int32 lanes (four vectors in lane order) to 32 bytes saturated to [0, 255]:
 * packs / packus interleave 128-bit halves, one permute puts them back in order. */
__attribute__((target("avx2,fma"))) static inline __m256i pack32(__m256i q0, __m256i q1, __m256i q2,
                                                                 __m256i q3) {
  __m256i w01 = _mm256_packs_epi32(q0, q1); /* int16: q0[0..3] q1[0..3] q0[4..7] q1[4..7] */
  __m256i w23 = _mm256_packs_epi32(q2, q3);
  __m256i b = _mm256_packus_epi16(w01, w23);
  return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* acc = bias + a * am + b * bm (int32, wrapping as QNNPACK's vector code),
 * q = (acc >> shift) + (remainder > threshold) + zo: qeltwise.c's qadd_fixed. */
__attribute__((target("avx2,fma"))) static inline __m256i qadd8(__m128i a8, __m128i b8, __m256i am,
                                                                __m256i bm, __m256i bias,
                                                                __m128i sh, __m256i mask,
                                                                __m256i thr, __m256i zo) {
  __m256i a = _mm256_cvtepu8_epi32(a8), b = _mm256_cvtepu8_epi32(b8);
  __m256i acc = _mm256_add_epi32(
      bias, _mm256_add_epi32(_mm256_mullo_epi32(a, am), _mm256_mullo_epi32(b, bm)));
  /* rem = (acc & mask) - (acc < 0): srai by 31 gives -1 for negatives */
  __m256i rem = _mm256_add_epi32(_mm256_and_si256(acc, mask), _mm256_srai_epi32(acc, 31));
  __m256i q = _mm256_sra_epi32(acc, sh);
  q = _mm256_sub_epi32(q, _mm256_cmpgt_epi32(rem, thr)); /* cmpgt is -1 when true */
  return _mm256_add_epi32(q, zo);
}

__attribute__((target("avx2,fma"))) int64_t
ptl_qadd_fixed_avx2(const uint8_t *pa, const uint8_t *pb, uint8_t *py, int64_t n, int32_t am_,
                    int32_t bm_, int32_t bias_, uint32_t shift, int32_t zo_, int32_t lo_) {
  const __m256i am = _mm256_set1_epi32(am_), bm = _mm256_set1_epi32(bm_);
  const __m256i bias = _mm256_set1_epi32(bias_), zo = _mm256_set1_epi32(zo_);
  const uint32_t mask_ = (1u << shift) - 1u;
  const __m256i mask = _mm256_set1_epi32((int32_t)mask_);
  const __m256i thr = _mm256_set1_epi32((int32_t)(mask_ >> 1));
  const __m128i sh = _mm_cvtsi32_si128((int)shift);
  const __m256i lo = _mm256_set1_epi8((char)lo_);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i va = _mm256_loadu_si256((const __m256i *)(pa + i));
    __m256i vb = _mm256_loadu_si256((const __m256i *)(pb + i));
    __m128i a0 = _mm256_castsi256_si128(va), a1 = _mm256_extracti128_si256(va, 1);
    __m128i b0 = _mm256_castsi256_si128(vb), b1 = _mm256_extracti128_si256(vb, 1);
    __m256i q0 = qadd8(a0, b0, am, bm, bias, sh, mask, thr, zo);
    __m256i q1 =
        qadd8(_mm_srli_si128(a0, 8), _mm_srli_si128(b0, 8), am, bm, bias, sh, mask, thr, zo);
    __m256i q2 = qadd8(a1, b1, am, bm, bias, sh, mask, thr, zo);
    __m256i q3 =
        qadd8(_mm_srli_si128(a1, 8), _mm_srli_si128(b1, 8), am, bm, bias, sh, mask, thr, zo);
    /* clamp to [0, 255] by saturation, then to [lo, 255] */
    __m256i r = _mm256_max_epu8(pack32(q0, q1, q2, q3), lo);
    _mm256_storeu_si256((__m256i *)(py + i), r);
  }
  return i;
}

/* v = nearbyint(float((a - za) * (b - zb)) * mult) + zo, clamped to [lo, 255]:
 * qeltwise.c's QMUL, the rounding in the default (to nearest even) mode. */
__attribute__((target("avx2,fma"))) static inline __m256i qmul8(__m128i a8, __m128i b8, __m256i za,
                                                                __m256i zb, __m256 mult, __m256 zof,
                                                                __m256 lo, __m256 hi) {
  __m256i a = _mm256_sub_epi32(_mm256_cvtepu8_epi32(a8), za);
  __m256i b = _mm256_sub_epi32(_mm256_cvtepu8_epi32(b8), zb);
  __m256 p = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_mullo_epi32(a, b)), mult);
  __m256 v = _mm256_add_ps(_mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zof);
  v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
  return _mm256_cvtps_epi32(v);
}

__attribute__((target("avx2,fma"))) int64_t ptl_qmul_avx2(const uint8_t *pa, const uint8_t *pb,
                                                          uint8_t *py, int64_t n, int32_t za_,
                                                          int32_t zb_, float mult_, float zof_,
                                                          int32_t lo_) {
  const __m256i za = _mm256_set1_epi32(za_), zb = _mm256_set1_epi32(zb_);
  const __m256 mult = _mm256_set1_ps(mult_), zof = _mm256_set1_ps(zof_);
  const __m256 lo = _mm256_set1_ps((float)lo_), hi = _mm256_set1_ps(255.0f);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i va = _mm256_loadu_si256((const __m256i *)(pa + i));
    __m256i vb = _mm256_loadu_si256((const __m256i *)(pb + i));
    __m128i a0 = _mm256_castsi256_si128(va), a1 = _mm256_extracti128_si256(va, 1);
    __m128i b0 = _mm256_castsi256_si128(vb), b1 = _mm256_extracti128_si256(vb, 1);
    __m256i q0 = qmul8(a0, b0, za, zb, mult, zof, lo, hi);
    __m256i q1 = qmul8(_mm_srli_si128(a0, 8), _mm_srli_si128(b0, 8), za, zb, mult, zof, lo, hi);
    __m256i q2 = qmul8(a1, b1, za, zb, mult, zof, lo, hi);
    __m256i q3 = qmul8(_mm_srli_si128(a1, 8), _mm_srli_si128(b1, 8), za, zb, mult, zof, lo, hi);
    _mm256_storeu_si256((__m256i *)(py + i), pack32(q0, q1, q2, q3));
  }
  return i;
}

#else /* not x86-64 GCC / clang: the callers run their scalar loops */

bool ptl_qeltwise_have_avx2(void) {
  return false;
}

int64_t ptl_qadd_fixed_avx2(const uint8_t *pa, const uint8_t *pb, uint8_t *py, int64_t n,
                            int32_t am, int32_t bm, int32_t bias, uint32_t shift, int32_t zo,
                            int32_t lo) {
  (void)pa, (void)pb, (void)py, (void)n, (void)am, (void)bm, (void)bias, (void)shift, (void)zo,
      (void)lo;
  return 0;
}

int64_t ptl_qmul_avx2(const uint8_t *pa, const uint8_t *pb, uint8_t *py, int64_t n, int32_t za,
                      int32_t zb, float mult, float zof, int32_t lo) {
  (void)pa, (void)pb, (void)py, (void)n, (void)za, (void)zb, (void)mult, (void)zof, (void)lo;
  return 0;
}
#endif
