/* fuse_activation.c - folds a RELU, HARDTANH (relu6) or CLAMP that follows a
 * CONV2D or LINEAR into the producer's fused output clamp (CONV2D i[7] = 1,
 * LINEAR i[0] = 1, f[0] min, f[1] max), as torch's conv/linear prepack fusion
 * does. Both kernels store clamp(acc + bias) in the same pass, so the separate
 * activation pass over memory disappears.
 *
 * Exactness: for finite values clamp(v, lo, hi) is exactly relu / hardtanh /
 * clamp. The kernels differ on NaN: RELU, HARDTANH and CLAMP keep a NaN; the
 * conv clamp (fmaxf in REF, maxps in the own GEMM and XNNPACK) turns it into
 * the lower bound, and so does LINEAR on XNNPACK (one row); LINEAR's GEMM and
 * REF keep it. A conv output of -0.0 (all-zero products with a -0.0 bias) may
 * also come out +0.0. torch's mobile prepacked conv-relu has the same NaN
 * behaviour.
 *
 * A range that would be empty or a single point (lo >= hi after absorbing an
 * existing clamp) is left unfused: the conv fast path refuses such a range and
 * would fall back to the reference kernel.
 *
 * Quantized: a quint8 RELU / HARDTANH / CLAMP after a QCONV2D or QLINEAR (its
 * only reader) becomes the producer's output clamp: the relu flag (floor = the
 * output zero point) and the clamp maximum (QCONV2D i[9], QLINEAR i[2]). The
 * bounds are computed as the quint8 kernels compute them (activation.c,
 * eltwise.c: nearbyintf(b * (1 / scale) + zp), clamped to 0..255, in float),
 * and clamping the requantized integer equals requantizing with those bounds,
 * so the fused op gives the same bits. mobilenet_v2's 35 int8 relu6 passes go. */
#include <math.h>
#include <stdio.h>

#include "pass.h"

/* The clamp range of an activation node; false if it is not one we fold. */
static bool activation_range(const ptl_node *nd, double *lo, double *hi) {
  const ptl_attrs *a = &nd->attrs;
  switch (nd->op) {
  case PTL_OP_RELU:
    *lo = 0.0;
    *hi = INFINITY;
    return true;
  case PTL_OP_HARDTANH:
    *lo = a->n_floats > 0 ? a->floats[0] : -1.0;
    *hi = a->n_floats > 1 ? a->floats[1] : 1.0;
    return true;
  case PTL_OP_CLAMP: {
    bool has_min = a->n_ints > 0 && a->ints[0], has_max = a->n_ints > 1 && a->ints[1];
    if (!has_min && !has_max)
      return false;
    *lo = has_min ? (a->n_floats > 0 ? a->floats[0] : 0.0) : -INFINITY;
    *hi = has_max ? (a->n_floats > 1 ? a->floats[1] : 0.0) : INFINITY;
    return true;
  }
  default: return false;
  }
}

/* The fused clamp already on a conv/linear node: its range, or the whole line. */
static void existing_range(const ptl_node *p, double *lo, double *hi) {
  const ptl_attrs *a = &p->attrs;
  int flag = p->op == PTL_OP_CONV2D ? 7 : 0;
  bool on = a->n_ints > flag && a->ints[flag] != 0;
  *lo = on && a->n_floats > 0 ? a->floats[0] : -INFINITY;
  *hi = on && a->n_floats > 1 ? a->floats[1] : INFINITY;
}

static void set_clamp(ptl_node *p, double lo, double hi) {
  ptl_attrs *a = &p->attrs;
  if (p->op == PTL_OP_CONV2D) {
    /* defaults of the attributes before the flag (ops.def): stride 1, padding 0,
     * dilation 1, groups 1 */
    static const int64_t defaults[7] = {1, 1, 0, 0, 1, 1, 1};
    for (int k = a->n_ints; k < 7; k++)
      a->ints[k] = defaults[k];
    if (a->n_ints < 8)
      a->n_ints = 8;
    a->ints[7] = 1;
  } else {
    if (a->n_ints < 1)
      a->n_ints = 1;
    a->ints[0] = 1;
  }
  if (a->n_floats < 2)
    a->n_floats = 2;
  a->floats[0] = lo;
  a->floats[1] = hi;
}

/* A float bound in quint8 units, as the quint8 hardtanh / clamp kernels round it. */
static int32_t q_bound(double b, float scale, int32_t zp) {
  float v = nearbyintf((float)b * (1.0f / scale) + (float)zp);
  return v < 0.0f ? 0 : v > 255.0f ? 255 : (int32_t)v;
}

/* Folds a quint8 activation into the QCONV2D / QLINEAR `prod` that computes its input
 * (the caller checked dataflow); false when the combined clamp does not fit the
 * producer's attributes: a floor other than 0 or the zero point, or an empty range. */
