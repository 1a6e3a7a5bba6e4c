/* conv.c - CONV2D and CONV_TRANSPOSE2D: shape inference with torch's checks, direct
 * reference loops over any strides, and XNNPACK fast paths with weights packed once.
 *
 * Attribute extension (beyond ops.def, backwards compatible): CONV2D i[8] and i[9]
 * are extra padding at the bottom and right (default 0). torch's padding='same' with
 * an even dilated kernel pads one more on the bottom/right; XNNPACK takes asymmetric
 * padding natively, so conv2d(padding='same') needs no separate pad op. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "../internal.h"

/* Everything a 2-d convolution is built from, after validation. Unbatched (3-d)
 * inputs are described as N = 1. */
typedef struct {
  bool transposed, unbatched;
  int64_t n, c, h, w;     /* input */
  int64_t o, kh, kw;      /* output channels, kernel */
  int64_t groups, ig, og; /* channels per group: input, output */
  int64_t sh, sw;         /* stride */
  int64_t pt, pl, pb, pr; /* padding top, left, bottom, right */
  int64_t dh, dw;         /* dilation */
  int64_t oph, opw;       /* output_padding (transposed) */
  int64_t oh, ow;         /* output spatial size */
  bool clamp;
  float cmin, cmax;
} conv_geom;

static int64_t attr_i(const ptl_attrs *a, int k, int64_t def) {
  return a->n_ints > k ? a->ints[k] : def;
}

/* Validates inputs and attributes in torch's order and with torch's messages. */
static ptl_status conv_parse(const ptl_call *call, conv_geom *g) {
  const char *op = ptl_op_name(call->op);
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  const ptl_attrs *a = call->attrs;
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  memset(g, 0, sizeof *g);
  g->transposed = call->op == PTL_OP_CONV_TRANSPOSE2D;

  if (x->ndim != 3 && x->ndim != 4)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: Expected 3D (unbatched) or 4D (batched) input to %s, but got input "
                     "of size: %s",
                     op, op, ptl_shape_str(x, b1, sizeof b1));
  if (w->ndim != 4)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: expected weight to be 4-dimensional to match the 4-dimensional "
                     "input, but got weight of size %s",
                     op, ptl_shape_str(w, b1, sizeof b1));
  if (x->dtype != w->dtype)
    return ptl_error(PTL_ERR_DTYPE,
                     "%s: Input type (%s) and weight type (%s) should be the same (input %s, "
                     "weight %s)",
                     op, ptl_torch_cpp_name(x->dtype), ptl_torch_cpp_name(w->dtype),
                     ptl_dtype_name(x->dtype), ptl_dtype_name(w->dtype));
  if (b && b->dtype != x->dtype)
    return ptl_error(PTL_ERR_DTYPE,
                     "%s: Input type (%s) and bias type (%s) should be the same (input %s, "
                     "bias %s)",
                     op, ptl_torch_cpp_name(x->dtype), ptl_torch_cpp_name(b->dtype),
                     ptl_dtype_name(x->dtype), ptl_dtype_name(b->dtype));
  if (x->dtype != PTL_FLOAT32)
    return ptl_error(PTL_ERR_UNSUPPORTED, "%s: only float32 is supported, got input of dtype %s",
                     op, ptl_dtype_name(x->dtype));

  g->unbatched = x->ndim == 3;
  int d = g->unbatched ? 0 : 1; /* channel dim */
  g->n = g->unbatched ? 1 : x->shape[0];
  g->c = x->shape[d];
  g->h = x->shape[d + 1];
  g->w = x->shape[d + 2];
  g->kh = w->shape[2];
  g->kw = w->shape[3];
  g->sh = attr_i(a, 0, 1);
  g->sw = attr_i(a, 1, 1);
  g->pt = attr_i(a, 2, 0);
  g->pl = attr_i(a, 3, 0);
  if (g->transposed) {
    g->oph = attr_i(a, 4, 0);
    g->opw = attr_i(a, 5, 0);
    g->dh = attr_i(a, 6, 1);
    g->dw = attr_i(a, 7, 1);
    g->groups = attr_i(a, 8, 1);
    g->pb = g->pt;
    g->pr = g->pl;
  } else {
    g->dh = attr_i(a, 4, 1);
    g->dw = attr_i(a, 5, 1);
    g->groups = attr_i(a, 6, 1);
    g->clamp = attr_i(a, 7, 0) != 0;
    g->pb = g->pt + attr_i(a, 8, 0);
    g->pr = g->pl + attr_i(a, 9, 0);
    if (g->clamp) {
      g->cmin = a->n_floats > 0 ? (float)a->floats[0] : -INFINITY;
      g->cmax = a->n_floats > 1 ? (float)a->floats[1] : INFINITY;
    }
  }
  if (g->sh <= 0 || g->sw <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: non-positive stride is not supported (got [%lld, %lld])", op,
                     (long long)g->sh, (long long)g->sw);
  if (g->pt < 0 || g->pl < 0 || g->pb < 0 || g->pr < 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: negative padding is not supported (got [%lld, %lld])", op,
                     (long long)g->pt, (long long)g->pl);
  if (g->transposed && (g->oph < 0 || g->opw < 0))
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: negative output_padding is not supported (got [%lld, %lld])", op,
                     (long long)g->oph, (long long)g->opw);
  if (g->dh <= 0 || g->dw <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: dilation should be greater than zero, but got [%lld, %lld]", op,
                     (long long)g->dh, (long long)g->dw);
  if (g->groups <= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "%s: non-positive groups is not supported (got %lld)", op,
                     (long long)g->groups);
  if (w->shape[0] < g->groups)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: Given groups=%lld, expected weight to be at least %lld at dimension 0, "
                     "but got weight of size %s instead",
                     op, (long long)g->groups, (long long)g->groups,
                     ptl_shape_str(w, b1, sizeof b1));
  if (w->shape[0] % g->groups != 0)
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: Given groups=%lld, expected weight to be divisible by %lld at "
                     "dimension 0, but got weight of size [%s] instead",
                     op, (long long)g->groups, (long long)g->groups,
                     ptl_shape_str(w, b1, sizeof b1));
  /* the input as torch prints it: unbatched inputs get their batch dim of 1 */
  int64_t xs4[4] = {g->n, g->c, g->h, g->w};
  ptl_dims_str(4, xs4, b2, sizeof b2);
  if (!g->transposed) {
    g->o = w->shape[0];
    g->og = g->o / g->groups;
    g->ig = w->shape[1];
    if (g->c != g->ig * g->groups)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Given groups=%lld, weight of size %s, expected input%s to have %lld "
                       "channels, but got %lld channels instead",
                       op, (long long)g->groups, ptl_shape_str(w, b1, sizeof b1), b2,
                       (long long)(g->ig * g->groups), (long long)g->c);
  } else {
    if (g->c != w->shape[0])
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Given transposed=1, weight of size %s, expected input%s to have %lld "
                       "channels, but got %lld channels instead",
                       op, ptl_shape_str(w, b1, sizeof b1), b2, (long long)w->shape[0],
                       (long long)g->c);
    g->ig = g->c / g->groups;
    g->og = w->shape[1];
    g->o = g->og * g->groups;
  }
  if (b && (b->ndim != 1 || b->shape[0] != g->o))
    return ptl_error(PTL_ERR_SHAPE,
                     "%s: Given %sweight of size %s, expected bias to be 1-dimensional with %lld "
                     "elements, but got bias of size %s instead",
                     op, g->transposed ? "transposed=1, " : "", ptl_shape_str(w, b1, sizeof b1),
                     (long long)g->o, ptl_shape_str(b, b2, sizeof b2));

  int64_t ekh = g->dh * (g->kh - 1) + 1, ekw = g->dw * (g->kw - 1) + 1; /* dilated kernel */
  if (!g->transposed) {
    int64_t ph = g->h + g->pt + g->pb, pw = g->w + g->pl + g->pr;
    if (ph < ekh || pw < ekw)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Calculated padded input size per channel: (%lld x %lld). Kernel "
                       "size: (%lld x %lld). Kernel size can't be greater than actual input "
                       "size (input %s, weight %s)",
                       op, (long long)ph, (long long)pw, (long long)ekh, (long long)ekw, b2,
                       ptl_shape_str(w, b1, sizeof b1));
    g->oh = (ph - ekh) / g->sh + 1;
    g->ow = (pw - ekw) / g->sw + 1;
  } else {
    if ((g->oph >= g->sh && g->oph >= g->dh) || (g->opw >= g->sw && g->opw >= g->dw))
      return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                       "%s: output padding must be smaller than either stride or dilation, but "
                       "got output_padding_height: %lld output_padding_width: %lld "
                       "stride_height: %lld stride_width: %lld dilation_height: %lld "
                       "dilation_width: %lld",
                       op, (long long)g->oph, (long long)g->opw, (long long)g->sh, (long long)g->sw,
                       (long long)g->dh, (long long)g->dw);
    g->oh = (g->h - 1) * g->sh - 2 * g->pt + ekh + g->oph;
    g->ow = (g->w - 1) * g->sw - 2 * g->pl + ekw + g->opw;
    if (g->oh <= 0 || g->ow <= 0)
      return ptl_error(PTL_ERR_SHAPE,
                       "%s: Given input size per channel: (%lld x %lld). Calculated output size "
                       "per channel: (%lld x %lld). Output size is too small (input %s, weight "
                       "%s)",
                       op, (long long)g->h, (long long)g->w, (long long)g->oh, (long long)g->ow, b2,
                       ptl_shape_str(w, b1, sizeof b1));
  }
  return PTL_OK;
}

