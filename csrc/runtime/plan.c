/* plan.c - the memory planner: one arena per session, offsets by liveness.
 *
 * A plan is made by running the graph once with the session's own input
 * tensors and keeping every intermediate alive, which shows each value's exact
 * layout (kernels pick strides, e.g. channels-last) and which values share
 * storage (views, in-place writes). Each storage becomes a block with a
 * lifetime [first node that writes it, last node that reads it]; blocks are
 * placed greedily, largest first, at the lowest 64-byte aligned offset that
 * does not overlap a block alive at the same time. Later runs give every
 * compute node preset outputs in the arena, and views are made once, so the
 * interpreter itself allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "graph.h"

typedef struct block {
  const ptl_storage *storage; /* in the recording run */
  size_t bytes, offset;
  int32_t first, last; /* node range the block is alive */
} block;

/* The layout of a tensor's quantization parameters (not the numbers). */
typedef struct qsig {
  int32_t scheme, axis;
  int64_t count;
} qsig;

static qsig qsig_of(const ptl_tensor *t) {
  qsig q = {0, 0, 0};
  if (t->qparams)
    q = (qsig){(int32_t)t->qparams->scheme, t->qparams->axis, t->qparams->count};
  return q;
}

struct ptl_plan {
  const ptl_graph *graph;
  uint8_t *arena;
  size_t arena_bytes;
  ptl_tensor **values; /* persistent tensor per value (borrowed for inputs/constants) */
  uint8_t *run_node;   /* 0: skip (a view made once), 1: run with preset outputs,
                          2: run freshly and copy into the arena (a copying view) */
  ptl_tensor *const *inputs;
  qsig *view_base; /* per node made once: its base's quantization layout when made */
};

static int32_t find_block(block *b, int32_t n, const ptl_storage *s) {
  for (int32_t i = 0; i < n; i++)
    if (b[i].storage == s)
      return i;
  return -1;
}

