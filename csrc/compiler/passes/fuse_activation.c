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
 * would fall back to the reference kernel. */
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
    if (x < 0 || g->values[x].dtype != PTL_FLOAT32 || g->values[y].dtype != PTL_FLOAT32)
      continue;
    bool inplace = (act->inplace & 1u) != 0;
    if (inplace && y != x)
      continue; /* writes its result into another existing value */
    int32_t p = ptl_graph_defining_writer(g, n, x);
    if (p < 0 || ptl_graph_producer(g, x) != p)
      continue; /* only a conv/linear that computes x itself (not into a caller's out) */
    ptl_node *prod = &g->nodes[p];
    if ((prod->op != PTL_OP_CONV2D && prod->op != PTL_OP_LINEAR) || prod->n_out != 1)
      continue;
    /* out of place, x must die here: nobody else may see it unclamped */
    if (!inplace && (ptl_graph_is_output(g, x) || ptl_graph_referenced_after(g, n, x)))
      continue;
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
           "fused %d relu/hardtanh/clamp into conv2d/linear (relu %d, hardtanh/relu6 %d, "
           "clamp %d)",
           stats->rewrites, by_op[0], by_op[1], by_op[2]);
  return PTL_OK;
}
