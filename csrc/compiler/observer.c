/* observer.c - quantization observers (see observer.h for the algorithms). */
#include "observer.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct ptl_observer {
  ptl_observer_config cfg;
  int64_t qmin, qmax;
  bool per_channel;
  int64_t count; /* entries of min/max */
  float *min, *max;
  float *hist;   /* histogram kinds */
  bool abs_hist; /* ENTROPY and symmetric PERCENTILE: histogram of |x| over [0, amax] */
};

/* ---- torch's elementwise semantics ---------------------------------------- */

/* torch.min/torch.max of two tensors: NaN wins. */
static float min_nan(float a, float b) {
  return (isnan(a) || isnan(b)) ? NAN : (a < b ? a : b);
}
static float max_nan(float a, float b) {
  return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b);
}

/* float -> int32 as x86 cvttss2si does (torch's .to(torch.int)): NaN and
 * out-of-range values give INT32_MIN instead of undefined behaviour. */
static int32_t f2i32(float v) {
  if (!(v >= -2147483648.0f && v < 2147483648.0f))
    return INT32_MIN;
  return (int32_t)v;
}

static bool is_unsigned8(ptl_dtype d) {
  return d == PTL_QUINT8 || d == PTL_UINT8;
}
static bool is_signed8(ptl_dtype d) {
  return d == PTL_QINT8 || d == PTL_INT8;
}
static bool is_int32(ptl_dtype d) {
  return d == PTL_QINT32 || d == PTL_INT32;
}
static bool is_symmetric(ptl_qscheme q) {
  return q == PTL_QSCHEME_PER_TENSOR_SYMMETRIC || q == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC;
}
static bool is_hist_kind(ptl_observer_kind k) {
  return k == PTL_OBSERVER_HISTOGRAM || k == PTL_OBSERVER_PERCENTILE || k == PTL_OBSERVER_ENTROPY;
}

