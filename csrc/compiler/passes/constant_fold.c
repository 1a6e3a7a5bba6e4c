/* constant_fold.c - STUB: to be implemented (returns no rewrites). */
#include <stdio.h>

#include "pass.h"

ptl_status ptl_pass_constant_fold(ptl_graph *g, ptl_pass_stats *stats) {
  (void)g;
  snprintf(stats->detail, sizeof stats->detail, "not implemented yet");
  return PTL_OK;
}