/* Output description: channels-last (NHWC memory) when the fast path will run, so
 * conv chains never transpose; contiguous NCHW on the reference backend. */
static void conv_desc(const ptl_call *call, const conv_geom *g, ptl_tensor_desc *out) {
  out->dtype = call->in[0]->dtype;
  bool fast = call->backend == PTL_BACKEND_AUTO;
  if (g->unbatched) {
    out->ndim = 3;
    out->shape[0] = g->o;
    out->shape[1] = g->oh;
    out->shape[2] = g->ow;
    if (fast) {
      out->has_strides = true;
      out->strides[0] = 1;
      out->strides[2] = g->o > 1 ? g->o : 1;
      out->strides[1] = out->strides[2] * (g->ow > 1 ? g->ow : 1);
    }
    return;
  }
  out->ndim = 4;
  out->shape[0] = g->n;
  out->shape[1] = g->o;
  out->shape[2] = g->oh;
  out->shape[3] = g->ow;
  if (fast) {
    out->has_strides = true;
    ptl_channels_last_strides(out->shape, out->strides);
  }
}

ptl_status ptl_conv2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  conv_geom g;
  PTL_CHECK(conv_parse(call, &g));
  conv_desc(call, &g, out);
  return PTL_OK;
}

ptl_status ptl_conv_transpose2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  return ptl_conv2d_infer(call, out);
}

/* Strides of a conv operand as (n, c, h, w); unbatched tensors get n stride 0. */
static void nchw_strides(const ptl_tensor *t, bool unbatched, int64_t *s) {
  if (unbatched) {
    s[0] = 0;
    memcpy(s + 1, t->strides, sizeof(int64_t) * 3);
  } else {
    memcpy(s, t->strides, sizeof(int64_t) * 4);
  }
}

/* ---- reference kernels ---------------------------------------------------- */
typedef struct {
  const conv_geom *g;
  const float *x, *w, *b;
  float *y;
  int64_t xs[4], ws[4], ys[4], bs;
} ref_ctx;

/* One (n, o) output plane. Each output sums over (input channel, ky, kx) in that
 * fixed order, then adds the bias, then clamps. */
