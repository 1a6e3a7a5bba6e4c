/* qdynamic_neon.h - internal interface of qdynamic_neon.c (arm64 only): the NEON and
 * dot-product tiles of DYNAMIC_LINEAR's fast path, called from qdynamic.c, whose header
 * describes the numerics, the weight packing and the 4-row x 16-column tiles. */
#ifndef PTL_QDYNAMIC_NEON_H
#define PTL_QDYNAMIC_NEON_H

#include <stdbool.h>
#include <stdint.h>

/* True when the CPU has the dot-product extension (cpuinfo). */
bool ptl_qdyn_neon_has_dot(void);
/* Integer sums of mr <= 4 rows x 16 columns: k-pair (g = 2, xq16) or k-quad (g = 4, xq8)
 * packing. */
void ptl_qdyn_block_neon(const int8_t *wp, int64_t kp, int g, const int16_t *xq16,
                         const uint8_t *xq8, int mr, int32_t *dot);
/* The same with SDOT on the k-quad packing; wsum: each column's weight sum. */
void ptl_qdyn_block_neondot(const int8_t *wp, int64_t kp, const uint8_t *xq8, const int32_t *wsum,
                            int mr, int32_t *dot);
/* Zero-point corrections and the engine's float epilogue for a 16-column block. */
void ptl_qdyn_store16_neon(uint32_t k, int32_t xzp, const int32_t *wzp, const int32_t *wsum,
                           const int32_t *xsum, int mr, const float *mult, const float *bias,
                           bool fbgemm, bool relu, const int32_t *dot, float *y, int64_t ldy);

#endif
