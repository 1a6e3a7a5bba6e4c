/* remove_dropout.c - REMOVE_DROPOUT: dropout is the identity at inference. A
 * DROPOUT node (recorded when a module was traced in training mode, or called
 * with training=True) is dropped and its users read its input instead. */
#include <stdio.h>

#include "pass.h"

ptl_status ptl_pass_remove_dropout(ptl_graph *g, ptl_pass_stats *stats) {
  for (int32_t n = 0; n < g->n_nodes; n++) {
    ptl_node *nd = &g->nodes[n];
    if (nd->dead || nd->op != PTL_OP_DROPOUT)
      continue;
    if (!(nd->inplace & 1u))
      ptl_graph_replace_uses(g, nd->out[0], nd->in[0], n);
    ptl_graph_kill_node(g, n);
    stats->rewrites++;
  }
  snprintf(stats->detail, sizeof stats->detail, "removed %d dropout node(s)", stats->rewrites);
  return PTL_OK;
}
