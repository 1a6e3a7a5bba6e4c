/* qdynamic_neon.c - the NEON (baseline ARMv8, no dot-product extension) kernels of
 * DYNAMIC_LINEAR's fast path; qdynamic.c's header describes the numerics, the weight
 * packing and the 4-row x 16-column tiles these kernels fill.
 *
 * Exactness: every product of a quantized activation (0..255) and an int8 weight is
 * formed by a widening int16 x int16 -> int32 multiply-accumulate (vmlal), so no
 * intermediate saturates; the int32 sums wrap exactly as the reference's uint32 sums
 * (addition modulo 2^32 does not depend on the order). One kernel serves both engines:
 * the 8-bit activations (qnnpack, k pairs, int16 lanes) and the 7-bit ones (reduce_range,
 * k quads, uint8 lanes), whose packings differ only in the k group size. vld2q_s8 /
 * vld4q_s8 de-interleave a group of 16 columns into one vector per k, so the packed
 * weight is shared with the AVX2 kernels and needs no layout of its own.
 *
 * On CPUs with the dot-product extension (ARMv8.2 FEAT_DotProd, detected at run time
 * through cpuinfo) both engines take the k-quad packing and SDOT, which sums four int8 x
 * int8 products per int32 lane: activations (0..255) are moved to int8 as x - 128 (an
 * exclusive-or of the top bit), and 128 * sum_k w is added back per column, so the int32
 * sums are the same modulo 2^32 as the reference's. Padding k stays exact: padded weights
 * are 0.
 *
 * The epilogue follows the reference's float order: fbgemm (reduce_range) one fused
 * multiply-add (vfmaq), qnnpack a multiply then an add. GCC keeps those two apart under
 * -std=c11 (fp-contract off); clang contracts within an expression unless told not to. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <cpuinfo.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "qdynamic_neon.h"

/* Row r's 16 sums += wk (16 int8 weights of one k) * xv: accumulators a<r>0 .. a<r>3
 * hold columns 0-3, 4-7, 8-11, 12-15. */
#define QN_ROW(r, wl, wh, xv)                                                                      \
  do {                                                                                             \
    a##r##0 = vmlal_n_s16(a##r##0, vget_low_s16(wl), (xv));                                        \
    a##r##1 = vmlal_high_n_s16(a##r##1, (wl), (xv));                                               \
    a##r##2 = vmlal_n_s16(a##r##2, vget_low_s16(wh), (xv));                                        \
    a##r##3 = vmlal_high_n_s16(a##r##3, (wh), (xv));                                               \
  } while (0)

/* One k for the 4 rows: the weights widened once, shared by the rows. */
#define QN_K(wk, i)                                                                                \
  do {                                                                                             \
    int16x8_t wl = vmovl_s8(vget_low_s8(wk)), wh = vmovl_high_s8(wk);                              \
    QN_ROW(0, wl, wh, (int16_t)x0[i]);                                                             \
    QN_ROW(1, wl, wh, (int16_t)x1[i]);                                                             \
    QN_ROW(2, wl, wh, (int16_t)x2[i]);                                                             \
    QN_ROW(3, wl, wh, (int16_t)x3[i]);                                                             \
  } while (0)

#define QN_DECL_ACC                                                                                \
  int32x4_t a00 = vdupq_n_s32(0), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00,           \
            a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00,           \
            a31 = a00, a32 = a00, a33 = a00