/* Python's floor division for the custom-range symmetric zero point. */
static int64_t floor_div2(int64_t a) {
  return (a >= 0) ? a / 2 : -((-a + 1) / 2);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void reset_state(ptl_observer *o) {
  if (!o->per_channel) {
    o->min[0] = INFINITY;
    o->max[0] = -INFINITY;
  }
  if (o->hist)
    memset(o->hist, 0, sizeof(float) * (size_t)(uint32_t)o->cfg.bins);
}

ptl_status ptl_observer_create(const ptl_observer_config *cfg, ptl_observer **out) {
  *out = NULL;
  if (!is_unsigned8(cfg->dtype) && !is_signed8(cfg->dtype) && !is_int32(cfg->dtype))
    return ptl_error(PTL_ERR_VALUE,
                     "observer: Default Observer only works for qint8, quint8, "
                     "qint32, int8, uint8 and int32 data type, got %s",
                     ptl_dtype_name(cfg->dtype));
  bool per_channel = cfg->qscheme == PTL_QSCHEME_PER_CHANNEL_AFFINE ||
                     cfg->qscheme == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC;
  if (!per_channel && cfg->qscheme != PTL_QSCHEME_PER_TENSOR_AFFINE &&
      cfg->qscheme != PTL_QSCHEME_PER_TENSOR_SYMMETRIC)
    return ptl_error(PTL_ERR_VALUE, "observer: unknown qscheme %d", (int)cfg->qscheme);
  if (per_channel && is_hist_kind(cfg->kind))
    return ptl_error(PTL_ERR_VALUE, "observer: histogram observers are per tensor only");
  if (is_hist_kind(cfg->kind) && (cfg->bins < 1 || cfg->upsample_rate < 1 ||
                                  (int64_t)cfg->bins * cfg->upsample_rate > (1 << 26)))
    return ptl_error(PTL_ERR_VALUE, "observer: bins (%d) and upsample_rate (%d) must be positive",
                     cfg->bins, cfg->upsample_rate);
  if (cfg->kind == PTL_OBSERVER_PERCENTILE && !(cfg->percentile > 0 && cfg->percentile <= 100))
    return ptl_error(PTL_ERR_VALUE, "observer: percentile must be in (0, 100], got %g",
                     cfg->percentile);
  if (cfg->kind < PTL_OBSERVER_MINMAX || cfg->kind > PTL_OBSERVER_ENTROPY)
    return ptl_error(PTL_ERR_VALUE, "observer: unknown kind %d", (int)cfg->kind);
  int64_t qmin, qmax;
  if (cfg->has_custom_range) {
    /* torch's validate_qmin_qmax and calculate_qmin_qmax */
    if (!(cfg->quant_min <= 0 && 0 <= cfg->quant_max))
      return ptl_error(PTL_ERR_VALUE, "Used-specified quantization range must include 0.");
    if (cfg->quant_min >= cfg->quant_max)
      return ptl_error(PTL_ERR_VALUE, "qmin must be strictly less than qmax for user-specified "
                                      "quantization range.");
    int64_t len = cfg->quant_max - cfg->quant_min + 1;
    if (is_signed8(cfg->dtype) && !(len > 0 && len <= 256))
      return ptl_error(PTL_ERR_VALUE, "quantization range should be positive and not exceed the "
                                      "maximum bit range (=256).");
    if (is_int32(cfg->dtype) && !(len > 0 && len <= 4294967296LL))
      return ptl_error(PTL_ERR_VALUE, "quantization range should be positive and not exceed the "
                                      "maximum bit range (=4294967296).");
    qmin = cfg->quant_min;
    qmax = cfg->quant_max;
    if (cfg->reduce_range) {
      qmin = qmin >= 0 ? qmin / 2 : -((-qmin + 1) / 2);
      qmax = qmax >= 0 ? qmax / 2 : -((-qmax + 1) / 2);
    }
  } else if (is_signed8(cfg->dtype)) {
    qmin = cfg->reduce_range ? -64 : -128;
    qmax = cfg->reduce_range ? 63 : 127;
  } else if (is_unsigned8(cfg->dtype)) {
    qmin = 0;
    qmax = cfg->reduce_range ? 127 : 255;
  } else {
    qmin = -2147483648LL;
    qmax = 2147483647LL;
  }
  ptl_observer *o = calloc(1, sizeof *o);
  if (!o)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  o->cfg = *cfg;
  o->qmin = qmin;
  o->qmax = qmax;
  o->per_channel = per_channel;
  o->count = per_channel ? 0 : 1;
  if (!per_channel) {
    o->min = malloc(sizeof(float));
    o->max = malloc(sizeof(float));
  }
  if (is_hist_kind(cfg->kind))
    o->hist = calloc((size_t)(uint32_t)cfg->bins, sizeof(float));
  o->abs_hist = cfg->kind == PTL_OBSERVER_ENTROPY ||
                (cfg->kind == PTL_OBSERVER_PERCENTILE && is_symmetric(cfg->qscheme));
  if ((!per_channel && (!o->min || !o->max)) || (is_hist_kind(cfg->kind) && !o->hist)) {
    ptl_observer_destroy(o);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  }
  reset_state(o);
  *out = o;
  return PTL_OK;
}

void ptl_observer_destroy(ptl_observer *o) {
  if (!o)
    return;
  free(o->min);
  free(o->max);
  free(o->hist);
  free(o);
}

void ptl_observer_quant_range(const ptl_observer *o, int64_t *qmin, int64_t *qmax) {
  *qmin = o->qmin;
  *qmax = o->qmax;
}

ptl_status ptl_observer_reset(ptl_observer *o) {
  if (o->per_channel) {
    free(o->min);
    free(o->max);
    o->min = o->max = NULL;
    o->count = 0;
  }
  reset_state(o);
  return PTL_OK;
}

int64_t ptl_observer_count(const ptl_observer *o) {
  return o->count;
}

void ptl_observer_get_minmax(const ptl_observer *o, float *min, float *max) {
  if (o->count > 0) {
    memcpy(min, o->min, sizeof(float) * (size_t)o->count);
    memcpy(max, o->max, sizeof(float) * (size_t)o->count);
  }
}

static ptl_status resize_channels(ptl_observer *o, int64_t count) {
  if (count == o->count)
    return PTL_OK;
  float *mn = malloc(sizeof(float) * (size_t)(count ? count : 1));
  float *mx = malloc(sizeof(float) * (size_t)(count ? count : 1));
  if (!mn || !mx) {
    free(mn);
    free(mx);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  }
  free(o->min);
  free(o->max);
  o->min = mn;
  o->max = mx;
  o->count = count;
  return PTL_OK;
}

ptl_status ptl_observer_set_minmax(ptl_observer *o, int64_t count, const float *min,
                                   const float *max) {
  if (!o->per_channel && count != 1)
    return ptl_error(PTL_ERR_SHAPE, "observer: a per-tensor observer has one min/max, got %lld",
                     (long long)count);
  if (count < 0)
    return ptl_error(PTL_ERR_SHAPE, "observer: negative channel count");
  PTL_CHECK(resize_channels(o, count));
  if (count > 0) {
    memcpy(o->min, min, sizeof(float) * (size_t)count);
    memcpy(o->max, max, sizeof(float) * (size_t)count);
  }
  return PTL_OK;
}

const float *ptl_observer_histogram(const ptl_observer *o, int64_t *bins) {
  *bins = o->hist ? o->cfg.bins : 0;
  return o->hist;
}

ptl_status ptl_observer_set_histogram(ptl_observer *o, int64_t n, const float *hist) {
  if (!o->hist)
    return ptl_error(PTL_ERR_VALUE, "observer: this observer keeps no histogram");
  if (n != o->cfg.bins)
    return ptl_error(PTL_ERR_SHAPE, "observer: histogram has %lld bins, expected %d", (long long)n,
                     o->cfg.bins);
  memcpy(o->hist, hist, sizeof(float) * (size_t)n);
  return PTL_OK;
}

/* ---- reading the input ---------------------------------------------------- */

/* x as float32 in logical (row-major) order: x's own memory when it already
 * is contiguous float32, else a malloc'ed copy (*owned set). */
static ptl_status as_f32(const ptl_tensor *x, const float **data, float **owned) {
  *owned = NULL;
  int64_t n = ptl_numel_of(x->ndim, x->shape);
  const char *base = x->storage->data;
  int64_t cs[PTL_MAX_DIMS];
  ptl_contiguous_strides(x->ndim, x->shape, cs);
  bool contig = true;
  for (int d = 0; d < x->ndim; d++)
    if (x->shape[d] != 1 && x->strides[d] != cs[d])
      contig = false;
  if (contig && x->dtype == PTL_FLOAT32) {
    *data = (const float *)base + x->offset;
    return PTL_OK;
  }
  float *buf = malloc(sizeof(float) * (size_t)n);
  if (!buf)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  int64_t idx[PTL_MAX_DIMS] = {0};
  int64_t off = x->offset;
  for (int64_t i = 0; i < n; i++) {
    buf[i] = (float)ptl_load_f64(x->dtype, base, off);
    for (int d = x->ndim - 1; d >= 0; d--) {
      if (++idx[d] < x->shape[d]) {
        off += x->strides[d];
        break;
      }
      off -= x->strides[d] * (x->shape[d] - 1);
      idx[d] = 0;
    }
  }
  *data = buf;
  *owned = buf;
  return PTL_OK;
}

/* min/max of v[0..n); NaN is tracked apart: torch.aminmax propagates it.
 * minps(a, lo) is `a < lo ? a : lo`, the scalar loop's semantics. */
static void aminmax_serial(const float *v, int64_t n, float *mn, float *mx, bool *has_nan) {
  float lo = INFINITY, hi = -INFINITY;
  bool nan = false;
  int64_t i = 0;
#ifdef __SSE2__
  __m128 l0 = _mm_set1_ps(INFINITY), l1 = l0, h0 = _mm_set1_ps(-INFINITY), h1 = h0;
  __m128 bad = _mm_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m128 a = _mm_loadu_ps(v + i), b = _mm_loadu_ps(v + i + 4);
    bad = _mm_or_ps(bad, _mm_or_ps(_mm_cmpunord_ps(a, a), _mm_cmpunord_ps(b, b)));
    l0 = _mm_min_ps(a, l0);
    l1 = _mm_min_ps(b, l1);
    h0 = _mm_max_ps(a, h0);
    h1 = _mm_max_ps(b, h1);
  }
  float lv[4], hv[4];
  _mm_storeu_ps(lv, _mm_min_ps(l0, l1));
  _mm_storeu_ps(hv, _mm_max_ps(h0, h1));
  for (int k = 0; k < 4; k++) {
    lo = lv[k] < lo ? lv[k] : lo;
    hi = hv[k] > hi ? hv[k] : hi;
  }
  nan = _mm_movemask_ps(bad) != 0;
#endif
  for (; i < n; i++) {
    float a = v[i];
    nan |= a != a;
    lo = a < lo ? a : lo;
    hi = a > hi ? a : hi;
  }
  *mn = lo;
  *mx = hi;
  *has_nan = nan;
}

