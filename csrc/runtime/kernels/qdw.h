/* qdw.h - internal interface of qdw_avx2.c: exact AVX2 depthwise int8 convolution for
 * qconv.c (groups == channels == output channels, dilation 1, symmetric weights).
 * Products (x - x_zp) * w are exact in int16 (vpmaddwd on the quint8 input as it is, no
 * ^0x80 copies); accumulation int32; requantization identical to ptl_requantize. 3x3
 * kernels with horizontal stride 1 or 2 run register kernels (pairs built from the rows as
 * they are loaded); other kernels (up to 16 rows) go through widened "pair rows". */
#ifndef PTL_QDW_H
#define PTL_QDW_H

#include <stdbool.h>
#include <stdint.h>

#include "../internal.h"

/* g[]: n, h, w, c, kh, kw, sh, sw, pt, pl, oh, ow (dilation 1). */
enum { QDW_N, QDW_H, QDW_W, QDW_C, QDW_KH, QDW_KW, QDW_SH, QDW_SW, QDW_PT, QDW_PL, QDW_OH, QDW_OW };

/* True when the CPU can run the kernel (AVX2). */
bool ptl_qdw_available(void);
/* Packs int8 weights [c, kh, kw]; NULL when out of memory. Owned by the caller, freed
 * with ptl_qdw_packed_destroy (the packed-weight cache does it). */
void *ptl_qdw_pack(const int8_t *w, int64_t c, int64_t kh, int64_t kw);
void ptl_qdw_packed_destroy(void *p);
/* NHWC uint8 in (in_pix: elements between pixels), NHWC uint8 out (out_pix). qbias[c]
 * is the int32 bias, rscale[c] the requantization scale, qmin / qmax the output clamp
 * (qmin: the zero point under a fused relu; qmax: below 255 under a fused relu6). */
ptl_status ptl_qdw_conv(const void *packed, const int64_t *g, const uint8_t *x, int64_t in_pix,
                        int32_t xzp, int32_t ozp, int32_t qmin, int32_t qmax, const int32_t *qbias,
                        const float *rscale, uint8_t *y, int64_t out_pix);

#endif
