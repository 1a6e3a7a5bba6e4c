/* dead_code.c - dead-code removal: drops nodes whose results nobody reads.
 * Nodes that write in place are kept (the value they write may alias another
 * through a view); the compaction after the pass drops unused constants. */
#include <stdio.h>

#include "pass.h"

ptl_status ptl_pass_dead_code(ptl_graph *g, ptl_pass_stats *stats) {
  /* backwards, so a chain of dead nodes goes in one sweep */
  for (int32_t n = g->n_nodes - 1; n >= 0; n--) {
    ptl_node *nd = &g->nodes[n];
    if (nd->dead || nd->inplace)
      continue;
    bool used = false;
    for (int i = 0; i < nd->n_out && !used; i++)
      used = ptl_graph_use_count(g, nd->out[i]) > 0;
    if (!used) {
      ptl_graph_kill_node(g, n);
      stats->rewrites++;
    }
  }
  snprintf(stats->detail, sizeof stats->detail, "removed %d node(s) whose results were unused",
           stats->rewrites);
  return PTL_OK;
}