static int by_size_desc(const void *a, const void *b) {
  const block *x = *(const block *const *)a, *y = *(const block *const *)b;
  return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Greedy placement: each block at the lowest offset clear of the blocks already
 * placed whose lifetimes overlap its own. */
static size_t place_blocks(block *blocks, int32_t n) {
  block **order = malloc(sizeof(block *) * (size_t)(n ? n : 1));
  if (!order)
    return (size_t)-1;
  for (int32_t i = 0; i < n; i++)
    order[i] = &blocks[i];
  qsort(order, (size_t)n, sizeof *order, by_size_desc);
  size_t total = 0;
  for (int32_t i = 0; i < n; i++) {
    block *b = order[i];
    size_t offset = 0;
    bool moved = true;
    while (moved) {
      moved = false;
      for (int32_t j = 0; j < i; j++) {
        const block *o = order[j];
        bool alive_together = !(o->last < b->first || b->last < o->first);
        bool overlap = offset < o->offset + o->bytes && o->offset < offset + b->bytes;
        if (alive_together && overlap) {
          offset = (o->offset + o->bytes + 63) & ~(size_t)63;
          moved = true;
        }
      }
    }
    b->offset = offset;
    if (offset + b->bytes > total)
      total = offset + b->bytes;
  }
  free(order);
  return total;
}

void ptl_plan_destroy(ptl_plan *p) {
  if (!p)
    return;
  for (int32_t i = 0; p->values && i < p->graph->n_values; i++)
    if (p->graph->values[i].kind == PTL_VALUE_INTERMEDIATE)
      ptl_tensor_release(p->values[i]);
  free(p->values);
  free(p->run_node);
  free(p->view_base);
  free(p->arena);
  free(p);
}

static void release_all(const ptl_graph *g, ptl_tensor **vals) {
  for (int32_t i = 0; i < g->n_values; i++)
    if (g->values[i].kind == PTL_VALUE_INTERMEDIATE)
      ptl_tensor_release(vals[i]);
  free(vals);
}

ptl_status ptl_plan_create(const ptl_graph *g, ptl_tensor *const *inputs, ptl_plan **out) {
  ptl_plan *p = calloc(1, sizeof *p);
  ptl_tensor **rec = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(ptl_tensor *));
  block *blocks = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(block));
  int32_t *block_of = malloc(sizeof(int32_t) * (size_t)(g->n_values ? g->n_values : 1));
  if (!p || !rec || !blocks || !block_of) {
    free(p);
    free(rec);
    free(blocks);
    free(block_of);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "plan: out of memory");
  }
  p->graph = g;
  p->inputs = inputs;
  ptl_status s = PTL_OK;
  /* 1. the recording run: every intermediate stays alive */
  for (int32_t i = 0; i < g->n_values; i++)
    if (g->values[i].kind == PTL_VALUE_CONSTANT)
      rec[i] = g->values[i].constant;
  for (int32_t i = 0; i < g->n_inputs; i++)
    rec[g->inputs[i]] = inputs[i];
  ptl_tensor *ins[64];
  for (int32_t n = 0; n < g->n_nodes && s == PTL_OK; n++) {
    const ptl_node *nd = &g->nodes[n];
    for (int i = 0; i < nd->n_in; i++)
      ins[i] = nd->in[i] >= 0 ? rec[nd->in[i]] : NULL;
    ptl_tensor *outs[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < nd->n_out; i++)
      if (nd->inplace & (1u << i))
        outs[i] = rec[nd->out[i]];
    s = ptl_op_run(nd->op, &nd->attrs, ins, nd->n_in, outs, nd->n_out);
    for (int i = 0; s == PTL_OK && i < nd->n_out; i++)
      if (!(nd->inplace & (1u << i)))
        rec[nd->out[i]] = outs[i];
  }
  /* 2. blocks: one per storage created by the graph (not the inputs' or weights') */
  int32_t n_blocks = 0;
  for (int32_t v = 0; s == PTL_OK && v < g->n_values; v++) {
    block_of[v] = -1;
    if (g->values[v].kind != PTL_VALUE_INTERMEDIATE)
      continue;
    const ptl_storage *st = rec[v]->storage;
    bool external = false;
    for (int32_t k = 0; k < g->n_values && !external; k++)
      external = g->values[k].kind != PTL_VALUE_INTERMEDIATE && rec[k] && rec[k]->storage == st;
    if (external)
      continue; /* a view of an input or a weight */
    int32_t b = find_block(blocks, n_blocks, st);
    if (b < 0) {
      b = n_blocks++;
      blocks[b] = (block){st, st->nbytes + 16 /* vector over-read slack */, 0, INT32_MAX, -1};
    }
    block_of[v] = b;
  }
  /* lifetimes: from the first node touching a block to the last one (outputs: the end) */
  for (int32_t n = 0; s == PTL_OK && n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    for (int k = 0; k < nd->n_in + nd->n_out; k++) {
      int32_t v = k < nd->n_in ? nd->in[k] : nd->out[k - nd->n_in];
      int32_t b = v >= 0 ? block_of[v] : -1;
      if (b >= 0) {
        blocks[b].first = n < blocks[b].first ? n : blocks[b].first;
        blocks[b].last = n > blocks[b].last ? n : blocks[b].last;
      }
    }
  }
  for (int32_t i = 0; s == PTL_OK && i < g->n_outputs; i++)
    if (block_of[g->outputs[i]] >= 0)
      blocks[block_of[g->outputs[i]]].last = g->n_nodes;
  /* 3. offsets and the arena */
  if (s == PTL_OK) {
    p->arena_bytes = place_blocks(blocks, n_blocks);
    p->arena = p->arena_bytes == (size_t)-1
                   ? NULL
                   : aligned_alloc(64, (p->arena_bytes + 127) & ~(size_t)63);
    p->values = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(ptl_tensor *));
    p->run_node = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), 1);
    p->view_base = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof(qsig));
    if (!p->arena || !p->values || !p->run_node || !p->view_base)
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "plan: out of memory for a %zu-byte arena",
                    p->arena_bytes);
  }
  /* 4. persistent tensors: planned values over the arena, views of inputs and
   * weights kept from the recording run */
  for (int32_t v = 0; s == PTL_OK && v < g->n_values; v++) {
    const ptl_value *val = &g->values[v];
    if (val->kind != PTL_VALUE_INTERMEDIATE) {
      p->values[v] = rec[v];
      continue;
    }
    if (block_of[v] < 0) {
      ptl_tensor_retain(rec[v]);
      p->values[v] = rec[v];
      continue;
    }
    const ptl_tensor *t = rec[v];
    uint8_t *data =
        p->arena + blocks[block_of[v]].offset + (size_t)t->offset * ptl_dtype_size(t->dtype);
    s = ptl_tensor_create_borrowed(t->dtype, t->ndim, t->shape, t->strides, data, NULL, NULL,
                                   &p->values[v]);
    /* a quantized value starts with the recording run's parameters, so the views
     * made once below carry them; the op computing it sets them again every run */
    if (s == PTL_OK && t->qparams)
      s = ptl_qparams_copy(p->values[v], t);
  }
  /* 5. what each node does at run time */
  for (int32_t n = 0; s == PTL_OK && n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    const ptl_op_def *def = ptl_op_lookup(nd->op);
    if (def->kind != PTL_KIND_VIEW) {
      p->run_node[n] = 1;
      continue;
    }
    /* a view that aliases its input is made once; one that had to copy
     * (reshape of a non-viewable layout) is redone and copied into the arena */
    int32_t in = nd->in[0], o = nd->out[0];
    bool aliases = rec[o]->storage == rec[in]->storage;
    p->run_node[n] = aliases ? 0 : 2;
  }
  if (s == PTL_OK) {
    /* views made once must point into the arena: remake them from the
     * persistent inputs, in node order */
    for (int32_t n = 0; s == PTL_OK && n < g->n_nodes; n++) {
      const ptl_node *nd = &g->nodes[n];
      if (p->run_node[n] != 0 || block_of[nd->out[0]] >= 0)
        continue;
      ptl_tensor *view = NULL;
      ptl_tensor *vin[4] = {p->values[nd->in[0]], NULL, NULL, NULL};
      s = ptl_op_run(nd->op, &nd->attrs, vin, nd->n_in, &view, 1);
      if (s == PTL_OK) {
        ptl_tensor_release(p->values[nd->out[0]]);
        p->values[nd->out[0]] = view;
      }
    }
  }
  for (int32_t n = 0; s == PTL_OK && n < g->n_nodes; n++)
    if (p->run_node[n] == 0)
      p->view_base[n] = qsig_of(p->values[g->nodes[n].in[0]]);
  release_all(g, rec);
  free(blocks);
  free(block_of);
  if (s != PTL_OK) {
    ptl_plan_destroy(p);
    return s;
  }
  *out = p;
  return PTL_OK;
}