static void conv2d_ref_plane(void *vctx, size_t idx) {
  const ref_ctx *r = vctx;
  const conv_geom *g = r->g;
  int64_t n = (int64_t)idx / g->o, o = (int64_t)idx % g->o;
  int64_t grp = o / g->og;
  const float *xn = r->x + n * r->xs[0] + grp * g->ig * r->xs[1];
  const float *wo = r->w + o * r->ws[0];
  float bias = r->b ? r->b[o * r->bs] : 0.0f;
  float *yo = r->y + n * r->ys[0] + o * r->ys[1];
  for (int64_t oy = 0; oy < g->oh; oy++) {
    for (int64_t ox = 0; ox < g->ow; ox++) {
      float acc = 0.0f;
      for (int64_t ci = 0; ci < g->ig; ci++) {
        const float *xc = xn + ci * r->xs[1];
        const float *wc = wo + ci * r->ws[1];
        for (int64_t ky = 0; ky < g->kh; ky++) {
          int64_t iy = oy * g->sh - g->pt + ky * g->dh;
          if (iy < 0 || iy >= g->h)
            continue;
          for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t ix = ox * g->sw - g->pl + kx * g->dw;
            if (ix < 0 || ix >= g->w)
              continue;
            acc += xc[iy * r->xs[2] + ix * r->xs[3]] * wc[ky * r->ws[2] + kx * r->ws[3]];
          }
        }
      }
      acc += bias;
      if (g->clamp)
        acc = fminf(fmaxf(acc, g->cmin), g->cmax);
      yo[oy * r->ys[2] + ox * r->ys[3]] = acc;
    }
  }
}

/* Transposed conv as a gather: output (y, x) receives input (iy, ix) through tap
 * (ky, kx) when y + pad - ky * dilation == iy * stride. */
static void conv_transpose2d_ref_plane(void *vctx, size_t idx) {
  const ref_ctx *r = vctx;
  const conv_geom *g = r->g;
  int64_t n = (int64_t)idx / g->o, o = (int64_t)idx % g->o;
  int64_t grp = o / g->og, oc = o % g->og;
  float bias = r->b ? r->b[o * r->bs] : 0.0f;
  float *yo = r->y + n * r->ys[0] + o * r->ys[1];
  for (int64_t oy = 0; oy < g->oh; oy++) {
    for (int64_t ox = 0; ox < g->ow; ox++) {
      float acc = 0.0f;
      for (int64_t ci = 0; ci < g->ig; ci++) {
        int64_t ic = grp * g->ig + ci;
        const float *xc = r->x + n * r->xs[0] + ic * r->xs[1];
        const float *wc = r->w + ic * r->ws[0] + oc * r->ws[1];
        for (int64_t ky = 0; ky < g->kh; ky++) {
          int64_t ty = oy + g->pt - ky * g->dh;
          if (ty < 0 || ty % g->sh != 0 || ty / g->sh >= g->h)
            continue;
          int64_t iy = ty / g->sh;
          for (int64_t kx = 0; kx < g->kw; kx++) {
            int64_t tx = ox + g->pl - kx * g->dw;
            if (tx < 0 || tx % g->sw != 0 || tx / g->sw >= g->w)
              continue;
            acc += xc[iy * r->xs[2] + (tx / g->sw) * r->xs[3]] * wc[ky * r->ws[2] + kx * r->ws[3]];
          }
        }
      }
      yo[oy * r->ys[2] + ox * r->ys[3]] = acc + bias;
    }
  }
}

static ptl_status conv_ref_common(const ptl_call *call, void (*plane)(void *, size_t)) {
  conv_geom g;
  PTL_CHECK(conv_parse(call, &g));
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  ptl_tensor *y = call->out[0];
  ref_ctx r = {&g,
               ptl_tensor_data(x),
               ptl_tensor_data(w),
               b ? ptl_tensor_data(b) : NULL,
               ptl_tensor_data(y),
               {0},
               {0},
               {0},
               b ? b->strides[0] : 0};
  nchw_strides(x, g.unbatched, r.xs);
  memcpy(r.ws, w->strides, sizeof r.ws);
  nchw_strides(y, g.unbatched, r.ys);
  size_t planes = (size_t)(g.n * g.o);
  if (planes == 0 || g.oh * g.ow == 0)
    return PTL_OK;
  /* planes are independent and each is summed in a fixed order: any thread count
   * gives the same bits */
  ptl_parallel_for(plane, &r, planes);
  return PTL_OK;
}

ptl_status ptl_conv2d_ref(const ptl_call *call) {
  return conv_ref_common(call, conv2d_ref_plane);
}

ptl_status ptl_conv_transpose2d_ref(const ptl_call *call) {
  return conv_ref_common(call, conv_transpose2d_ref_plane);
}

/* ---- XNNPACK fast paths ----------------------------------------------------
 * The operator (packed weights + bias) is created once per weight version and
 * configuration and cached on the weight tensor. Calls reach it with the Python
 * GIL held (the binding does not release it), so the cache and the operator's
 * setup/run are never used from two threads at once. A C caller running convs
 * that share one weight on several threads must serialise them. */

typedef struct {
  xnn_operator_t op; /* XNNPACK path */
  float *panels;     /* own path: [O/16][kH*kW*C][16] weights, zero padded */
  float *panel_bias; /* own path: [O/16 * 16] bias, zero padded */
  float *zeros;      /* own path: C zeros standing in for padded input pixels */
  int64_t n_bias;
  float *bias; /* copy of the bias the operator was packed with (NULL: none) */
} packed_conv;

static void packed_conv_clear(packed_conv *p) {
  if (p->op)
    xnn_delete_operator(p->op);
  free(p->panels);
  free(p->panel_bias);
  free(p->zeros);
  free(p->bias);
  memset(p, 0, sizeof *p);
}

static void packed_conv_destroy(void *obj) {
  packed_conv *p = obj;
  if (!p)
    return;
  packed_conv_clear(p);
  free(p);
}

