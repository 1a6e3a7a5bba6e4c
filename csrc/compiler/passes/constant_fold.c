/* constant_fold.c - evaluates, once, every node whose inputs are all constants
 * (e.g. `self.w * 2 + 1` or `self.w.t()` in a forward) and makes its outputs
 * constants, so the work is not repeated on every run.
 *
 * Not folded:
 *  - nodes writing in place, and random ops (RAND, RANDN, RANDINT, DROPOUT):
 *    each run must draw afresh;
 *  - nodes whose output is later written in place or returned as a graph
 *    output, directly or through views: the constant would then be modified
 *    by a run (or by the caller holding the returned tensor) and the next run
 *    would start from the modified value;
 *  - outputs larger than k_max_bytes (a constant costs file size and memory;
 *    computing it at run time may be the better trade).
 * A folded result is always a fresh contiguous tensor: a view op's result is
 * copied, so the new constant never aliases another constant's storage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"

static const size_t k_max_bytes = (size_t)64 << 20;

static bool is_random(ptl_op_id op) {
  return op == PTL_OP_RAND || op == PTL_OP_RANDN || op == PTL_OP_RANDINT || op == PTL_OP_DROPOUT;
}

static bool is_view(ptl_op_id op) {
  const ptl_op_def *d = ptl_op_lookup(op);
  return d && d->kind == PTL_KIND_VIEW;
}

/* exposed[v] = 1: v is a graph output or written in place, directly or
 * through a chain of views of it. */
static void mark_exposed(const ptl_graph *g, char *exposed) {
  memset(exposed, 0, (size_t)g->n_values);
  for (int32_t i = 0; i < g->n_outputs; i++)
    exposed[g->outputs[i]] = 1;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    for (int i = 0; !nd->dead && i < nd->n_out; i++)
      if (nd->inplace & (1u << i))
        exposed[nd->out[i]] = 1;
  }
  /* backwards: a view is created before anything writes through it */
  for (int32_t n = g->n_nodes - 1; n >= 0; n--) {
    const ptl_node *nd = &g->nodes[n];
    if (!nd->dead && is_view(nd->op) && nd->n_in > 0 && nd->in[0] >= 0 && exposed[nd->out[0]])
      exposed[nd->in[0]] = 1;
  }
}

static bool foldable(const ptl_graph *g, const ptl_node *nd, const char *exposed) {
  if (nd->dead || nd->inplace || is_random(nd->op))
    return false;
  /* dequantize(int8 constant) would store the weight as float32: 4x the bytes for no
   * speed (the dequantize runs once per inference on a weight the user chose to keep
   * int8). Quantizing a float constant is folded: it shrinks the file. */
  if (nd->op == PTL_OP_DEQUANTIZE)
    return false;
  for (int i = 0; i < nd->n_in; i++)
    if (nd->in[i] >= 0 && g->values[nd->in[i]].kind != PTL_VALUE_CONSTANT)
      return false;
  for (int i = 0; i < nd->n_out; i++) {
    const ptl_value *v = &g->values[nd->out[i]];
    if (exposed[nd->out[i]])
      return false;
    size_t bytes = (size_t)ptl_numel_of(v->ndim, v->shape) * ptl_dtype_size(v->dtype);
    if (bytes > k_max_bytes)
      return false;
  }
  return true;
}

/* `t` as a tensor with its own contiguous storage: `t` itself when it is a
 * freshly computed contiguous tensor, else a copy. Takes over `t`. */
static ptl_status own_contiguous(ptl_tensor *t, bool view, ptl_tensor **out) {
  if (!view && ptl_tensor_is_contiguous(t) && t->offset == 0) {
    *out = t;
    return PTL_OK;
  }
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = -1; /* same dtype */
  a.ints[1] = 0;  /* contiguous */
  ptl_tensor *c = NULL;
  ptl_status s = ptl_op_run(PTL_OP_COPY, &a, &t, 1, &c, 1);
  if (s == PTL_OK && t->qparams && !c->qparams)
    s = ptl_qparams_copy(c, t);
  ptl_tensor_release(t);
  if (s != PTL_OK) {
    ptl_tensor_release(c);
    return s;
  }
  *out = c;
  return PTL_OK;
}

/* Evaluates node n and replaces its outputs by constants. */
static ptl_status fold_node(ptl_graph *g, int32_t n) {
  ptl_tensor *ins[64];
  ptl_tensor *outs[4] = {NULL, NULL, NULL, NULL};
  const ptl_node *nd = &g->nodes[n];
  if (nd->n_in > 64 || nd->n_out > 4)
    return PTL_OK; /* the interpreter's own limits; nothing traced exceeds them */
  for (int i = 0; i < nd->n_in; i++)
    ins[i] = nd->in[i] >= 0 ? g->values[nd->in[i]].constant : NULL;
  PTL_CHECK(ptl_op_run(nd->op, &nd->attrs, ins, nd->n_in, outs, nd->n_out));
  ptl_status s = PTL_OK;
  bool view = is_view(nd->op);
  for (int i = 0; i < nd->n_out && s == PTL_OK; i++) {
    s = own_contiguous(outs[i], view, &outs[i]);
    if (s != PTL_OK)
      outs[i] = NULL; /* released by own_contiguous */
  }
  for (int i = 0; i < g->nodes[n].n_out && s == PTL_OK; i++) {
    int32_t v = g->nodes[n].out[i], id;
    s = ptl_graph_add_constant(g, outs[i], g->values[v].name, &id);
    if (s == PTL_OK)
      ptl_graph_replace_uses(g, v, id, n);
  }
  if (s == PTL_OK)
    ptl_graph_kill_node(g, n);
  for (int i = 0; i < 4; i++)
    ptl_tensor_release(outs[i]); /* the graph holds its own references */
  return s;
}

ptl_status ptl_pass_constant_fold(ptl_graph *g, ptl_pass_stats *stats) {
  int32_t folded = 0, skipped = 0;
  bool changed = true;
  while (changed) {
    changed = false;
    /* one marking serves a sweep: folding only adds constants, which replace
     * values that were not exposed, and so are not exposed either. A sweep in
     * order folds a whole chain; the loop is for safety, the last sweep finds
     * nothing. */
    char *exposed = malloc((size_t)(g->n_values ? g->n_values : 1));
    if (!exposed)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "constant_fold: out of memory");
    mark_exposed(g, exposed);
    skipped = 0;
    ptl_status s = PTL_OK;
    for (int32_t n = 0; n < g->n_nodes && s == PTL_OK; n++) {
      const ptl_node *nd = &g->nodes[n];
      bool all_const = !nd->dead && !nd->inplace;
      for (int i = 0; all_const && i < nd->n_in; i++)
        all_const = nd->in[i] < 0 || g->values[nd->in[i]].kind == PTL_VALUE_CONSTANT;
      if (!all_const)
        continue;
      if (!foldable(g, nd, exposed)) {
        skipped += !is_random(nd->op);
        continue;
      }
      s = fold_node(g, n);
      if (s == PTL_OK) {
        folded++;
        changed = true;
      }
    }
    free(exposed);
    if (s != PTL_OK) {
      char msg[512];
      snprintf(msg, sizeof msg, "%s", ptl_last_error_message());
      return ptl_error(s, "constant_fold: %s", msg);
    }
  }
  stats->rewrites = folded;
  snprintf(stats->detail, sizeof stats->detail,
           "folded %d node(s) with constant inputs into constants (%d left: result returned, "
           "written in place or too large)",
           folded, skipped);
  return PTL_OK;
}
