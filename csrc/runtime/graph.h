/*
 * graph.h - the graph IR shared by capture (csrc/compiler), the .ptl reader
 * and the interpreter. Internal: not installed.
 *
 * A graph is a list of values (tensors) and nodes (op invocations) in
 * execution order. Values are inputs, constants (weights, owned by the graph)
 * or intermediates (produced by exactly one node). Nodes reference values by
 * index; -1 stands for an absent optional input.
 */
#ifndef PTLITE_GRAPH_H
#define PTLITE_GRAPH_H

#include "internal.h"

typedef enum ptl_value_kind {
  PTL_VALUE_INPUT = 0,
  PTL_VALUE_CONSTANT = 1,
  PTL_VALUE_INTERMEDIATE = 2,
} ptl_value_kind;

typedef struct ptl_value {
  ptl_value_kind kind;
  ptl_dtype dtype;
  int32_t ndim;
  int64_t shape[PTL_MAX_DIMS];
  int32_t producer;     /* node index, -1 for inputs and constants */
  ptl_tensor *constant; /* PTL_VALUE_CONSTANT: owned reference */
  char *name;           /* owned, may be NULL */
} ptl_value;

typedef struct ptl_node {
  ptl_op_id op;
  ptl_attrs attrs;
  int32_t n_in, n_out;
  int32_t *in;  /* n_in value ids (-1: absent); owned */
  int32_t *out; /* n_out value ids; owned */
  /* bit i set: output i is written in place into the existing value out[i]
   * (copy_, fill_, add_ ...), which may be a view of another value */
  uint32_t inplace;
  bool dead; /* removed by a pass; dropped by ptl_graph_compact */
} ptl_node;

typedef struct ptl_graph {
  ptl_value *values;
  int32_t n_values, cap_values;
  ptl_node *nodes;
  int32_t n_nodes, cap_nodes;
  int32_t *inputs, n_inputs;
  int32_t *outputs, n_outputs;
  int32_t cap_inputs, cap_outputs;
} ptl_graph;

ptl_status ptl_graph_create(ptl_graph **out);
void ptl_graph_destroy(ptl_graph *g); /* NULL is ignored */

/* Adds a value; `constant` (retained) for PTL_VALUE_CONSTANT, else NULL. */
ptl_status ptl_graph_add_value(ptl_graph *g, ptl_value_kind kind, const ptl_tensor *like,
                               ptl_tensor *constant, const char *name, int32_t *id_out);
ptl_status ptl_graph_add_node(ptl_graph *g, ptl_op_id op, const ptl_attrs *attrs, const int32_t *in,
                              int n_in, const int32_t *out, int n_out, uint32_t inplace);
ptl_status ptl_graph_mark_input(ptl_graph *g, int32_t value);
ptl_status ptl_graph_mark_output(ptl_graph *g, int32_t value);
/* Checks ids, arity and ordering (every node input defined before use). */
ptl_status ptl_graph_validate(const ptl_graph *g);

/* Runs the graph on `inputs` (n_inputs tensors, borrowed) and returns new
 * references to the outputs in `outputs` (caller releases). Intermediates are
 * released after their last use. */
ptl_status ptl_graph_run(const ptl_graph *g, ptl_tensor *const *inputs, int n_inputs,
                         ptl_tensor **outputs, int n_outputs);

/* Per-node statistics accumulated by ptl_graph_run_profiled. */
typedef struct ptl_node_profile {
  double seconds; /* summed over runs */
  int32_t runs;
  int32_t fast; /* 1: the last run took the op's fast path (XNNPACK/SIMD) */
} ptl_node_profile;

/* As ptl_graph_run; `profile` (n_nodes entries, may be NULL) accumulates times. */
ptl_status ptl_graph_run_profiled(const ptl_graph *g, ptl_tensor *const *inputs, int n_inputs,
                                  ptl_tensor **outputs, int n_outputs, ptl_node_profile *profile);

/* 1 if the last top-level ptl_op_run on this thread ran the op's fast path. */
int ptl_last_op_was_fast(void);

/* ---- memory plan (plan.c) ------------------------------------------------ */
typedef struct ptl_plan ptl_plan;
/* Runs `g` once on `inputs` (which must stay the same tensors for the plan's
 * life; their contents may change) and lays every computed value out in one
 * arena by liveness. */
ptl_status ptl_plan_create(const ptl_graph *g, ptl_tensor *const *inputs, ptl_plan **out);
/* Runs the graph with the planned layout: the interpreter allocates nothing. */
ptl_status ptl_plan_run(ptl_plan *p);
/* The tensor holding `value` (borrowed; valid until the next run or destroy). */
ptl_tensor *ptl_plan_value(const ptl_plan *p, int32_t value);
size_t ptl_plan_arena_bytes(const ptl_plan *p);
void ptl_plan_destroy(ptl_plan *p);

/* ---- capture hook ------------------------------------------------------- */
/* While set on a thread, ptl_op_run reports every successful op to `fn`
 * (after outputs are computed). Used by csrc/compiler/trace.c. */
typedef void (*ptl_op_observer_fn)(void *ctx, ptl_op_id op, const ptl_attrs *attrs,
                                   ptl_tensor *const *in, int n_in, ptl_tensor *const *out,
                                   int n_out);
void ptl_set_op_observer(ptl_op_observer_fn fn, void *ctx);
/* The observer set on this thread (to suspend it around work that must not be recorded). */
void ptl_get_op_observer(ptl_op_observer_fn *fn, void **ctx);

/* CRC-32 (IEEE 802.3, as zlib) for the file format. */
uint32_t ptl_crc32(uint32_t crc, const void *data, size_t n);

#endif /* PTLITE_GRAPH_H */