/* 4-d view [1, C, H, W] of an unbatched [C, H, W] tensor (retained as is when 4-d). */
static ptl_status as_4d(ptl_tensor *t, ptl_tensor **out) {
  if (t->ndim == 4) {
    ptl_tensor_retain(t);
    *out = t;
    return PTL_OK;
  }
  int64_t shape[4] = {1, t->shape[0], t->shape[1], t->shape[2]};
  int64_t strides[4] = {t->shape[0] * t->shape[1] * t->shape[2], t->strides[0], t->strides[1],
                        t->strides[2]};
  return ptl_tensor_view(t, 4, shape, strides, t->offset, out);
}

/* Reads a 1-d float tensor (any stride) into dst. */
static void read_vec(const ptl_tensor *t, float *dst) {
  const float *s = ptl_tensor_data(t);
  for (int64_t i = 0; i < t->shape[0]; i++)
    dst[i] = s[i * t->strides[0]];
}

static bool bias_matches(const packed_conv *p, const ptl_tensor *b) {
  if (!b)
    return p->bias == NULL;
  if (!p->bias || p->n_bias != b->shape[0])
    return false;
  const float *s = ptl_tensor_data(b);
  for (int64_t i = 0; i < p->n_bias; i++)
    if (memcmp(&p->bias[i], &s[i * b->strides[0]], sizeof(float)) != 0)
      return false;
  return true;
}

static uint64_t f32_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* Weights in XNNPACK's [groups][group out][kH][kW][group in] order. */
static float *repack_weights(const ptl_tensor *w, const conv_geom *g) {
  float *buf = malloc(sizeof(float) * (size_t)(g->o * g->kh * g->kw * g->ig) + 16);
  if (!buf)
    return NULL;
  const float *s = ptl_tensor_data(w);
  const int64_t *st = w->strides;
  size_t k = 0;
  for (int64_t grp = 0; grp < g->groups; grp++)
    for (int64_t j = 0; j < g->og; j++)
      for (int64_t ky = 0; ky < g->kh; ky++)
        for (int64_t kx = 0; kx < g->kw; kx++)
          for (int64_t ci = 0; ci < g->ig; ci++) {
            /* conv: w[O, I/g, kH, kW]; transposed: w[I, O/g, kH, kW] */
            int64_t i0 = g->transposed ? grp * g->ig + ci : grp * g->og + j;
            int64_t i1 = g->transposed ? j : ci;
            buf[k++] = s[i0 * st[0] + i1 * st[1] + ky * st[2] + kx * st[3]];
          }
  return buf;
}

/* Own GEMM panels: weight (o, ci, ky, kx) at [o / 16][(ky * kW + kx) * C + ci][o % 16],
 * matching NHWC input where a pixel's channels are adjacent. */
/* Own GEMM panels, 16 output channels each, per group: panel pn covers group
 * pn / ppg, channels (pn % ppg) * 16 ... of it (ppg = panels per group). Weight
 * (o, ci, ky, kx) sits at [pn][(ky * kW + kx) * (C/g) + ci][o % 16], matching NHWC
 * input where a pixel's channels are adjacent. */
static int64_t own_panels_per_group(const conv_geom *g) {
  return (g->og + 15) / 16;
}

static ptl_status pack_own(const ptl_tensor *w, const ptl_tensor *b, const conv_geom *g,
                           packed_conv *p) {
  int64_t ppg = own_panels_per_group(g), panels = ppg * g->groups;
  int64_t k = g->kh * g->kw * g->ig;
  size_t wbytes = sizeof(float) * (size_t)(panels * k * 16);
  p->panels = aligned_alloc(64, (wbytes + 63) & ~(size_t)63);
  p->panel_bias = calloc((size_t)panels * 16, sizeof(float));
  p->zeros = calloc((size_t)g->c + 16, sizeof(float));
  if (!p->panels || !p->panel_bias || !p->zeros)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "conv2d: out of memory packing weights");
  memset(p->panels, 0, wbytes);
  const float *s = ptl_tensor_data(w);
  const int64_t *st = w->strides;
  const float *bs = b ? ptl_tensor_data(b) : NULL;
  for (int64_t o = 0; o < g->o; o++) {
    int64_t grp = o / g->og, j = o % g->og;
    int64_t pn = grp * ppg + j / 16;
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++)
        for (int64_t ci = 0; ci < g->ig; ci++) {
          int64_t kk = (ky * g->kw + kx) * g->ig + ci;
          p->panels[(pn * k + kk) * 16 + j % 16] =
              s[o * st[0] + ci * st[1] + ky * st[2] + kx * st[3]];
        }
    if (bs)
      p->panel_bias[pn * 16 + j % 16] = bs[o * b->strides[0]];
  }
  return PTL_OK;
}

static ptl_status create_xnn(const ptl_call *call, const conv_geom *g, int64_t in_pix,
                             int64_t out_pix, float lo, float hi, const float *bias,
                             packed_conv *p) {
  float *wbuf = repack_weights(call->in[1], g);
  if (!wbuf)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "%s: out of memory repacking weights",
                     ptl_op_name(call->op));
  enum xnn_status st;
  if (!g->transposed)
    st = xnn_create_convolution2d_nhwc_f32(
        (uint32_t)g->pt, (uint32_t)g->pr, (uint32_t)g->pb, (uint32_t)g->pl, (uint32_t)g->kh,
        (uint32_t)g->kw, (uint32_t)g->sh, (uint32_t)g->sw, (uint32_t)g->dh, (uint32_t)g->dw,
        (uint32_t)g->groups, (size_t)g->ig, (size_t)g->og, (size_t)in_pix, (size_t)out_pix, wbuf,
        bias, lo, hi, 0, &p->op);
  else
    st = xnn_create_deconvolution2d_nhwc_f32(
        (uint32_t)g->pt, (uint32_t)g->pr, (uint32_t)g->pb, (uint32_t)g->pl, (uint32_t)g->kh,
        (uint32_t)g->kw, (uint32_t)g->sh, (uint32_t)g->sw, (uint32_t)g->dh, (uint32_t)g->dw,
        (uint32_t)g->groups, (size_t)g->ig, (size_t)g->og, (size_t)in_pix, (size_t)out_pix, wbuf,
        bias, lo, hi, 0, &p->op);
  free(wbuf); /* XNNPACK copied the weights into its packed buffer */
  if (st != xnn_status_success) {
    p->op = NULL;
    return ptl_error(PTL_ERR_UNSUPPORTED, "%s: XNNPACK rejected the configuration (status %d)",
                     ptl_op_name(call->op), (int)st);
  }
  return PTL_OK;
}