typedef struct minmax_job {
  const float *v;
  int64_t n, chunk;
  float lo[64], hi[64];
  bool nan[64];
} minmax_job;

static void minmax_chunk(void *ctx, size_t k) {
  minmax_job *j = ctx;
  int64_t a = (int64_t)k * j->chunk, b = a + j->chunk < j->n ? a + j->chunk : j->n;
  aminmax_serial(j->v + a, b - a, &j->lo[k], &j->hi[k], &j->nan[k]);
}

/* torch.aminmax: NaN propagates. Large inputs are split over the threadpool
 * (min and max do not depend on the split, so the result is the same). */
static void aminmax(const float *v, int64_t n, float *mn, float *mx) {
  bool nan = false;
  if (n < (1 << 16)) {
    aminmax_serial(v, n, mn, mx, &nan);
  } else {
    minmax_job j;
    j.v = v;
    j.n = n;
    int64_t parts = n / (1 << 15) < 64 ? n / (1 << 15) : 64;
    j.chunk = (n + parts - 1) / parts;
    parts = (n + j.chunk - 1) / j.chunk;
    ptl_parallel_for(minmax_chunk, &j, (size_t)parts);
    *mn = INFINITY;
    *mx = -INFINITY;
    for (int64_t k = 0; k < parts; k++) {
      nan |= j.nan[k];
      *mn = j.lo[k] < *mn ? j.lo[k] : *mn;
      *mx = j.hi[k] > *mx ? j.hi[k] : *mx;
    }
  }
  if (nan)
    *mn = *mx = NAN;
}

/* ---- min/max kinds -------------------------------------------------------- */

