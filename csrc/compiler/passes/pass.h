/*
 * pass.h - graph rewriting for optimize_for_mobile: one file per pass in this
 * folder, each idempotent (running it twice changes nothing the second time)
 * and reporting what it changed.
 *
 * Passes never modify a constant tensor in place: a folded weight is a new
 * constant, so the module a graph was cloned from keeps its parameters.
 */
#ifndef PTLITE_PASS_H
#define PTLITE_PASS_H

#include "../../runtime/graph.h"

typedef struct ptl_pass_stats {
  int32_t rewrites;      /* patterns rewritten */
  int32_t nodes_removed; /* nodes dropped */
  char detail[256];      /* a line for the optimization report */
} ptl_pass_stats;

typedef ptl_status (*ptl_pass_fn)(ptl_graph *g, ptl_pass_stats *stats);

/* The pass table: every pass by name (see passes.def). NULL if unknown. */
ptl_pass_fn ptl_pass_lookup(const char *name);
/* Runs a pass, then ptl_graph_compact and ptl_graph_validate. */
ptl_status ptl_pass_run(ptl_graph *g, const char *name, ptl_pass_stats *stats);

/* ---- editing helpers (graph_edit.c) ----------------------------------------- */
/* A deep copy of the structure; constants are shared (retained), not copied. */
ptl_status ptl_graph_clone(const ptl_graph *g, ptl_graph **out);
/* Uses of `value` by live nodes (as inputs or in-place outputs) and graph outputs. */
int32_t ptl_graph_use_count(const ptl_graph *g, int32_t value);
bool ptl_graph_is_output(const ptl_graph *g, int32_t value);
/* The live node that produces `value` (not an in-place writer), or -1. */
int32_t ptl_graph_producer(const ptl_graph *g, int32_t value);
/* The only live node touching `value` (reading it, or writing it in place; a node
 * doing both counts once), or -1 when there are none or several, or when it is a
 * graph output. */
int32_t ptl_graph_single_user(const ptl_graph *g, int32_t value);
/* The node that wrote `x` as node n reads it: the nearest live node before n
 * that references x must write it (as an output), else -1 (another node reads
 * x in between, or no node computes it). */
int32_t ptl_graph_defining_writer(const ptl_graph *g, int32_t n, int32_t x);
/* True when a live node after n reads or writes `x`. */
bool ptl_graph_referenced_after(const ptl_graph *g, int32_t n, int32_t x);
/* Replaces every use of `from` by `to` in live nodes after node `after` (-1: all)
 * and in the graph outputs. */
void ptl_graph_replace_uses(ptl_graph *g, int32_t from, int32_t to, int32_t after);
/* The constant tensor of `value`, or NULL if it is not a constant. */
ptl_tensor *ptl_graph_constant(const ptl_graph *g, int32_t value);
/* Adds a constant (retained) and returns its value id. */
ptl_status ptl_graph_add_constant(ptl_graph *g, ptl_tensor *t, const char *name, int32_t *id);
/* Marks node n dead. */
void ptl_graph_kill_node(ptl_graph *g, int32_t n);
/* Drops dead nodes and values nothing refers to any more (inputs stay), renumbering. */
ptl_status ptl_graph_compact(ptl_graph *g);

/* ---- folding helpers (defined and documented in conv_bn_fold.c) ------------- */
ptl_status ptl_fold_read(const ptl_tensor *t, double **out);
ptl_status ptl_fold_add_f32(ptl_graph *g, const double *data, int ndim, const int64_t *shape,
                            const char *name, int32_t *id);
ptl_status ptl_fold_bn_affine(const ptl_graph *g, const ptl_node *bn, int64_t C, double **scale,
                              double **shift);
void ptl_fold_bias_name(const char *old_bias, const char *weight, char *buf, size_t size);
ptl_status ptl_fold_ensure_bias_slot(ptl_node *nd);
ptl_status ptl_fold_error(ptl_status s, const char *pass);

#endif