size_t ptl_plan_arena_bytes(const ptl_plan *p) {
  return p->arena_bytes;
}

ptl_tensor *ptl_plan_value(const ptl_plan *p, int32_t value) {
  return p->values[value];
}

/* A view made once shares its base's storage but holds a copy of its quantization
 * parameters, which the base's producer may change from run to run (a quantized
 * input set by the caller, quantize_per_channel with computed scales). Views keep
 * the scales and zero points and only renumber the channel axis: with the base's
 * layout unchanged the numbers are copied over; a new layout (per tensor instead
 * of per channel, another axis) remakes the view, which derives its axis again. */
static ptl_status refresh_view(ptl_plan *p, int32_t n) {
  const ptl_node *nd = &p->graph->nodes[n];
  ptl_tensor *base = p->values[nd->in[0]], *view = p->values[nd->out[0]];
  if (!base->qparams)
    return PTL_OK;
  qsig now = qsig_of(base), then = p->view_base[n];
  if (view->qparams && now.scheme == then.scheme && now.axis == then.axis &&
      now.count == then.count && view->qparams->count == now.count) {
    memcpy(view->qparams->scale, base->qparams->scale, sizeof(float) * (size_t)now.count);
    memcpy(view->qparams->zero_point, base->qparams->zero_point,
           sizeof(int32_t) * (size_t)now.count);
    return PTL_OK;
  }
  ptl_tensor *fresh = NULL;
  PTL_CHECK(ptl_op_run(nd->op, &nd->attrs, &base, 1, &fresh, 1));
  if (fresh->storage != base->storage) {
    /* cannot happen for a view that aliased its base when planned */
    ptl_tensor_release(fresh);
    return ptl_error(PTL_ERR_INTERNAL, "plan: %s no longer aliases its input", ptl_op_name(nd->op));
  }
  ptl_tensor_release(view);
  p->values[nd->out[0]] = fresh;
  p->view_base[n] = now;
  return PTL_OK;
}

ptl_status ptl_plan_run(ptl_plan *p) {
  const ptl_graph *g = p->graph;
  ptl_tensor *ins[64];
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    if (!p->run_node[n]) {
      PTL_CHECK(refresh_view(p, n));
      continue;
    }
    for (int i = 0; i < nd->n_in; i++)
      ins[i] = nd->in[i] >= 0 ? p->values[nd->in[i]] : NULL;
    ptl_tensor *outs[4] = {NULL, NULL, NULL, NULL};
    if (p->run_node[n] == 2) {
      PTL_CHECK(ptl_op_run(nd->op, &nd->attrs, ins, nd->n_in, outs, 1));
      ptl_attrs copy = {0};
      copy.n_ints = 2;
      copy.ints[0] = -1;
      copy.ints[1] = 1;
      ptl_tensor *dst = p->values[nd->out[0]];
      ptl_status s = ptl_op_run(PTL_OP_COPY, &copy, outs, 1, &dst, 1);
      ptl_tensor_release(outs[0]);
      PTL_CHECK(s);
      continue;
    }
    for (int i = 0; i < nd->n_out; i++)
      outs[i] = p->values[nd->out[i]];
    PTL_CHECK(ptl_op_run(nd->op, &nd->attrs, ins, nd->n_in, outs, nd->n_out));
  }
  return PTL_OK;
}
