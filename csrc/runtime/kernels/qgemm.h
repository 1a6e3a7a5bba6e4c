/* qgemm.h - internal interface of qgemm_avx2.c: exact u8 x s8 dense convolution
 * (and linear, as a 1x1 conv) with vpmaddubsw, for qconv.c's fast paths.
 *
 * vpmaddubsw multiplies unsigned activation bytes by signed weight bytes and adds
 * adjacent pairs into saturating int16. With every activation byte <= 127 and
 * |w| <= 128 a pair is at most 2 * 127 * 128 = 32512, so it never saturates and the
 * result is exact. The kernel reads activations clamped to 127; the remainder of each
 * byte above 127 (inputs past the calibrated range: a few dozen per layer with
 * histogram observers) is added exactly, per affected output pixel, before
 * requantization. ptl_qgemm_conv returns PTL_ERR_UNSUPPORTED, writing nothing, when
 * such bytes are too many for that to pay (activations quantized to 0..255) or x_zp
 * is above 127; the caller then runs its other path.
 * The zero point is handled as sum (x - x_zp) * w = sum x * w - x_zp * sum w, with
 * sum w per output channel taken at pack time; weights must be symmetric (zero
 * point 0). */
#ifndef PTL_QGEMM_H
#define PTL_QGEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "../internal.h"

/* A dense (groups == 1) convolution over an NHWC uint8 image. */
typedef struct {
  int64_t n, h, w, c; /* input */
  int64_t o, kh, kw;  /* output channels, kernel */
  int64_t sh, sw, pt, pl, dh, dw;
  int64_t oh, ow;
} ptl_qgemm_geom;

typedef struct ptl_qgemm_packed ptl_qgemm_packed;

/* True when the CPU has AVX2 (and the build has the kernel). */
bool ptl_qgemm_available(void);

/* Whether the kernel takes this geometry: K = kh * kw * c small enough that no
 * int32 partial sum can overflow (K * 255 * 128 < 2^31), at most 64 taps. */
bool ptl_qgemm_geom_ok(const ptl_qgemm_geom *g);

/* Layout word of the packing for g (part of the caller's cache key). */
uint64_t ptl_qgemm_layout(const ptl_qgemm_geom *g);

/* Packs dense int8 weights [o][kh][kw][c] for g. */
ptl_status ptl_qgemm_pack(const ptl_qgemm_geom *g, const int8_t *w, ptl_qgemm_packed **out);
void ptl_qgemm_packed_destroy(void *p);

/* Output requantization, as qconv.c's reference: acc = qbias + sum (x - xzp) * w,
 * y = ptl_requantize(acc, rscale[o], ozp, qmin, qmax). The caller guarantees that
 * |acc| * rscale stays below 2^30 (no QNNPACK overflow rule, no int32 wrap, and the
 * float product converts to int32 without the clamp in float, which the kernel skips);
 * 0 <= qmin <= qmax <= 255, 0 <= ozp <= 255 (else PTL_ERR_UNSUPPORTED). */
typedef struct {
  int32_t xzp, ozp, qmin, qmax;
  const int32_t *qbias; /* [o] */
  const float *rscale;  /* [o] */
} ptl_qgemm_quant;

/* x: pixel (n, iy, ix) at x + ((n * h + iy) * w + ix) * in_pix, c bytes each; y: pixel
 * (n, oy, ox) at y + ((n * oh + oy) * ow + ox) * out_pix, o bytes each.
 * PTL_ERR_UNSUPPORTED (nothing written): x_zp above 127, or the bytes above 127 would
 * cost more than 1/8 of the conv to fix up. */
ptl_status ptl_qgemm_conv(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g, const uint8_t *x,
                          int64_t in_pix, const ptl_qgemm_quant *q, uint8_t *y, int64_t out_pix);

/* The same with any input strides: byte (n, ch, iy, ix) at x + n * xs[0] + ch * xs[1] +
 * iy * xs[2] + ix * xs[3] (a tensor's strides, NCHW order). Stems gather their padded
 * copy straight from these (an NCHW image needs no NHWC copy first); other layouts read
 * evenly spaced dense pixels in place and gather anything else into a dense copy. */
ptl_status ptl_qgemm_conv_strided(const ptl_qgemm_packed *p, const ptl_qgemm_geom *g,
                                  const uint8_t *x, const int64_t *xs, const ptl_qgemm_quant *q,
                                  uint8_t *y, int64_t out_pix);

#endif
