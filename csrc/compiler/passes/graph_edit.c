/* graph_edit.c - the helpers passes rewrite graphs with, and the pass driver. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"

/* Pass table from passes.def. */
#define PTL_PASS(NAME, FN) ptl_status FN(ptl_graph *g, ptl_pass_stats *stats);
#include "passes.def"
#undef PTL_PASS

static const struct {
  const char *name;
  ptl_pass_fn fn;
} k_passes[] = {
#define PTL_PASS(NAME, FN) {NAME, FN},
#include "passes.def"
#undef PTL_PASS
};

ptl_pass_fn ptl_pass_lookup(const char *name) {
  for (size_t i = 0; i < sizeof k_passes / sizeof k_passes[0]; i++)
    if (strcmp(k_passes[i].name, name) == 0)
      return k_passes[i].fn;
  return NULL;
}

static int32_t live_nodes(const ptl_graph *g) {
  int32_t n = 0;
  for (int32_t i = 0; i < g->n_nodes; i++)
    n += !g->nodes[i].dead;
  return n;
}

/* Runs the pass on a copy and swaps it in only when the pass succeeded and left
 * a valid graph, so a failing pass never leaves the caller's graph half-edited.
 * Ops a pass evaluates (constant folding) are never recorded by an active trace. */
ptl_status ptl_pass_run(ptl_graph *g, const char *name, ptl_pass_stats *stats) {
  ptl_pass_fn fn = ptl_pass_lookup(name);
  if (!fn)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "unknown graph pass '%s'", name);
  memset(stats, 0, sizeof *stats);
  ptl_graph *work;
  PTL_CHECK(ptl_graph_clone(g, &work));
  ptl_op_observer_fn observer;
  void *observer_ctx;
  ptl_get_op_observer(&observer, &observer_ctx);
  ptl_set_op_observer(NULL, NULL);
  int32_t before = live_nodes(work);
  ptl_status s = fn(work, stats);
  ptl_set_op_observer(observer, observer_ctx);
  if (s == PTL_OK) {
    stats->nodes_removed = before - live_nodes(work);
    s = ptl_graph_compact(work);
  }
  if (s == PTL_OK && ptl_graph_validate(work) != PTL_OK)
    s = ptl_error(PTL_ERR_INTERNAL, "pass %s left an invalid graph: %s", name,
                  ptl_last_error_message());
  if (s == PTL_OK) {
    ptl_graph tmp = *g;
    *g = *work;
    *work = tmp;
  }
  ptl_graph_destroy(work);
  return s;
}

ptl_status ptl_graph_clone(const ptl_graph *g, ptl_graph **out) {
  ptl_graph *c;
  PTL_CHECK(ptl_graph_create(&c));
  ptl_status s = PTL_OK;
  for (int32_t i = 0; i < g->n_values && s == PTL_OK; i++) {
    const ptl_value *v = &g->values[i];
    ptl_tensor like = {0};
    like.dtype = v->dtype;
    like.ndim = v->ndim;
    memcpy(like.shape, v->shape, sizeof v->shape);
    int32_t id;
    s = ptl_graph_add_value(c, v->kind, &like, v->constant, v->name, &id);
  }
  for (int32_t n = 0; n < g->n_nodes && s == PTL_OK; n++) {
    const ptl_node *nd = &g->nodes[n];
    if (!nd->dead)
      s = ptl_graph_add_node(c, nd->op, &nd->attrs, nd->in, nd->n_in, nd->out, nd->n_out,
                             nd->inplace);
  }
  for (int32_t i = 0; i < g->n_inputs && s == PTL_OK; i++)
    s = ptl_graph_mark_input(c, g->inputs[i]);
  for (int32_t i = 0; i < g->n_outputs && s == PTL_OK; i++)
    s = ptl_graph_mark_output(c, g->outputs[i]);
  if (s != PTL_OK) {
    ptl_graph_destroy(c);
    return s;
  }
  *out = c;
  return PTL_OK;
}

bool ptl_graph_is_output(const ptl_graph *g, int32_t value) {
  for (int32_t i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == value)
      return true;
  return false;
}

int32_t ptl_graph_use_count(const ptl_graph *g, int32_t value) {
  int32_t uses = 0;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    if (nd->dead)
      continue;
    for (int i = 0; i < nd->n_in; i++)
      uses += nd->in[i] == value;
    for (int i = 0; i < nd->n_out; i++)
      uses += (nd->inplace & (1u << i)) && nd->out[i] == value;
  }
  for (int32_t i = 0; i < g->n_outputs; i++)
    uses += g->outputs[i] == value;
  return uses;
}

int32_t ptl_graph_producer(const ptl_graph *g, int32_t value) {
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    if (nd->dead)
      continue;
    for (int i = 0; i < nd->n_out; i++)
      if (nd->out[i] == value && !(nd->inplace & (1u << i)))
        return n;
  }
  return -1;
}