/* The packed weights for this call: found in the weight's cache or built once.
 * `own` selects the own GEMM panels (layout-independent: no strides or clamp in
 * the packing) over an XNNPACK operator. */
static ptl_status get_packed(const ptl_call *call, const conv_geom *g, bool own, int64_t in_pix,
                             int64_t out_pix, packed_conv **out) {
  ptl_tensor *w = call->in[1];
  const ptl_tensor *b = call->n_in > 2 ? call->in[2] : NULL;
  float lo = g->clamp ? g->cmin : -INFINITY, hi = g->clamp ? g->cmax : INFINITY;
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  int k = 0;
  key[k++] = ptl_tensor_version(w);
  key[k++] = (uint64_t)call->op | (own ? 0x10000u : 0);
  key[k++] = (uint64_t)g->kh;
  key[k++] = (uint64_t)g->kw;
  key[k++] = (uint64_t)g->sh;
  key[k++] = (uint64_t)g->sw;
  key[k++] = (uint64_t)g->pt;
  key[k++] = (uint64_t)g->pl;
  key[k++] = (uint64_t)g->pb;
  key[k++] = (uint64_t)g->pr;
  key[k++] = (uint64_t)g->dh;
  key[k++] = (uint64_t)g->dw;
  key[k++] = (uint64_t)g->groups;
  key[k++] = (uint64_t)g->ig;
  key[k++] = (uint64_t)g->og;
  key[k++] = own ? 0 : (uint64_t)in_pix;
  key[k++] = own ? 0 : (uint64_t)out_pix;
  key[k++] = (uint64_t)(uintptr_t)(b ? ptl_tensor_data(b) : NULL);
  key[k++] = b ? ptl_tensor_version(b) : 0;
  key[k++] = own ? 0 : f32_bits(lo) << 32 | f32_bits(hi);

  packed_conv *p = ptl_packed_find(w, key);
  /* a new bias tensor can reuse a freed one's address and version: check its
   * values too (O floats, cheap next to the conv) */
  if (p && (p->op || p->panels) && bias_matches(p, b)) {
    *out = p;
    return PTL_OK;
  }
  bool fresh = p == NULL;
  if (fresh) {
    p = calloc(1, sizeof *p);
    if (!p)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "conv2d: out of memory caching an operator");
  } else {
    packed_conv_clear(p); /* stale bias: rebuild in place */
  }
  ptl_status s = PTL_OK;
  if (b) {
    p->bias = malloc(sizeof(float) * (size_t)g->o + 16);
    p->n_bias = g->o;
    if (!p->bias)
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "conv2d: out of memory copying the bias");
    else
      read_vec(b, p->bias);
  }
  if (s == PTL_OK)
    s = own ? pack_own(w, b, g, p) : create_xnn(call, g, in_pix, out_pix, lo, hi, p->bias, p);
  if (s != PTL_OK) {
    if (fresh)
      packed_conv_destroy(p);
    else
      packed_conv_clear(p); /* stays cached as an empty entry; the next call rebuilds */
    return s;
  }
  if (fresh)
    PTL_CHECK(ptl_packed_add(w, key, p, packed_conv_destroy));
  *out = p;
  return PTL_OK;
}

/* ---- own AVX2/FMA implicit GEMM ---------------------------------------------
 * Dense (groups == 1) convolutions as output pixels x output channels with an
 * indirection of input pixel pointers per kernel tap, in 6x16 register tiles.
 * The Debian XNNPACK build's f32 igemm/gemm microkernel spills an accumulator to
 * the stack in its inner loop and runs at about half the FMA rate; this kernel
 * keeps all 12 accumulators in registers. Depthwise convs stay on XNNPACK, whose
 * dwconv kernels are fine. Each output sums over (tap, channel) in a fixed order,
 * so the result does not depend on the thread count. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PTL_CONV_OWN_GEMM 1
#define CONV_MR 6
#define CONV_NR 16

#define ROW_FMA(r)                                                                                 \
  do {                                                                                             \
    const __m256 x_ = _mm256_broadcast_ss(a##r + k);                                               \
    c##r##0 = _mm256_fmadd_ps(x_, w0, c##r##0);                                                    \
    c##r##1 = _mm256_fmadd_ps(x_, w1, c##r##1);                                                    \
  } while (0)

#define ROW_STORE(r)                                                                               \
  do {                                                                                             \
    if (r < mr) {                                                                                  \
      __m256 v0_ = _mm256_add_ps(c##r##0, b0), v1_ = _mm256_add_ps(c##r##1, b1);                   \
      if (clamp) {                                                                                 \
        v0_ = _mm256_min_ps(_mm256_max_ps(v0_, vlo), vhi);                                         \
        v1_ = _mm256_min_ps(_mm256_max_ps(v1_, vlo), vhi);                                         \
      }                                                                                            \
      float *o_ = out + (r)*out_pix;                                                               \
      if (nr == CONV_NR) {                                                                         \
        _mm256_storeu_ps(o_, v0_);                                                                 \
        _mm256_storeu_ps(o_ + 8, v1_);                                                             \
      } else {                                                                                     \
        float t_[CONV_NR];                                                                         \
        _mm256_storeu_ps(t_, v0_);                                                                 \
        _mm256_storeu_ps(t_ + 8, v1_);                                                             \
        memcpy(o_, t_, sizeof(float) * nr);                                                        \
      }                                                                                            \
    }                                                                                              \
  } while (0)

/* One 6x16 tile: a[t * 6 + r] + a_off is row r's input pixel for tap t (c channels
 * each; a_off selects the group's channels). */