static bool fuse_quantized(ptl_node *prod, const ptl_node *act, double lo, double hi) {
  ptl_attrs *a = &prod->attrs;
  bool conv = prod->op == PTL_OP_QCONV2D;
  int relu_k = conv ? 7 : 0, zp_k = conv ? 8 : 1, max_k = conv ? 9 : 2;
  if (a->n_floats < 1 || a->n_ints <= zp_k)
    return false; /* no output qparams: the kernel would refuse it anyway */
  float scale = (float)a->floats[0];
  int32_t zp = (int32_t)a->ints[zp_k];
  if (!(scale > 0.0f) || zp < 0 || zp > 255)
    return false;
  bool relu = a->ints[relu_k] != 0;
  int32_t floor = relu ? zp : 0, ceil = a->n_ints > max_k ? (int32_t)a->ints[max_k] : 255;
  int32_t qlo = 0, qhi = 255;
  if (act->op == PTL_OP_RELU) {
    qlo = zp;
  } else {
    bool has_lo = act->op == PTL_OP_HARDTANH || lo != -INFINITY;
    bool has_hi = act->op == PTL_OP_HARDTANH || hi != INFINITY;
    qlo = has_lo ? q_bound(lo, scale, zp) : 0;
    qhi = has_hi ? q_bound(hi, scale, zp) : 255;
    if (qlo > qhi)
      return false; /* not a clamp any more (hardtanh min > max) */
  }
  int32_t nfloor = qlo > floor ? qlo : floor, nceil = qhi < ceil ? qhi : ceil;
  if ((nfloor != 0 && nfloor != zp) || nfloor > nceil)
    return false;
  /* conv: attributes before i[9] keep their values (stride ... zero point exist: zp_k) */
  if (a->n_ints <= max_k) {
    a->ints[max_k] = 255;
    a->n_ints = max_k + 1;
  }
  if (nfloor != floor) /* raised from 0 to the zero point */
    a->ints[relu_k] = 1;
  a->ints[max_k] = nceil;
  return true;
}

ptl_status ptl_pass_fuse_activation(ptl_graph *g, ptl_pass_stats *stats) {
  int32_t by_op[3] = {0, 0, 0}; /* relu, hardtanh, clamp */
  for (int32_t n = 0; n < g->n_nodes; n++) {
    ptl_node *act = &g->nodes[n];
    double lo, hi;
    if (act->dead || act->n_in < 1 || act->n_out != 1 || !activation_range(act, &lo, &hi))
      continue;
    if (lo != lo || hi != hi)
      continue; /* a NaN bound: clamp's semantics, not a range */
    int32_t x = act->in[0], y = act->out[0];
    if (x < 0)
      continue;
    bool quant = g->values[x].dtype == PTL_QUINT8 && g->values[y].dtype == PTL_QUINT8;
    if (!quant && (g->values[x].dtype != PTL_FLOAT32 || g->values[y].dtype != PTL_FLOAT32))
      continue;
    bool inplace = (act->inplace & 1u) != 0;
    if (inplace && y != x)
      continue; /* writes its result into another existing value */
    int32_t p = ptl_graph_defining_writer(g, n, x);
    if (p < 0 || ptl_graph_producer(g, x) != p)
      continue; /* only a conv/linear that computes x itself (not into a caller's out) */
    ptl_node *prod = &g->nodes[p];
    if (quant ? (prod->op != PTL_OP_QCONV2D && prod->op != PTL_OP_QLINEAR)
              : (prod->op != PTL_OP_CONV2D && prod->op != PTL_OP_LINEAR))
      continue;
    if (prod->n_out != 1)
      continue;
    /* out of place, x must die here: nobody else may see it unclamped */
    if (!inplace && (ptl_graph_is_output(g, x) || ptl_graph_referenced_after(g, n, x)))
      continue;
    if (quant) {
      if (!fuse_quantized(prod, act, lo, hi))
        continue;
      if (!inplace)
        ptl_graph_replace_uses(g, y, x, n);
      ptl_graph_kill_node(g, n);
      by_op[act->op == PTL_OP_RELU ? 0 : act->op == PTL_OP_HARDTANH ? 1 : 2]++;
      stats->rewrites++;
      continue;
    }
    double plo, phi;
    existing_range(prod, &plo, &phi);
    lo = lo > plo ? lo : plo;
    hi = hi < phi ? hi : phi;
    if (!(lo < hi))
      continue;
    set_clamp(prod, lo, hi);
    if (!inplace)
      ptl_graph_replace_uses(g, y, x, n);
    ptl_graph_kill_node(g, n);
    by_op[act->op == PTL_OP_RELU ? 0 : act->op == PTL_OP_HARDTANH ? 1 : 2]++;
    stats->rewrites++;
  }
  snprintf(stats->detail, sizeof stats->detail,
           "fused %d relu/hardtanh/clamp into conv2d/linear (float or quantized; relu %d, "
           "hardtanh/relu6 %d, clamp %d)",
           stats->rewrites, by_op[0], by_op[1], by_op[2]);
  return PTL_OK;
}
