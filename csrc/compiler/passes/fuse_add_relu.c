/* fuse_add_relu.c - FUSE_ADD_RELU: a float32 ADD whose result goes only to a
 * RELU becomes one ADD with i[0] = 1, which stores max(0, a + alpha * b) in the
 * same loop (kernels/eltwise.c), as torch's add_relu. The residual join of a
 * ResNet block (out += identity; out = relu(out), both in place) is the
 * common case, so an ADD writing in place is fused too.
 *
 * Exact: the fused store applies the RELU kernel's own expression (v < 0 ? 0 :
 * v, NaN and -0.0 pass through) to the same float sum. */
#include <stdio.h>

#include "pass.h"

/* An ADD writing in place changes memory other values may share: x must be
 * computed by a non-view op and no view of it may exist, or a reader of the
 * aliasing value would see the relu it never asked for. */
static bool may_alias(const ptl_graph *g, int32_t x) {
  int32_t p = ptl_graph_producer(g, x);
  if (p < 0 || ptl_op_lookup(g->nodes[p].op)->kind != PTL_KIND_COMPUTE)
    return true;
  for (int32_t m = 0; m < g->n_nodes; m++) {
    const ptl_node *nd = &g->nodes[m];
    if (nd->dead || ptl_op_lookup(nd->op)->kind != PTL_KIND_VIEW)
      continue;
    for (int i = 0; i < nd->n_in; i++)
      if (nd->in[i] == x)
        return true;
  }
  return false;
}

ptl_status ptl_pass_fuse_add_relu(ptl_graph *g, ptl_pass_stats *stats) {
  for (int32_t n = 0; n < g->n_nodes; n++) {
    ptl_node *relu = &g->nodes[n];
    if (relu->dead || relu->op != PTL_OP_RELU || relu->n_in != 1 || relu->n_out != 1)
      continue;
    int32_t x = relu->in[0], y = relu->out[0];
    if (x < 0 || g->values[x].dtype != PTL_FLOAT32 || g->values[y].dtype != PTL_FLOAT32)
      continue;
    bool inplace = (relu->inplace & 1u) != 0;
    if (inplace && y != x)
      continue; /* writes its result into another existing value */
    int32_t p = ptl_graph_defining_writer(g, n, x);
    if (p < 0)
      continue;
    ptl_node *add = &g->nodes[p];
    if (add->op != PTL_OP_ADD || add->n_out != 1)
      continue;
    if ((add->inplace & 1u) && may_alias(g, x))
      continue;
    /* out of place, x must die here: nobody else may see it before the relu */
    if (!inplace && (ptl_graph_is_output(g, x) || ptl_graph_referenced_after(g, n, x)))
      continue;
    if (add->attrs.n_ints < 1)
      add->attrs.n_ints = 1;
    add->attrs.ints[0] = 1;
    if (!inplace)
      ptl_graph_replace_uses(g, y, x, n);
    ptl_graph_kill_node(g, n);
    stats->rewrites++;
  }
  snprintf(stats->detail, sizeof stats->detail, "fused %d relu into add (add_relu)",
           stats->rewrites);
  return PTL_OK;
}