__attribute__((target("avx2,fma"))) static void
gemm_6x16(size_t taps, size_t c, const float *const *a, size_t a_off, const float *w,
          const float *bias, float *out, size_t out_pix, size_t mr, size_t nr, bool clamp, float lo,
          float hi) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (size_t t = 0; t < taps; t++, a += CONV_MR) {
    const float *a0 = a[0] + a_off, *a1 = a[1] + a_off, *a2 = a[2] + a_off;
    const float *a3 = a[3] + a_off, *a4 = a[4] + a_off, *a5 = a[5] + a_off;
    for (size_t k = 0; k < c; k++, w += CONV_NR) {
      const __m256 w0 = _mm256_load_ps(w), w1 = _mm256_load_ps(w + 8);
      ROW_FMA(0);
      ROW_FMA(1);
      ROW_FMA(2);
      ROW_FMA(3);
      ROW_FMA(4);
      ROW_FMA(5);
    }
  }
  const __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  ROW_STORE(0);
  ROW_STORE(1);
  ROW_STORE(2);
  ROW_STORE(3);
  ROW_STORE(4);
  ROW_STORE(5);
}

#define ROW_FMA8(r) c##r##0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a##r + k), w0, c##r##0)

#define ROW_STORE8(r)                                                                              \
  do {                                                                                             \
    if (r < mr) {                                                                                  \
      __m256 v0_ = _mm256_add_ps(c##r##0, b0);                                                     \
      if (clamp)                                                                                   \
        v0_ = _mm256_min_ps(_mm256_max_ps(v0_, vlo), vhi);                                         \
      float t_[8];                                                                                 \
      _mm256_storeu_ps(t_, v0_);                                                                   \
      memcpy(out + (r)*out_pix, t_, sizeof(float) * nr);                                           \
    }                                                                                              \
  } while (0)

/* The last panel when at most 8 of its 16 columns are real channels: half the FMAs. */
__attribute__((target("avx2,fma"))) static void
gemm_6x8(size_t taps, size_t c, const float *const *a, size_t a_off, const float *w,
         const float *bias, float *out, size_t out_pix, size_t mr, size_t nr, bool clamp, float lo,
         float hi) {
  __m256 c00 = _mm256_setzero_ps(), c10 = c00, c20 = c00, c30 = c00, c40 = c00, c50 = c00;
  for (size_t t = 0; t < taps; t++, a += CONV_MR) {
    const float *a0 = a[0] + a_off, *a1 = a[1] + a_off, *a2 = a[2] + a_off;
    const float *a3 = a[3] + a_off, *a4 = a[4] + a_off, *a5 = a[5] + a_off;
    for (size_t k = 0; k < c; k++, w += CONV_NR) {
      const __m256 w0 = _mm256_load_ps(w);
      ROW_FMA8(0);
      ROW_FMA8(1);
      ROW_FMA8(2);
      ROW_FMA8(3);
      ROW_FMA8(4);
      ROW_FMA8(5);
    }
  }
  const __m256 b0 = _mm256_loadu_ps(bias);
  const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
  ROW_STORE8(0);
  ROW_STORE8(1);
  ROW_STORE8(2);
  ROW_STORE8(3);
  ROW_STORE8(4);
  ROW_STORE8(5);
}

typedef struct {
  const conv_geom *g;
  const packed_conv *p;
  const float *x;
  float *y;
  int64_t in_pix, out_pix, m_total, tiles_per_task, m_tasks, panels, panels_per_block;
} own_ctx;

#define OWN_PTRS_ON_STACK 64 * CONV_MR

static void own_task(void *vctx, size_t idx) {
  const own_ctx *c = vctx;
  const conv_geom *g = c->g;
  int64_t nb = (int64_t)idx / c->m_tasks, mt = (int64_t)idx % c->m_tasks;
  int64_t taps = g->kh * g->kw, k = taps * g->ig, plane = g->oh * g->ow;
  int64_t ppg = own_panels_per_group(g);
  const float *stack_ptrs[OWN_PTRS_ON_STACK];
  const float **ptrs = stack_ptrs;
  if (taps * CONV_MR > OWN_PTRS_ON_STACK) {
    ptrs = malloc(sizeof(float *) * (size_t)(taps * CONV_MR));
    if (!ptrs)
      return; /* cannot happen in practice; the run reports nothing partial either way */
  }
  int64_t p0 = nb * c->panels_per_block, p1 = p0 + c->panels_per_block;
  if (p1 > c->panels)
    p1 = c->panels;
  int64_t tile0 = mt * c->tiles_per_task, tile1 = tile0 + c->tiles_per_task;
  bool unpadded = (g->pt | g->pl | g->pb | g->pr) == 0 && taps <= OWN_PTRS_ON_STACK / CONV_MR;
  int64_t tap_off[OWN_PTRS_ON_STACK / CONV_MR];
  for (int64_t t = 0; unpadded && t < taps; t++)
    tap_off[t] = ((t / g->kw) * g->dh * g->w + (t % g->kw) * g->dw) * c->in_pix;
  for (int64_t tile = tile0; tile < tile1; tile++) {
    int64_t m0 = tile * CONV_MR;
    if (m0 >= c->m_total)
      break;
    int64_t mr = c->m_total - m0 < CONV_MR ? c->m_total - m0 : CONV_MR;
    /* (n, oy, ox) of the tile's first pixel, then stepped: no divisions per row */
    int64_t n = m0 / plane, oy = (m0 % plane) / g->ow, ox = m0 % g->ow;
    for (int64_t r = 0; r < CONV_MR; r++) {
      if (r > 0 && r < mr && ++ox == g->ow) { /* missing rows repeat the last one */
        ox = 0;
        if (++oy == g->oh) {
          oy = 0;
          n++;
        }
      }
      const float *xn = c->x + n * g->h * g->w * c->in_pix;
      if (unpadded) { /* every tap in bounds: a fixed offset from the row's first tap */
        const float *base = xn + (oy * g->sh * g->w + ox * g->sw) * c->in_pix;
        for (int64_t t = 0; t < taps; t++)
          ptrs[t * CONV_MR + r] = base + tap_off[t];
        continue;
      }
      for (int64_t ky = 0; ky < g->kh; ky++) {
        int64_t iy = oy * g->sh - g->pt + ky * g->dh;
        bool row_in = iy >= 0 && iy < g->h;
        for (int64_t kx = 0; kx < g->kw; kx++) {
          int64_t ix = ox * g->sw - g->pl + kx * g->dw;
          bool in = row_in && ix >= 0 && ix < g->w;
          ptrs[(ky * g->kw + kx) * CONV_MR + r] =
              in ? xn + (iy * g->w + ix) * c->in_pix : c->p->zeros;
        }
      }
    }
    for (int64_t pn = p0; pn < p1; pn++) {
      int64_t grp = pn / ppg, j0 = (pn % ppg) * CONV_NR;
      int64_t nr = g->og - j0 < CONV_NR ? g->og - j0 : CONV_NR;
      (nr > 8 ? gemm_6x16 : gemm_6x8)(
          (size_t)taps, (size_t)g->ig, ptrs, (size_t)(grp * g->ig), c->p->panels + pn * k * CONV_NR,
          c->p->panel_bias + pn * CONV_NR, c->y + m0 * c->out_pix + grp * g->og + j0,
          (size_t)c->out_pix, (size_t)mr, (size_t)nr, g->clamp, g->cmin, g->cmax);
    }
  }
  if (ptrs != stack_ptrs)
    free(ptrs);
}

static bool use_own_gemm(const conv_geom *g) {
  /* depthwise and thin groups stay on XNNPACK (its dwconv kernels are good; a
   * 16-wide panel per group of a few channels would mostly multiply zeros) */
  bool dense_groups = g->groups == 1 || (g->og >= 8 && g->ig >= 2);
  return !g->transposed && dense_groups && ptl_cpu_has_avx2_fma();
}

/* Small-channel convs (stems: C = 3, 7x7 or 3x3) spend their time switching taps.
 * From a zero-padded dense NHWC copy each kernel row is one contiguous run of
 * kW * C floats, so a row becomes a single tap of kW * C channels. */
static bool own_stem_mode(const conv_geom *g) {
  return g->groups == 1 && g->dw == 1 && g->kw > 1 && g->ig * g->kw <= 64;
}

/* Zero-padded dense NHWC copy of x (any strides), [N, H + pt + pb, W + pl + pr, C]. */
static float *padded_nhwc(const conv_geom *g, const ptl_tensor *x4) {
  int64_t hp = g->h + g->pt + g->pb, wp = g->w + g->pl + g->pr, C = g->ig;
  float *d = malloc(sizeof(float) * (size_t)(g->n * hp * wp * C + 16));
  if (!d)
    return NULL;
  const float *s = ptl_tensor_data(x4);
  const int64_t *st = x4->strides;
  size_t row = sizeof(float) * (size_t)(wp * C);
  for (int64_t n = 0; n < g->n; n++) {
    /* only the border is zeroed: the interior is overwritten right away */
    float *img = d + n * hp * wp * C;
    memset(img, 0, row * (size_t)g->pt);
    memset(img + (g->pt + g->h) * wp * C, 0, row * (size_t)g->pb);
    for (int64_t iy = 0; iy < g->h; iy++) {
      float *line = img + (iy + g->pt) * wp * C;
      memset(line, 0, sizeof(float) * (size_t)(g->pl * C));
      memset(line + (g->pl + g->w) * C, 0, sizeof(float) * (size_t)(g->pr * C));
    }
    for (int64_t iy = 0; iy < g->h; iy++) {
      float *drow = img + ((iy + g->pt) * wp + g->pl) * C;
      if ((C == 1 || st[1] == 1) && (g->w == 1 || st[3] == C)) { /* NHWC row: one copy */
        memcpy(drow, s + n * st[0] + iy * st[2], sizeof(float) * (size_t)(g->w * C));
        continue;
      }
      for (int64_t ci = 0; ci < C; ci++) {
        const float *srow = s + n * st[0] + ci * st[1] + iy * st[2];
        for (int64_t ix = 0; ix < g->w; ix++)
          drow[ix * C + ci] = srow[ix * st[3]];
      }
    }
  }
  return d;
}

static ptl_status own_gemm_run(const conv_geom *g, const packed_conv *p, const ptl_tensor *x4,
                               int64_t in_pix, float *y, int64_t out_pix) {
  const float *x = ptl_tensor_data(x4);
  conv_geom g2;
  float *xpad = NULL;
  if (own_stem_mode(g)) {
    xpad = padded_nhwc(g, x4);
    if (!xpad)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "conv2d: out of memory padding the input");
    in_pix = g->ig; /* dense copy: a pixel is C floats */
    g2 = *g;
    g2.h += g->pt + g->pb;
    g2.w += g->pl + g->pr;
    g2.pt = g2.pl = g2.pb = g2.pr = 0;
    g2.ig = g->ig * g->kw; /* (kx, ci) runs are contiguous: same order as the panels */
    g2.kw = 1;
    g = &g2;
    x = xpad;
  }
  own_ctx c = {
      g, p, x, y, in_pix, out_pix, g->n * g->oh * g->ow, 8, 0, own_panels_per_group(g) * g->groups,
      1};
  int64_t k = g->kh * g->kw * g->ig;
  /* weights of one block of panels stay in L2 while all pixel tiles pass */
  int64_t per_panel = k * CONV_NR * (int64_t)sizeof(float);
  c.panels_per_block = (128 * 1024) / (per_panel > 0 ? per_panel : 1);
  if (c.panels_per_block < 1)
    c.panels_per_block = 1;
  if (c.panels_per_block > c.panels)
    c.panels_per_block = c.panels;
  int64_t tiles = (c.m_total + CONV_MR - 1) / CONV_MR;
  c.m_tasks = (tiles + c.tiles_per_task - 1) / c.tiles_per_task;
  int64_t blocks = (c.panels + c.panels_per_block - 1) / c.panels_per_block;
  ptl_parallel_for(own_task, &c, (size_t)(blocks * c.m_tasks));
  free(xpad);
  return PTL_OK;
}
#else
static bool use_own_gemm(const conv_geom *g) {
  (void)g;
  return false;
}