int32_t ptl_graph_single_user(const ptl_graph *g, int32_t value) {
  if (ptl_graph_is_output(g, value))
    return -1;
  /* count nodes, not references: relu_(x) reads and writes x but is one user */
  int32_t user = -1;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    if (nd->dead)
      continue;
    bool touches = false;
    for (int i = 0; i < nd->n_in && !touches; i++)
      touches = nd->in[i] == value;
    for (int i = 0; i < nd->n_out && !touches; i++)
      touches = (nd->inplace & (1u << i)) && nd->out[i] == value;
    if (touches) {
      if (user >= 0)
        return -1;
      user = n;
    }
  }
  return user;
}

int32_t ptl_graph_defining_writer(const ptl_graph *g, int32_t n, int32_t x) {
  for (int32_t m = n - 1; m >= 0; m--) {
    const ptl_node *nd = &g->nodes[m];
    if (nd->dead)
      continue;
    for (int i = 0; i < nd->n_out; i++)
      if (nd->out[i] == x)
        return m;
    for (int i = 0; i < nd->n_in; i++)
      if (nd->in[i] == x)
        return -1;
  }
  return -1;
}

bool ptl_graph_referenced_after(const ptl_graph *g, int32_t n, int32_t x) {
  for (int32_t m = n + 1; m < g->n_nodes; m++) {
    const ptl_node *nd = &g->nodes[m];
    if (nd->dead)
      continue;
    for (int i = 0; i < nd->n_in; i++)
      if (nd->in[i] == x)
        return true;
    for (int i = 0; i < nd->n_out; i++)
      if (nd->out[i] == x)
        return true;
  }
  return false;
}

void ptl_graph_replace_uses(ptl_graph *g, int32_t from, int32_t to, int32_t after) {
  for (int32_t n = after + 1; n < g->n_nodes; n++) {
    ptl_node *nd = &g->nodes[n];
    if (nd->dead)
      continue;
    for (int i = 0; i < nd->n_in; i++)
      if (nd->in[i] == from)
        nd->in[i] = to;
    for (int i = 0; i < nd->n_out; i++)
      if ((nd->inplace & (1u << i)) && nd->out[i] == from)
        nd->out[i] = to;
  }
  for (int32_t i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == from) {
      g->outputs[i] = to;
      /* the output keeps its name (never renaming an input or a weight) */
      if (g->values[from].name && !g->values[to].name &&
          g->values[to].kind == PTL_VALUE_INTERMEDIATE) {
        g->values[to].name = g->values[from].name;
        g->values[from].name = NULL;
      }
    }
}

ptl_tensor *ptl_graph_constant(const ptl_graph *g, int32_t value) {
  if (value < 0 || value >= g->n_values || g->values[value].kind != PTL_VALUE_CONSTANT)
    return NULL;
  return g->values[value].constant;
}

ptl_status ptl_graph_add_constant(ptl_graph *g, ptl_tensor *t, const char *name, int32_t *id) {
  return ptl_graph_add_value(g, PTL_VALUE_CONSTANT, t, t, name, id);
}

void ptl_graph_kill_node(ptl_graph *g, int32_t n) {
  g->nodes[n].dead = true;
}

ptl_status ptl_graph_compact(ptl_graph *g) {
  int32_t nv = g->n_values;
  int32_t *map = malloc(sizeof(int32_t) * (size_t)(nv ? nv : 1));
  if (!map)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "compact: out of memory");
  /* which values are still referenced */
  for (int32_t i = 0; i < nv; i++)
    map[i] = g->values[i].kind == PTL_VALUE_INPUT ? 1 : 0;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    if (nd->dead)
      continue;
    for (int i = 0; i < nd->n_in; i++)
      if (nd->in[i] >= 0)
        map[nd->in[i]] = 1;
    for (int i = 0; i < nd->n_out; i++)
      map[nd->out[i]] = 1;
  }
  for (int32_t i = 0; i < g->n_outputs; i++)
    map[g->outputs[i]] = 1;
  /* renumber the kept values in order */
  int32_t k = 0;
  for (int32_t i = 0; i < nv; i++) {
    if (!map[i]) {
      ptl_tensor_release(g->values[i].constant);
      free(g->values[i].name);
      map[i] = -1;
      continue;
    }
    map[i] = k;
    if (k != i)
      g->values[k] = g->values[i];
    g->values[k].producer = -1;
    k++;
  }
  g->n_values = k;
  int32_t m = 0;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    ptl_node nd = g->nodes[n];
    if (nd.dead) {
      free(nd.in);
      free(nd.out);
      continue;
    }
    for (int i = 0; i < nd.n_in; i++)
      if (nd.in[i] >= 0)
        nd.in[i] = map[nd.in[i]];
    for (int i = 0; i < nd.n_out; i++) {
      nd.out[i] = map[nd.out[i]];
      if (!(nd.inplace & (1u << i)))
        g->values[nd.out[i]].producer = m;
    }
    g->nodes[m++] = nd;
  }
  g->n_nodes = m;
  for (int32_t i = 0; i < g->n_inputs; i++)
    g->inputs[i] = map[g->inputs[i]];
  for (int32_t i = 0; i < g->n_outputs; i++)
    g->outputs[i] = map[g->outputs[i]];
  free(map);
  return PTL_OK;
}