static ptl_status update_minmax(ptl_observer *o, const ptl_tensor *x, const float *v, int64_t n) {
  bool moving = o->cfg.kind == PTL_OBSERVER_MOVING_AVG;
  float c = (float)o->cfg.averaging_constant;
  if (!o->per_channel) {
    float mn, mx;
    aminmax(v, n, &mn, &mx);
    if (moving && !(o->min[0] == INFINITY && o->max[0] == -INFINITY)) {
      o->min[0] = o->min[0] + (mn - o->min[0]) * c;
      o->max[0] = o->max[0] + (mx - o->max[0]) * c;
    } else if (moving) {
      o->min[0] = mn;
      o->max[0] = mx;
    } else {
      o->min[0] = min_nan(mn, o->min[0]);
      o->max[0] = max_nan(mx, o->max[0]);
    }
    return PTL_OK;
  }
  int axis;
  if (x->ndim == 0 || o->cfg.ch_axis >= x->ndim || o->cfg.ch_axis < -x->ndim) {
    char sb[PTL_SHAPE_BUF];
    return ptl_error(PTL_ERR_INDEX,
                     "PerChannelMinMaxObserver: ch_axis %d is out of range for an input of "
                     "shape %s",
                     o->cfg.ch_axis, ptl_shape_str(x, sb, sizeof sb));
  }
  axis = o->cfg.ch_axis < 0 ? o->cfg.ch_axis + x->ndim : o->cfg.ch_axis;
  int64_t C = x->shape[axis], inner = 1;
  for (int d = axis + 1; d < x->ndim; d++)
    inner *= x->shape[d];
  bool first = o->count == 0;
  if (!first && C != o->count) {
    char sb[PTL_SHAPE_BUF];
    return ptl_error(PTL_ERR_SHAPE,
                     "PerChannelMinMaxObserver: input of shape %s has %lld channels along axis "
                     "%d, the observer has seen %lld",
                     ptl_shape_str(x, sb, sizeof sb), (long long)C, axis, (long long)o->count);
  }
  float *mn = malloc(sizeof(float) * (size_t)C), *mx = malloc(sizeof(float) * (size_t)C);
  bool *nan = calloc((size_t)C, sizeof(bool));
  if (!mn || !mx || !nan) {
    free(mn);
    free(mx);
    free(nan);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  }
  for (int64_t ch = 0; ch < C; ch++) {
    mn[ch] = INFINITY;
    mx[ch] = -INFINITY;
  }
  if (inner == 1) {
    /* channels are the innermost dim: one pass over rows, vectorised across channels */
    for (int64_t row = 0; row < n / C; row++) {
      const float *r = v + row * C;
      for (int64_t ch = 0; ch < C; ch++) {
        float a = r[ch];
        nan[ch] |= a != a;
        mn[ch] = a < mn[ch] ? a : mn[ch];
        mx[ch] = a > mx[ch] ? a : mx[ch];
      }
    }
  } else {
    /* contiguous runs of `inner` elements belong to one channel */
    for (int64_t blk = 0; blk < n / inner; blk++) {
      int64_t ch = blk % C;
      float a, b;
      bool bn;
      aminmax_serial(v + blk * inner, inner, &a, &b, &bn);
      nan[ch] |= bn;
      mn[ch] = a < mn[ch] ? a : mn[ch];
      mx[ch] = b > mx[ch] ? b : mx[ch];
    }
  }
  ptl_status s = first ? resize_channels(o, C) : PTL_OK;
  for (int64_t ch = 0; ch < C && s == PTL_OK; ch++) {
    float a = nan[ch] ? NAN : mn[ch], b = nan[ch] ? NAN : mx[ch];
    if (first) {
      o->min[ch] = a;
      o->max[ch] = b;
    } else if (moving) {
      o->min[ch] = o->min[ch] + (a - o->min[ch]) * c;
      o->max[ch] = o->max[ch] + (b - o->max[ch]) * c;
    } else {
      o->min[ch] = min_nan(a, o->min[ch]);
      o->max[ch] = max_nan(b, o->max[ch]);
    }
  }
  free(mn);
  free(mx);
  free(nan);
  return s;
}

/* ---- histogram kinds: torch's HistogramObserver arithmetic ---------------- */

/* torch.histc(v, bins, lo, hi) on CPU, accumulated into h (float). */
static void histc(const float *v, int64_t n, int32_t bins, double lo, double hi, float *h,
                  float weight) {
  if (lo == hi && n > 0) {
    float a, b;
    aminmax(v, n, &a, &b);
    lo = a;
    hi = b;
  }
  if (lo == hi) {
    lo -= 1;
    hi += 1;
  }
  float left = (float)lo, right = (float)hi;
  for (int64_t i = 0; i < n; i++) {
    float e = v[i];
    if (!(e >= left && e <= right))
      continue;
    int64_t pos = (int64_t)((e - left) * (float)bins / (right - left));
    if (pos == bins)
      pos -= 1;
    h[pos] += weight;
  }
}

/* torch.linspace(start, end, steps) in float32 as its CPU kernel computes it
 * single-threaded with AVX2: blocks of two 8-lane vectors, each lane
 * base + k * step, then a scalar tail. */
static void linspace_f32(float start, float end, int64_t steps, float *out) {
  if (steps == 1) {
    out[0] = start;
    return;
  }
  const int V = 8;
  float step = (end - start) / (float)(steps - 1);
  int64_t halfway = steps / 2, i = 0;
  for (; i <= steps - 2 * V; i += 2 * V) {
    for (int h = 0; h < 2; h++) {
      int64_t idx = i + h * V;
      float base =
          idx < halfway ? start + step * (float)idx : end - step * (float)(steps - idx - 1);
      out[idx] = base;
      for (int k = 1; k < V; k++)
        out[idx + k] = base + (float)k * step;
    }
  }
  for (; i < steps; i++)
    out[i] = i < halfway ? start + step * (float)i : end - step * (float)(steps - i - 1);
}