static bool own_stem_mode(const conv_geom *g) {
  (void)g;
  return false;
}

static ptl_status own_gemm_run(const conv_geom *g, const packed_conv *p, const ptl_tensor *x4,
                               int64_t in_pix, float *y, int64_t out_pix) {
  (void)g, (void)p, (void)x4, (void)in_pix, (void)y, (void)out_pix;
  return PTL_ERR_UNSUPPORTED;
}
#endif

static ptl_status conv_fast_common(const ptl_call *call) {
  conv_geom g;
  PTL_CHECK(conv_parse(call, &g));
  ptl_tensor *y = call->out[0];
  if (ptl_tensor_numel(y) == 0)
    return PTL_OK;
  /* cases XNNPACK does not take: the reference kernel handles them */
  if (g.ig == 0 || (g.clamp && !(g.cmin < g.cmax)))
    return PTL_ERR_UNSUPPORTED;
  if (g.transposed && (g.oph >= g.sh || g.opw >= g.sw))
    return PTL_ERR_UNSUPPORTED; /* XNNPACK needs adjustment < stride */
  if (g.kh > UINT32_MAX || g.kw > UINT32_MAX || g.pt > UINT32_MAX || g.pl > UINT32_MAX ||
      g.pb > UINT32_MAX || g.pr > UINT32_MAX || g.sh > UINT32_MAX || g.sw > UINT32_MAX ||
      g.dh > UINT32_MAX || g.dw > UINT32_MAX || g.groups > UINT32_MAX)
    return PTL_ERR_UNSUPPORTED;
  if (ptl_xnn_init() != PTL_OK)
    return PTL_ERR_UNSUPPORTED;

  ptl_tensor *x4 = NULL, *y4 = NULL, *xin = NULL, *ytmp = NULL;
  ptl_status s = as_4d(call->in[0], &x4);
  if (s == PTL_OK)
    s = as_4d(y, &y4);
  if (s != PTL_OK)
    goto done;
  /* the input goes in directly when its pixels are NHWC (or the own stem path pads
   * a copy from any layout); else one channels-last copy */
  bool own = use_own_gemm(&g);
  int64_t in_pix = ptl_tensor_nhwc_pixel_stride(x4);
  if (in_pix || (own && own_stem_mode(&g))) {
    xin = x4;
    ptl_tensor_retain(xin);
  } else {
    ptl_attrs a = {0};
    a.n_ints = 2;
    a.ints[0] = -1;
    a.ints[1] = 2;
    s = ptl_op_run(PTL_OP_COPY, &a, &x4, 1, &xin, 1);
    if (s != PTL_OK)
      goto done;
    in_pix = g.c;
  }
  /* the output is written in place when NHWC (the layout infer asks for); a
   * caller-provided NCHW output gets a channels-last temporary and one copy */
  int64_t out_pix = ptl_tensor_nhwc_pixel_stride(y4);
  ptl_tensor *ydst = y4;
  if (!out_pix) {
    ptl_tensor_desc d = {0};
    d.dtype = PTL_FLOAT32;
    d.ndim = 4;
    memcpy(d.shape, y4->shape, sizeof(int64_t) * 4);
    d.has_strides = true;
    ptl_channels_last_strides(d.shape, d.strides);
    s = ptl_tensor_from_desc(&d, &ytmp);
    if (s != PTL_OK)
      goto done;
    ydst = ytmp;
    out_pix = g.o;
  }
  packed_conv *pk = NULL;
  s = get_packed(call, &g, own, in_pix, out_pix, &pk);
  if (s != PTL_OK)
    goto done;
  if (own) {
    s = own_gemm_run(&g, pk, xin, in_pix, ptl_tensor_data(ydst), out_pix);
    if (s != PTL_OK)
      goto done;
    goto copy_out;
  }
  xnn_operator_t op = pk->op;
  pthreadpool_t pool = (pthreadpool_t)ptl_threadpool();
  enum xnn_status st;
  if (!g.transposed)
    st = xnn_setup_convolution2d_nhwc_f32(op, (size_t)g.n, (size_t)g.h, (size_t)g.w,
                                          ptl_tensor_data(xin), ptl_tensor_data(ydst), pool);
  else
    st = xnn_setup_deconvolution2d_nhwc_f32(op, (size_t)g.n, (size_t)g.h, (size_t)g.w,
                                            (uint32_t)g.oph, (uint32_t)g.opw, ptl_tensor_data(xin),
                                            ptl_tensor_data(ydst), pool);
  if (st == xnn_status_success)
    st = xnn_run_operator(op, pool);
  if (st != xnn_status_success) {
    s = ptl_error(PTL_ERR_INTERNAL, "%s: XNNPACK setup/run failed (status %d)",
                  ptl_op_name(call->op), (int)st);
    goto done;
  }
copy_out:
  if (ytmp) {
    ptl_attrs a = {0};
    a.n_ints = 2;
    a.ints[0] = -1;
    a.ints[1] = 1;
    s = ptl_op_run(PTL_OP_COPY, &a, &ytmp, 1, &y4, 1);
  }
done:
  ptl_tensor_release(ytmp);
  ptl_tensor_release(xin);
  ptl_tensor_release(y4);
  ptl_tensor_release(x4);
  return s;
}

ptl_status ptl_conv2d_fast(const ptl_call *call) {
  return conv_fast_common(call);
}

ptl_status ptl_conv_transpose2d_fast(const ptl_call *call) {
  return conv_fast_common(call);
}
