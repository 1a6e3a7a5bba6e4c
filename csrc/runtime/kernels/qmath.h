/* qmath.h - integer arithmetic shared by the quantized kernels (qconv.c,
 * qeltwise.c, qdynamic.c, and the quint8 paths of the float families).
 *
 * Requantization is done in fp32, as QNNPACK (torch's 'qnnpack' engine) and
 * XNNPACK's "fp32" requantization do: the int32 accumulator is multiplied by
 * a float scale, clamped in float to the output range shifted by the zero
 * point, rounded half to even, and the zero point added back. Doing it the
 * same way in the reference and fast paths keeps them bit-identical. */
#ifndef PTL_QMATH_H
#define PTL_QMATH_H

#include <math.h>
#include <stdint.h>

static inline int32_t ptl_requantize(int32_t acc, float scale, int32_t zero_point, int32_t qmin,
                                     int32_t qmax) {
  float v = (float)acc * scale;
  float lo = (float)(qmin - zero_point), hi = (float)(qmax - zero_point);
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return (int32_t)lrintf(v) + zero_point;
}

#endif