/* _upscale_histogram + the add of _combine_histograms: out = upd + orig
 * re-bucketed from [omin, omax] into [umin, umax]. */
static ptl_status upscale_into(const ptl_observer *o, const float *orig, float omin, float omax,
                               float umin, float umax, float *out) {
  int32_t bins = o->cfg.bins, R = o->cfg.upsample_rate;
  int64_t N = (int64_t)bins * R;
  float *mid = malloc(sizeof(float) * (size_t)(N + 1));
  float *bnd = malloc(sizeof(float) * (size_t)(uint32_t)(bins + 1));
  float *acc = calloc((size_t)(uint32_t)bins, sizeof(float));
  if (!mid || !bnd || !acc) {
    free(mid);
    free(bnd);
    free(acc);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  }
  float bin_size = (omax - omin) / (float)N;
  float half = 0.5f * bin_size;
  linspace_f32(omin, omax, N + 1, mid);
  linspace_f32(umin, umax, bins + 1, bnd);
  for (int64_t j = 0; j < N; j++) {
    float m = mid[j] + half;
    /* bucketize(right=True) - 1: the number of boundaries <= m, minus one */
    int64_t lo = 0, hi = bins + 1;
    while (lo < hi) {
      int64_t md = lo + (hi - lo) / 2;
      if (bnd[md] <= m)
        lo = md + 1;
      else
        hi = md;
    }
    int64_t b = lo - 1;
    if (b >= bins)
      b = bins - 1;
    if (b < 0)
      b = 0;
    acc[b] += orig[j / R] / (float)R; /* bincount with float weights: float sums in order */
  }
  for (int32_t k = 0; k < bins; k++)
    out[k] = out[k] + acc[k];
  free(mid);
  free(bnd);
  free(acc);
  return PTL_OK;
}

/* Rebins hist (over [omin, omax]) into [nmin, nmax] and adds upd there:
 * torch's _combine_histograms. Result in upd. */
static ptl_status combine(const ptl_observer *o, const float *hist, float omin, float omax,
                          float *upd, float nmin, float nmax) {
  int32_t bins = o->cfg.bins;
  if (nmin == omin && nmax == omax) {
    for (int32_t k = 0; k < bins; k++)
      upd[k] = hist[k] + upd[k];
    return PTL_OK;
  }
  if (omin == omax) {
    double total = 0;
    for (int32_t k = 0; k < bins; k++)
      total += hist[k];
    float *t = calloc((size_t)(uint32_t)bins, sizeof(float));
    if (!t)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
    histc(&omin, 1, bins, nmin, nmax, t, 1.0f);
    for (int32_t k = 0; k < bins; k++)
      upd[k] = t[k] * (float)total + upd[k];
    free(t);
    return PTL_OK;
  }
  return upscale_into(o, hist, omin, omax, nmin, nmax, upd);
}

static ptl_status update_hist(ptl_observer *o, const float *v0, int64_t n) {
  const float *v = v0;
  float *owned = NULL;
  float xmin, xmax;
  if (o->abs_hist) {
    owned = malloc(sizeof(float) * (size_t)n);
    if (!owned)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
    for (int64_t i = 0; i < n; i++)
      owned[i] = fabsf(v0[i]);
    v = owned;
  }
  aminmax(v, n, &xmin, &xmax);
  if (xmin == -INFINITY || xmax == INFINITY) {
    /* torch ignores infinite values (they would make the range infinite) */
    float *f = owned ? owned : malloc(sizeof(float) * (size_t)n);
    if (!f)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
      if (fabsf(v[i]) != INFINITY)
        f[m++] = v[i];
    owned = f;
    v = f;
    n = m;
    if (n == 0) {
      free(owned);
      return PTL_OK;
    }
    aminmax(v, n, &xmin, &xmax);
  }
  if (isnan(xmin) || isnan(xmax)) {
    free(owned);
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "torch.histc: range of [nan, nan] is not finite");
  }
  if (o->abs_hist)
    xmin = 0.0f; /* |x| histograms are anchored at 0 */
  int32_t bins = o->cfg.bins;
  ptl_status s = PTL_OK;
  if (o->min[0] == INFINITY || o->max[0] == -INFINITY) {
    o->min[0] = xmin;
    o->max[0] = xmax;
    memset(o->hist, 0, sizeof(float) * (size_t)(uint32_t)bins);
    histc(v, n, bins, xmin, xmax, o->hist, 1.0f);
  } else {
    float cmin = o->min[0], cmax = o->max[0];
    float nmin = min_nan(cmin, xmin), nmax = max_nan(cmax, xmax);
    float *upd = calloc((size_t)(uint32_t)bins, sizeof(float));
    if (!upd) {
      free(owned);
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
    }
    histc(v, n, bins, nmin, nmax, upd, 1.0f);
    s = combine(o, o->hist, cmin, cmax, upd, nmin, nmax);
    if (s == PTL_OK) {
      memcpy(o->hist, upd, sizeof(float) * (size_t)(uint32_t)bins);
      o->min[0] = nmin;
      o->max[0] = nmax;
    }
    free(upd);
  }
  free(owned);
  return s;
}

