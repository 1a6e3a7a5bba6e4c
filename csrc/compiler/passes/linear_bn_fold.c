/* linear_bn_fold.c - folds an inference BatchNorm1d on [N, F] into a LINEAR
 * next to it. With s = gamma / sqrt(var + eps) and t = beta - mean * s the
 * batch norm is y = x * s + t per feature, so
 *   LINEAR -> BN (features = out_features): W' = diag(s) W, b' = b * s + t;
 *   BN -> LINEAR (features = in_features):  W' = W diag(s), b' = b + W t.
 * Only 2-d activations (the channel dim 1 is then the last dim, the one the
 * linear maps); the linear's weight and bias must be constants; a linear
 * with a fused clamp is not folded into from behind (the clamp would move).
 * Folded weights are new constants: the source module keeps its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"

/* The linear's weight [out, in] and bias (out doubles, zeros when absent) as
 * doubles; *w = NULL when they are not float32 constants of those shapes. */
static ptl_status read_linear(const ptl_graph *g, const ptl_node *lin, double **w, double **b,
                              int64_t *out_f, int64_t *in_f) {
  *w = *b = NULL;
  const ptl_tensor *wt = ptl_graph_constant(g, lin->in[1]);
  int32_t vb = lin->n_in > 2 ? lin->in[2] : -1;
  const ptl_tensor *bt = vb >= 0 ? ptl_graph_constant(g, vb) : NULL;
  if (!wt || wt->ndim != 2 || (vb >= 0 && !bt))
    return PTL_OK;
  int64_t O = wt->shape[0], I = wt->shape[1];
  int64_t nb = bt ? ptl_numel_of(bt->ndim, bt->shape) : 0;
  if (bt && nb != O && nb != 1)
    return PTL_OK;
  double *wd = NULL, *bd = NULL, *braw = NULL;
  PTL_CHECK(ptl_fold_read(wt, &wd));
  ptl_status s = bt ? ptl_fold_read(bt, &braw) : PTL_OK;
  if (s == PTL_OK && wd && (!bt || braw)) {
    bd = malloc(sizeof(double) * (size_t)(O ? O : 1));
    if (!bd)
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory");
    for (int64_t o = 0; bd && o < O; o++)
      bd[o] = braw ? braw[nb == 1 ? 0 : o] : 0.0; /* a 1-element bias broadcasts */
  }
  free(braw);
  if (s != PTL_OK || !bd) {
    free(wd);
    free(bd);
    return s;
  }
  *w = wd;
  *b = bd;
  *out_f = O;
  *in_f = I;
  return PTL_OK;
}

/* Points `lin` at new constants holding w [O, I] and b [O]. */
static ptl_status install(ptl_graph *g, int32_t ln, const double *w, const double *b, int64_t O,
                          int64_t I) {
  int32_t vw = g->nodes[ln].in[1], vb = g->nodes[ln].n_in > 2 ? g->nodes[ln].in[2] : -1;
  char bias_name[256];
  ptl_fold_bias_name(vb >= 0 ? g->values[vb].name : NULL, g->values[vw].name, bias_name,
                     sizeof bias_name);
  int64_t shape[2] = {O, I};
  int32_t nw, nb;
  PTL_CHECK(ptl_fold_add_f32(g, w, 2, shape, g->values[vw].name, &nw));
  PTL_CHECK(ptl_fold_add_f32(g, b, 1, &O, bias_name[0] ? bias_name : NULL, &nb));
  PTL_CHECK(ptl_fold_ensure_bias_slot(&g->nodes[ln]));
  g->nodes[ln].in[1] = nw;
  g->nodes[ln].in[2] = nb;
  return PTL_OK;
}