#define QN_STORE_ROW(r)                                                                            \
  do {                                                                                             \
    vst1q_s32(dot + (r)*16, a##r##0);                                                              \
    vst1q_s32(dot + (r)*16 + 4, a##r##1);                                                          \
    vst1q_s32(dot + (r)*16 + 8, a##r##2);                                                          \
    vst1q_s32(dot + (r)*16 + 12, a##r##3);                                                         \
  } while (0)

/* Rows past mr alias row 0: their sums are computed and dropped, so one register-resident
 * 4-row kernel also serves the 1..3-row tail (16 accumulators + 2 weights of the 32 NEON
 * registers; GCC at -O2 keeps named accumulators in registers, not an array). */
#define QN_STORE(mr)                                                                               \
  do {                                                                                             \
    QN_STORE_ROW(0);                                                                               \
    if ((mr) > 1)                                                                                  \
      QN_STORE_ROW(1);                                                                             \
    if ((mr) > 2)                                                                                  \
      QN_STORE_ROW(2);                                                                             \
    if ((mr) > 3)                                                                                  \
      QN_STORE_ROW(3);                                                                             \
  } while (0)

/* 8-bit activations (int16 lanes), weights packed per k pair. */
static void block_pairs(const int8_t *wp, int64_t kp, const int16_t *x, int mr, int32_t *dot) {
  const int16_t *x0 = x, *x1 = mr > 1 ? x0 + kp : x0, *x2 = mr > 2 ? x0 + 2 * kp : x0,
                *x3 = mr > 3 ? x0 + 3 * kp : x0;
  QN_DECL_ACC;
  for (int64_t i = 0; i < kp; i += 2) {
    int8x16x2_t w = vld2q_s8(wp + i * 16);
    QN_K(w.val[0], i);
    QN_K(w.val[1], i + 1);
  }
  QN_STORE(mr);
}

/* 7-bit activations (uint8 lanes), weights packed per k quad. */
static void block_quads(const int8_t *wp, int64_t kp, const uint8_t *x, int mr, int32_t *dot) {
  const uint8_t *x0 = x, *x1 = mr > 1 ? x0 + kp : x0, *x2 = mr > 2 ? x0 + 2 * kp : x0,
                *x3 = mr > 3 ? x0 + 3 * kp : x0;
  QN_DECL_ACC;
  for (int64_t i = 0; i < kp; i += 4) {
    int8x16x4_t w = vld4q_s8(wp + i * 16);
    QN_K(w.val[0], i);
    QN_K(w.val[1], i + 1);
    QN_K(w.val[2], i + 2);
    QN_K(w.val[3], i + 3);
  }
  QN_STORE(mr);
}

/* Raw dot products of mr (1..4) rows and one 16-column panel: wp is the panel's packed
 * weight (kp / g groups of 16 * g bytes), xq16 / xq8 the first row (row stride kp). */
void ptl_qdyn_block_neon(const int8_t *wp, int64_t kp, int g, const int16_t *xq16,
                         const uint8_t *xq8, int mr, int32_t *dot) {
  if (g == 4)
    block_quads(wp, kp, xq8, mr, dot);
  else
    block_pairs(wp, kp, xq16, mr, dot);
}

bool ptl_qdyn_neon_has_dot(void) {
  return cpuinfo_initialize() && cpuinfo_has_arm_neon_dot();
}

/* Row r's 16 sums += the quad xv (4 activations - 128, broadcast) . each column's quad. */
#define QD_DOT_ROW(r, xv)                                                                          \
  do {                                                                                             \
    a##r##0 = vdotq_s32(a##r##0, w0, (xv));                                                        \
    a##r##1 = vdotq_s32(a##r##1, w1, (xv));                                                        \
    a##r##2 = vdotq_s32(a##r##2, w2, (xv));                                                        \
    a##r##3 = vdotq_s32(a##r##3, w3, (xv));                                                        \
  } while (0)

/* x[i .. i+3] as int8 lanes x - 128, the quad repeated over the vector */
static inline int8x16_t quad_s8(const uint8_t *x) {
  uint32_t v;
  memcpy(&v, x, sizeof v);
  return veorq_s8(vreinterpretq_s8_u32(vdupq_n_u32(v)), vdupq_n_s8((int8_t)0x80));
}

/* The SDOT form of block_quads (same tile, same rows-past-mr aliasing); wsum is the
 * panel's per-column weight sums, for the + 128 * sum_k w that undoes the shift. */
__attribute__((target("arch=armv8.2-a+dotprod"))) void
ptl_qdyn_block_neondot(const int8_t *wp, int64_t kp, const uint8_t *x, const int32_t *wsum, int mr,
                       int32_t *dot) {
  const uint8_t *x0 = x, *x1 = mr > 1 ? x0 + kp : x0, *x2 = mr > 2 ? x0 + 2 * kp : x0,
                *x3 = mr > 3 ? x0 + 3 * kp : x0;
  QN_DECL_ACC;
  for (int64_t i = 0; i < kp; i += 4) {
    const int8_t *q = wp + i * 16;
    int8x16_t w0 = vld1q_s8(q), w1 = vld1q_s8(q + 16), w2 = vld1q_s8(q + 32), w3 = vld1q_s8(q + 48);
    QD_DOT_ROW(0, quad_s8(x0 + i));
    QD_DOT_ROW(1, quad_s8(x1 + i));
    QD_DOT_ROW(2, quad_s8(x2 + i));
    QD_DOT_ROW(3, quad_s8(x3 + i));
  }
  /* + 128 * sum_k w per column (a shift, wrapping as the sums do) */
  int32x4_t s0 = vshlq_n_s32(vld1q_s32(wsum), 7), s1 = vshlq_n_s32(vld1q_s32(wsum + 4), 7),
            s2 = vshlq_n_s32(vld1q_s32(wsum + 8), 7), s3 = vshlq_n_s32(vld1q_s32(wsum + 12), 7);
#define QD_ADD_ROW(r)                                                                              \
  do {                                                                                             \
    a##r##0 = vaddq_s32(a##r##0, s0);                                                              \
    a##r##1 = vaddq_s32(a##r##1, s1);                                                              \
    a##r##2 = vaddq_s32(a##r##2, s2);                                                              \
    a##r##3 = vaddq_s32(a##r##3, s3);                                                              \
  } while (0)
  QD_ADD_ROW(0);
  QD_ADD_ROW(1);
  QD_ADD_ROW(2);
  QD_ADD_ROW(3);
#undef QD_ADD_ROW
  QN_STORE(mr);
}

/* qd_store for a full 16-column block, 4 columns per vector: the zero-point corrections
 * in wrapping int32 (vmulq keeps the low 32 bits, as the reference's uint32 products),
 * then the engine's epilogue. wzp, wsum, mult, bias point at the block's first column,
 * xsum at its first row, y at its first element (row stride ldy). */
void ptl_qdyn_store16_neon(uint32_t k, int32_t xzp, const int32_t *wzp, const int32_t *wsum,
                           const int32_t *xsum, int mr, const float *mult, const float *bias,
                           bool fbgemm, bool relu, const int32_t *dot, float *y, int64_t ldy) {
  const int32x4_t vxzp = vdupq_n_s32(xzp);
  const int32x4_t kxzp = vdupq_n_s32((int32_t)(k * (uint32_t)xzp));
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (int h = 0; h < 4; h++) {
    int32x4_t wz = vld1q_s32(wzp + 4 * h), ws = vld1q_s32(wsum + 4 * h);
    /* k * xzp * wz - xzp * wsum: the per-column part of the correction */
    int32x4_t corr = vsubq_s32(vmulq_s32(kxzp, wz), vmulq_s32(vxzp, ws));
    float32x4_t m = vld1q_f32(mult + 4 * h);
    float32x4_t b = bias ? vld1q_f32(bias + 4 * h) : zero;
    for (int r = 0; r < mr; r++) {
      int32x4_t d = vld1q_s32(dot + r * 16 + 4 * h);
      d = vaddq_s32(vsubq_s32(d, vmulq_n_s32(wz, xsum[r])), corr);
      float32x4_t v = vcvtq_f32_s32(d);
      if (fbgemm)
        v = bias ? vfmaq_f32(b, v, m) : vmulq_f32(v, m);
      else
        v = vaddq_f32(vmulq_f32(v, m), b);
      /* the reference's v < 0 ? 0 : v, which keeps -0 and NaN: vmaxq would turn -0 into +0 */
      if (relu)
        v = vbslq_f32(vcltq_f32(v, zero), zero, v);
      vst1q_f32(y + r * ldy + 4 * h, v);
    }
  }
}
#else
/* ISO C forbids an empty translation unit. */
typedef int ptl_qdynamic_neon_unused;
#endif