ptl_status ptl_observer_update(ptl_observer *o, const ptl_tensor *x) {
  if (x->dtype != PTL_FLOAT32 && x->dtype != PTL_FLOAT16)
    return ptl_error(PTL_ERR_DTYPE,
                     "observer: expected a floating point input (Float or Half), "
                     "got %s",
                     ptl_torch_scalar_name(x->dtype));
  int64_t n = ptl_numel_of(x->ndim, x->shape);
  if (n == 0)
    return PTL_OK;
  const float *v = NULL;
  float *owned = NULL;
  PTL_CHECK(as_f32(x, &v, &owned));
  ptl_status s = o->hist ? update_hist(o, v, n) : update_minmax(o, x, v, n);
  free(owned);
  return s;
}

ptl_status ptl_observer_merge(ptl_observer *dst, const ptl_observer *src) {
  const ptl_observer_config *a = &dst->cfg, *b = &src->cfg;
  if (a->kind != b->kind || a->qscheme != b->qscheme || dst->qmin != src->qmin ||
      dst->qmax != src->qmax || a->bins != b->bins || a->upsample_rate != b->upsample_rate ||
      (dst->per_channel && a->ch_axis != b->ch_axis))
    return ptl_error(PTL_ERR_VALUE, "observer merge: the observers have different configurations");
  if (a->kind == PTL_OBSERVER_MOVING_AVG)
    return ptl_error(PTL_ERR_UNSUPPORTED, "observer merge: a moving-average state depends on the "
                                          "order of the batches and cannot be merged");
  if (src->count == 0 || (!dst->per_channel && src->min[0] == INFINITY && src->max[0] == -INFINITY))
    return PTL_OK;
  if (dst->per_channel && dst->count == 0)
    return ptl_observer_set_minmax(dst, src->count, src->min, src->max);
  if (!dst->hist) {
    if (dst->count != src->count)
      return ptl_error(PTL_ERR_SHAPE, "observer merge: %lld channels vs %lld",
                       (long long)dst->count, (long long)src->count);
    for (int64_t i = 0; i < dst->count; i++) {
      dst->min[i] = min_nan(dst->min[i], src->min[i]);
      dst->max[i] = max_nan(dst->max[i], src->max[i]);
    }
    return PTL_OK;
  }
  int32_t bins = a->bins;
  if (dst->min[0] == INFINITY && dst->max[0] == -INFINITY) {
    memcpy(dst->hist, src->hist, sizeof(float) * (size_t)(uint32_t)bins);
    dst->min[0] = src->min[0];
    dst->max[0] = src->max[0];
    return PTL_OK;
  }
  float nmin = min_nan(dst->min[0], src->min[0]), nmax = max_nan(dst->max[0], src->max[0]);
  float *acc = calloc((size_t)(uint32_t)bins, sizeof(float));
  if (!acc)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  /* both histograms re-binned into the union range, the same way a range
   * growth re-bins the old histogram */
  ptl_status s = combine(dst, src->hist, src->min[0], src->max[0], acc, nmin, nmax);
  if (s == PTL_OK)
    s = combine(dst, dst->hist, dst->min[0], dst->max[0], acc, nmin, nmax);
  if (s == PTL_OK) {
    memcpy(dst->hist, acc, sizeof(float) * (size_t)(uint32_t)bins);
    dst->min[0] = nmin;
    dst->max[0] = nmax;
  }
  free(acc);
  return s;
}

/* ---- range selection ------------------------------------------------------ */

/* torch's _compute_quantization_error, float32 op by op. */
static double quant_error(const ptl_observer *o, int64_t start, int64_t end, float *tmp) {
  int32_t bins = o->cfg.bins;
  double dst_nbins = ldexp(1.0, is_int32(o->cfg.dtype) ? 32 : 8);
  double bw = ((double)o->max[0] - (double)o->min[0]) / bins;
  double dbw = bw * (double)(end - start + 1) / dst_nbins;
  if (dbw == 0.0)
    return 0.0;
  float fbw = (float)bw, fdbw = (float)dbw, fhalf = (float)(dbw / 2), fnhalf = (float)(-dbw / 2);
  float mid_norm = (fhalf * fhalf * fhalf - fnhalf * fnhalf * fnhalf) / 3.0f;
  float top = (float)(dst_nbins - 1);
  for (int32_t i = 0; i < bins; i++) {
    float b = (float)(i - start) * fbw;
    float e = b + fbw;
    float db, de;
    /* torch.div(..., rounding_mode="floor") for floats */
    {
      float mod = fmodf(b, fdbw), div = (b - mod) / fdbw;
      if (mod != 0 && ((fdbw < 0) != (mod < 0)))
        div -= 1.0f;
      if (div != 0) {
        db = floorf(div);
        if (div - db > 0.5f)
          db += 1.0f;
      } else {
        db = copysignf(0.0f, b / fdbw);
      }
    }
    {
      float mod = fmodf(e, fdbw), div = (e - mod) / fdbw;
      if (mod != 0 && ((fdbw < 0) != (mod < 0)))
        div -= 1.0f;
      if (div != 0) {
        de = floorf(div);
        if (div - de > 0.5f)
          de += 1.0f;
      } else {
        de = copysignf(0.0f, e / fdbw);
      }
    }
    db = db < 0 ? 0 : (db > top ? top : db);
    de = de < 0 ? 0 : (de > top ? top : de);
    float density = o->hist[i] / fbw;
    float center_b = (db + 0.5f) * fdbw;
    float d1 = b - center_b;
    float norm = 0.0f;
    norm = norm + density * ((fhalf * fhalf * fhalf - d1 * d1 * d1) / 3.0f);
    norm = norm + (de - db - 1.0f) * (density * mid_norm);
    float center_e = de * fdbw + fhalf;
    float d2 = e - center_e;
    norm = norm + density * ((d2 * d2 * d2 - fnhalf * fnhalf * fnhalf) / 3.0f);
    tmp[i] = norm;
  }
  double sum = 0;
  for (int32_t i = 0; i < bins; i++)
    sum += tmp[i];
  return (double)(float)sum;
}