/* LINEAR `ln` -> BATCH_NORM `bn` over its out features. */
static ptl_status fold_after(ptl_graph *g, int32_t ln, int32_t bn, bool *folded) {
  const ptl_node *lin = &g->nodes[ln];
  int32_t vy = lin->out[0];
  if (lin->inplace || (lin->attrs.n_ints > 0 && lin->attrs.ints[0] != 0) || g->values[vy].ndim != 2)
    return PTL_OK;
  double *w, *b, *sc = NULL, *sh = NULL;
  int64_t O = 0, I = 0;
  PTL_CHECK(read_linear(g, lin, &w, &b, &O, &I));
  if (!w)
    return PTL_OK;
  ptl_status s =
      O == g->values[vy].shape[1] ? ptl_fold_bn_affine(g, &g->nodes[bn], O, &sc, &sh) : PTL_OK;
  if (s == PTL_OK && sc) {
    for (int64_t o = 0; o < O; o++) {
      for (int64_t i = 0; i < I; i++)
        w[o * I + i] *= sc[o];
      b[o] = b[o] * sc[o] + sh[o];
    }
    s = install(g, ln, w, b, O, I);
    if (s == PTL_OK) {
      ptl_graph_replace_uses(g, g->nodes[bn].out[0], vy, bn);
      ptl_graph_kill_node(g, bn);
      *folded = true;
    }
  }
  free(w);
  free(b);
  free(sc);
  free(sh);
  return s;
}

/* BATCH_NORM `bn` on [N, F] -> LINEAR `ln` reading it as its input. */
static ptl_status fold_before(ptl_graph *g, int32_t bn, int32_t ln, bool *folded) {
  const ptl_node *lin = &g->nodes[ln];
  int32_t vx = g->nodes[bn].in[0];
  if (lin->inplace || g->values[vx].ndim != 2)
    return PTL_OK;
  /* the linear will read x itself, not the BN's copy of it: nothing between
   * the two may write in place (into x or a view aliasing it) */
  for (int32_t k = bn + 1; k < ln; k++)
    if (!g->nodes[k].dead && g->nodes[k].inplace)
      return PTL_OK;
  double *w, *b, *sc = NULL, *sh = NULL;
  int64_t O = 0, I = 0;
  PTL_CHECK(read_linear(g, lin, &w, &b, &O, &I));
  if (!w)
    return PTL_OK;
  ptl_status s =
      I == g->values[vx].shape[1] ? ptl_fold_bn_affine(g, &g->nodes[bn], I, &sc, &sh) : PTL_OK;
  if (s == PTL_OK && sc) {
    /* b' = b + W t with the original W, then W' = W diag(s) */
    for (int64_t o = 0; o < O; o++) {
      double acc = b[o];
      for (int64_t i = 0; i < I; i++) {
        acc += w[o * I + i] * sh[i];
        w[o * I + i] *= sc[i];
      }
      b[o] = acc;
    }
    s = install(g, ln, w, b, O, I);
    if (s == PTL_OK) {
      g->nodes[ln].in[0] = vx;
      ptl_graph_kill_node(g, bn);
      *folded = true;
    }
  }
  free(w);
  free(b);
  free(sc);
  free(sh);
  return s;
}

ptl_status ptl_pass_linear_bn_fold(ptl_graph *g, ptl_pass_stats *stats) {
  int32_t after = 0, before = 0;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *bn = &g->nodes[n];
    if (bn->dead || bn->op != PTL_OP_BATCH_NORM || bn->n_in < 3 || bn->inplace)
      continue;
    bool folded = false;
    ptl_status s = PTL_OK;
    /* LINEAR -> BN first: the BN's input is the linear's output, read by the BN only */
    int32_t p = ptl_graph_producer(g, bn->in[0]);
    if (p >= 0 && g->nodes[p].op == PTL_OP_LINEAR && ptl_graph_single_user(g, bn->in[0]) == n) {
      s = fold_after(g, p, n, &folded);
      after += folded;
    }
    /* BN -> LINEAR: the BN's output is read only as the linear's input 0 (a
     * single use, so not also as its weight or bias) */
    int32_t u = folded ? -1 : ptl_graph_single_user(g, g->nodes[n].out[0]);
    if (s == PTL_OK && u >= 0 && g->nodes[u].op == PTL_OP_LINEAR &&
        g->nodes[u].in[0] == g->nodes[n].out[0]) {
      s = fold_before(g, n, u, &folded);
      before += folded;
    }
    if (s != PTL_OK)
      return ptl_fold_error(s, "linear_bn_fold");
  }
  stats->rewrites = after + before;
  snprintf(stats->detail, sizeof stats->detail,
           "folded %d batch_norm(s) into a preceding linear and %d into a following linear", after,
           before);
  return PTL_OK;
}
