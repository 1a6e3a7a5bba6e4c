/*
 * observer.h - quantization observers: statistics of float tensors seen during
 * calibration and the (scale, zero_point) they imply. Python lives in
 * ptlite/quantization/observer.py; this is the engine part.
 *
 * Kinds
 *  MINMAX      running min/max (per tensor, or per channel along ch_axis), as
 *              torch.ao.quantization.MinMaxObserver / PerChannelMinMaxObserver.
 *              NaN propagates (torch.aminmax/torch.min do) and +-inf is kept.
 *  MOVING_AVG  first batch sets min/max; later batches move them by
 *              min += c * (batch_min - min) (float32, as torch).
 *  HISTOGRAM   torch's HistogramObserver: a `bins`-bin histogram of x over
 *              [min, max] (torch.histc binning). When a batch widens the
 *              range, the old histogram is upsampled `upsample_rate` times
 *              and its bin mid-points re-bucketed into the new range. qparams
 *              come from the L2 non-linear range search (caffe2's
 *              NormMinimization) over the histogram. The float arithmetic
 *              follows torch's op by op, including linspace's AVX2 (8-lane)
 *              evaluation order of a single-threaded torch; two sums (histogram
 *              total and the error norm) are done in double then rounded, where
 *              torch uses its vectorised cascade sum.
 *  PERCENTILE  (ours) the same histogram; the range is clipped to the
 *              [(100-p)/2, 100-(100-p)/2] quantiles of x for affine schemes, or
 *              to [-t, t] with t the p-th percentile of |x| for symmetric ones
 *              (|x| histogram anchored at 0). Quantiles interpolate linearly
 *              inside the bin holding them; the result never leaves [min, max].
 *  ENTROPY     (ours) TensorRT's entropy calibration: a histogram of |x| over
 *              [0, amax]; for every candidate clip bin i in [nq/2 .. bins]
 *              (nq = number of quantization levels / 2, e.g. 128 for 8 bits),
 *              P = hist[0:i] with the tail folded into bin i-1, Q = hist[0:i]
 *              (tail dropped) merged into nq equal groups and spread back
 *              uniformly over the bins where P is nonzero, Q's zeros smoothed
 *              as MXNet does (1e-4); the i minimising KL(P || Q) gives the
 *              threshold t = i * bin_width. Range [-t, t] for symmetric schemes,
 *              [max(min, -t), min(max, t)] for affine ones.
 *
 * calculate_qparams is torch's UniformQuantizationObserverBase._calculate_qparams
 * in float32 (quant ranges as torch's calculate_qmin_qmax). merge() folds
 * another observer of the same configuration in, so calibration can be split
 * across processes: exact for MINMAX (equals observing both streams), a
 * re-binned union for the histogram kinds, unsupported for MOVING_AVG (its
 * state depends on batch order).
 */
#ifndef PTLITE_OBSERVER_H
#define PTLITE_OBSERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "../runtime/internal.h"

typedef enum ptl_observer_kind {
  PTL_OBSERVER_MINMAX = 0,
  PTL_OBSERVER_MOVING_AVG = 1,
  PTL_OBSERVER_HISTOGRAM = 2,
  PTL_OBSERVER_PERCENTILE = 3,
  PTL_OBSERVER_ENTROPY = 4,
} ptl_observer_kind;

typedef struct ptl_observer_config {
  ptl_observer_kind kind;
  ptl_dtype dtype;     /* QUINT8/QINT8/QINT32 (UINT8/INT8/INT32 accepted as torch does) */
  ptl_qscheme qscheme; /* PER_TENSOR_* or PER_CHANNEL_* (min/max kinds only) */
  bool reduce_range;
  bool has_custom_range; /* quant_min/quant_max given */
  int64_t quant_min, quant_max;
  float eps;
  double averaging_constant; /* MOVING_AVG */
  int32_t ch_axis;           /* per-channel schemes; may be negative */
  int32_t bins;              /* histogram kinds (torch: 2048) */
  int32_t upsample_rate;     /* histogram kinds (torch: 16) */
  double percentile;         /* PERCENTILE, in (0, 100] */
} ptl_observer_config;

typedef struct ptl_observer ptl_observer;

/* Validates cfg (torch's checks: range includes 0, qmin < qmax, range width
 * fits the dtype; PTL_ERR_VALUE otherwise) and creates an empty observer. */
ptl_status ptl_observer_create(const ptl_observer_config *cfg, ptl_observer **out);
void ptl_observer_destroy(ptl_observer *obs);
/* Effective quantization range (after reduce_range). */
void ptl_observer_quant_range(const ptl_observer *obs, int64_t *qmin, int64_t *qmax);

/* Folds a float32/float16 tensor of any strides into the statistics. Empty
 * tensors are ignored. */
ptl_status ptl_observer_update(ptl_observer *obs, const ptl_tensor *x);
/* dst += src (same configuration). */
ptl_status ptl_observer_merge(ptl_observer *dst, const ptl_observer *src);
ptl_status ptl_observer_reset(ptl_observer *obs);

/* Number of min/max entries: 1 per tensor, channels per channel (0 before the
 * first update). */
int64_t ptl_observer_count(const ptl_observer *obs);
/* Copies min/max (count entries each). */
void ptl_observer_get_minmax(const ptl_observer *obs, float *min, float *max);
/* Replaces min/max (e.g. from a state dict); count may change for per-channel. */
ptl_status ptl_observer_set_minmax(ptl_observer *obs, int64_t count, const float *min,
                                   const float *max);
/* Histogram kinds: *bins entries; NULL (and *bins 0) for the others. */
const float *ptl_observer_histogram(const ptl_observer *obs, int64_t *bins);
ptl_status ptl_observer_set_histogram(ptl_observer *obs, int64_t n, const float *hist);

/* Number of (scale, zero_point) pairs calculate_qparams yields: max(count, 1). */
int64_t ptl_observer_qparams_count(const ptl_observer *obs);
/* scale/zero_point hold ptl_observer_qparams_count entries. An observer that
 * saw nothing gives scale 1, zero_point 0 and *valid = false (torch warns).
 * min > max is PTL_ERR_VALUE ("min ... should be less than max ..."). */
ptl_status ptl_observer_calculate_qparams(const ptl_observer *obs, float *scale,
                                          int64_t *zero_point, bool *valid);
/* The range the qparams are computed from (the histogram kinds' search result;
 * min/max for the others). Per tensor only. */
ptl_status ptl_observer_range(const ptl_observer *obs, float *lo, float *hi);

#endif /* PTLITE_OBSERVER_H */