/* torch's _non_linear_param_search. */
static ptl_status l2_search(const ptl_observer *o, float *lo, float *hi) {
  int32_t bins = o->cfg.bins;
  float *cs = malloc(sizeof(float) * (size_t)(uint32_t)bins);
  float *tmp = malloc(sizeof(float) * (size_t)(uint32_t)bins);
  if (!cs || !tmp) {
    free(cs);
    free(tmp);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  }
  double acc = 0;
  for (int32_t i = 0; i < bins; i++) {
    acc += o->hist[i]; /* torch's CPU cumsum accumulates in double */
    cs[i] = (float)acc;
  }
  double total = (double)(float)acc;
  float bin_width = (o->max[0] - o->min[0]) / (float)bins;
  double alpha = 0.0, beta = 1.0, norm_min = INFINITY;
  const double stepsize = 1e-5;
  int64_t start_bin = 0, end_bin = bins - 1;
  while (alpha < beta) {
    double na = alpha + stepsize, nb = beta - stepsize;
    int64_t l = start_bin, r = end_bin;
    float ta = (float)(na * total), tb = (float)(nb * total);
    while (l < end_bin && cs[l] < ta)
      l++;
    while (r > start_bin && cs[r] > tb)
      r--;
    int64_t ns = start_bin, ne = end_bin;
    if ((l - start_bin) > (end_bin - r)) {
      ns = l;
      alpha = na;
    } else {
      ne = r;
      beta = nb;
    }
    if (ns == start_bin && ne == end_bin)
      continue;
    double norm = quant_error(o, ns, ne, tmp);
    if (norm > norm_min)
      break;
    norm_min = norm;
    start_bin = ns;
    end_bin = ne;
  }
  *lo = o->min[0] + bin_width * (float)start_bin;
  *hi = o->min[0] + bin_width * (float)(end_bin + 1);
  free(cs);
  free(tmp);
  return PTL_OK;
}

/* Value below which a fraction q of the histogram's mass lies (linear inside
 * the bin holding it). */
static float hist_quantile(const ptl_observer *o, double q) {
  int32_t bins = o->cfg.bins;
  double total = 0;
  for (int32_t i = 0; i < bins; i++)
    total += o->hist[i];
  double lo = o->min[0], w = ((double)o->max[0] - lo) / bins, target = q * total, acc = 0;
  if (total <= 0 || w <= 0)
    return q < 0.5 ? o->min[0] : o->max[0];
  for (int32_t i = 0; i < bins; i++) {
    double h = o->hist[i];
    if (acc + h >= target && h > 0) {
      double frac = (target - acc) / h;
      return (float)(lo + w * (i + frac));
    }
    acc += h;
  }
  return o->max[0];
}

/* TensorRT-style KL threshold over an |x| histogram anchored at 0. */
static ptl_status entropy_threshold(const ptl_observer *o, float *t) {
  int32_t bins = o->cfg.bins;
  int64_t nq = (o->qmax - o->qmin + 1) / 2;
  if (nq < 1)
    nq = 1;
  double w = (double)o->max[0] / bins;
  if (nq >= bins || w <= 0) {
    *t = o->max[0];
    return PTL_OK;
  }
  double *p = malloc(sizeof(double) * (size_t)(uint32_t)bins),
         *q = malloc(sizeof(double) * (size_t)(uint32_t)bins);
  if (!p || !q) {
    free(p);
    free(q);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "observer: out of memory");
  }
  double best = INFINITY;
  int64_t best_i = bins;
  for (int64_t i = nq; i <= bins; i++) {
    double tail = 0, ptot = 0;
    for (int64_t k = 0; k < i; k++)
      p[k] = o->hist[k];
    for (int64_t k = i; k < bins; k++)
      tail += o->hist[k];
    p[i - 1] += tail;
    for (int64_t k = 0; k < i; k++)
      ptot += p[k];
    if (ptot <= 0)
      continue;
    /* Q: the clipped histogram (without the folded tail, so clipping costs
     * KL) merged into nq groups, each spread uniformly over the bins where P
     * is nonzero */
    for (int64_t g = 0; g < nq; g++) {
      int64_t a = g * i / nq, b = (g + 1) * i / nq;
      double sum = 0;
      int64_t nz = 0;
      for (int64_t k = a; k < b; k++) {
        sum += o->hist[k];
        nz += p[k] != 0;
      }
      for (int64_t k = a; k < b; k++)
        q[k] = (p[k] != 0 && nz) ? sum / (double)nz : 0;
    }
    double qtot = 0;
    for (int64_t k = 0; k < i; k++)
      qtot += q[k];
    if (qtot <= 0)
      continue;
    /* KL(P || Q) with MXNet's smoothing of Q's zeros where P is nonzero */
    int64_t qz = 0, qnz = 0;
    for (int64_t k = 0; k < i; k++) {
      qz += q[k] == 0;
      qnz += q[k] != 0;
    }
    const double seps = 1e-4;
    double eps1 = qnz ? seps * (double)qz / (double)qnz : 0;
    double kl = 0;
    for (int64_t k = 0; k < i; k++) {
      if (p[k] <= 0)
        continue;
      double pk = p[k] / ptot, qk = q[k] / qtot;
      qk = qk == 0 ? seps : qk - eps1;
      kl += qk > 0 ? pk * log(pk / qk) : INFINITY;
    }
    if (kl < best) {
      best = kl;
      best_i = i;
    }
  }
  free(p);
  free(q);
  *t = (float)(w * (double)best_i);
  if (*t > o->max[0])
    *t = o->max[0];
  return PTL_OK;
}

