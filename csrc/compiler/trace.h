/*
 * trace.h - graph capture: while a tracer is active on a thread, every
 * top-level ptl_op_run on that thread becomes a node. Tensors the trace has not
 * seen before (weights, Python scalars) become constants of the graph.
 */
#ifndef PTLITE_TRACE_H
#define PTLITE_TRACE_H

#include "../runtime/graph.h"

typedef struct ptl_tracer ptl_tracer;

/* Starts capturing on the calling thread; fails if a trace is already active there. */
ptl_status ptl_tracer_begin(ptl_tracer **out);
/* Declares a graph input (borrowed; retained until the trace ends). */
ptl_status ptl_tracer_add_input(ptl_tracer *tr, ptl_tensor *t, const char *name);
/* Declares a graph output: the value the tensor holds now. */
ptl_status ptl_tracer_add_output(ptl_tracer *tr, ptl_tensor *t, const char *name);
/* Stops capturing and frees the tracer. On success *graph_out is a validated graph
 * the caller owns; the first error seen while recording is returned otherwise. */
ptl_status ptl_tracer_end(ptl_tracer *tr, ptl_graph **graph_out);
/* Stops capturing and discards everything (after an exception in the traced code). */
void ptl_tracer_abort(ptl_tracer *tr);

#endif