ptl_status ptl_observer_range(const ptl_observer *o, float *lo, float *hi) {
  if (o->per_channel)
    return ptl_error(PTL_ERR_VALUE, "observer: range() is per tensor only");
  *lo = o->min[0];
  *hi = o->max[0];
  if (!o->hist || (o->min[0] == INFINITY && o->max[0] == -INFINITY))
    return PTL_OK;
  switch (o->cfg.kind) {
  case PTL_OBSERVER_HISTOGRAM: return l2_search(o, lo, hi);
  case PTL_OBSERVER_PERCENTILE: {
    double p = o->cfg.percentile / 100.0;
    if (o->abs_hist) {
      float t = hist_quantile(o, p);
      *lo = -t;
      *hi = t;
    } else {
      *lo = hist_quantile(o, (1.0 - p) / 2);
      *hi = hist_quantile(o, 1.0 - (1.0 - p) / 2);
    }
    return PTL_OK;
  }
  case PTL_OBSERVER_ENTROPY: {
    float t = 0;
    PTL_CHECK(entropy_threshold(o, &t));
    *lo = -t;
    *hi = t;
    return PTL_OK;
  }
  default: return PTL_OK;
  }
}

/* ---- qparams --------------------------------------------------------------- */

int64_t ptl_observer_qparams_count(const ptl_observer *o) {
  return o->count > 0 ? o->count : 1;
}

/* torch's _calculate_qparams for one (min, max). */
static void qparams_one(const ptl_observer *o, float mn, float mx, float *scale, int64_t *zp) {
  float eps = o->cfg.eps;
  int64_t qmin = o->qmin, qmax = o->qmax;
  float min_neg = min_nan(mn, 0.0f), max_pos = max_nan(mx, 0.0f);
  if (is_symmetric(o->cfg.qscheme)) {
    max_pos = max_nan(-min_neg, max_pos);
    float s = max_pos / (float)((double)(qmax - qmin) / 2);
    *scale = max_nan(s, eps);
    if (is_unsigned8(o->cfg.dtype))
      *zp = o->cfg.has_custom_range ? floor_div2(qmin + qmax) : 128;
    else
      *zp = 0;
    return;
  }
  float s = (max_pos - min_neg) / (float)(qmax - qmin);
  s = max_nan(s, eps);
  *scale = s;
  /* quant_min - round(min_neg / scale).to(int): int32 arithmetic, then clamp */
  int32_t r = f2i32(nearbyintf(min_neg / s));
  int32_t z = (int32_t)(uint32_t)((uint32_t)(int32_t)qmin - (uint32_t)r);
  int64_t zz = z;
  *zp = zz < qmin ? qmin : (zz > qmax ? qmax : zz);
}

ptl_status ptl_observer_calculate_qparams(const ptl_observer *o, float *scale, int64_t *zp,
                                          bool *valid) {
  *valid = false;
  scale[0] = 1.0f;
  zp[0] = 0;
  if (o->count == 0 || (!o->per_channel && o->min[0] == INFINITY && o->max[0] == -INFINITY))
    return PTL_OK;
  if (!o->per_channel) {
    float lo, hi;
    PTL_CHECK(ptl_observer_range(o, &lo, &hi));
    if (lo > hi)
      return ptl_error(PTL_ERR_VALUE, "min %g should be less than max %g", (double)lo, (double)hi);
    qparams_one(o, lo, hi, &scale[0], &zp[0]);
    *valid = true;
    return PTL_OK;
  }
  for (int64_t i = 0; i < o->count; i++)
    if (o->min[i] > o->max[i])
      return ptl_error(PTL_ERR_VALUE, "min %g should be less than max %g (channel %lld)",
                       (double)o->min[i], (double)o->max[i], (long long)i);
  for (int64_t i = 0; i < o->count; i++)
    qparams_one(o, o->min[i], o->max[i], &scale[i], &zp[i]);
  *valid = true;
  return PTL_OK;
}
