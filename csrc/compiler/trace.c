/* trace.c - records dispatched ops into a graph (see trace.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* Open-addressing map from tensor pointer to the value id it currently holds.
 * Every tensor seen is retained until the trace ends, so an address is never
 * reused by a different tensor while the map is live. */
typedef struct {
  ptl_tensor *key;
  int32_t value;
} slot;

struct ptl_tracer {
  ptl_graph *graph;
  slot *slots;
  size_t cap, used;
  ptl_status error; /* first failure while recording */
  char error_msg[512];
};

static _Thread_local ptl_tracer *g_active;

static size_t hash_ptr(const void *p, size_t cap) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x & (cap - 1);
}

static slot *find_slot(ptl_tracer *tr, const ptl_tensor *t) {
  size_t i = hash_ptr(t, tr->cap);
  while (tr->slots[i].key && tr->slots[i].key != t)
    i = (i + 1) & (tr->cap - 1);
  return &tr->slots[i];
}

static ptl_status map_put(ptl_tracer *tr, ptl_tensor *t, int32_t value) {
  if ((tr->used + 1) * 2 > tr->cap) {
    size_t old_cap = tr->cap;
    slot *old = tr->slots;
    tr->cap = old_cap ? old_cap * 2 : 256;
    tr->slots = calloc(tr->cap, sizeof(slot));
    if (!tr->slots) {
      tr->slots = old;
      tr->cap = old_cap;
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "trace: out of memory");
    }
    for (size_t i = 0; i < old_cap; i++)
      if (old[i].key)
        *find_slot(tr, old[i].key) = old[i];
    free(old);
  }
  slot *s = find_slot(tr, t);
  if (!s->key) {
    ptl_tensor_retain(t);
    s->key = t;
    tr->used++;
  }
  s->value = value;
  return PTL_OK;
}

static int32_t map_get(ptl_tracer *tr, const ptl_tensor *t) {
  if (!tr->cap)
    return -1;
  slot *s = find_slot(tr, t);
  return s->key ? s->value : -1;
}

/* The value id of `t`, adding it as a constant when the trace has not seen it. */
static ptl_status value_of(ptl_tracer *tr, ptl_tensor *t, int32_t *id) {
  *id = map_get(tr, t);
  if (*id >= 0)
    return PTL_OK;
  PTL_CHECK(ptl_graph_add_value(tr->graph, PTL_VALUE_CONSTANT, t, t, NULL, id));
  return map_put(tr, t, *id);
}

static void record(ptl_tracer *tr, ptl_status s) {
  if (s != PTL_OK && tr->error == PTL_OK) {
    tr->error = s;
    snprintf(tr->error_msg, sizeof tr->error_msg, "%s", ptl_last_error_message());
  }
}

static void observe(void *ctx, ptl_op_id op, const ptl_attrs *attrs, ptl_tensor *const *in,
                    int n_in, ptl_tensor *const *out, int n_out) {
  ptl_tracer *tr = ctx;
  if (tr->error != PTL_OK)
    return;
  int32_t in_ids[64], out_ids[4];
  for (int i = 0; i < n_in && i < 64; i++) {
    in_ids[i] = -1;
    if (in[i]) {
      ptl_status s = value_of(tr, in[i], &in_ids[i]);
      if (s != PTL_OK)
        return record(tr, s);
    }
  }
  uint32_t inplace = 0;
  for (int i = 0; i < n_out; i++) {
    int32_t existing = map_get(tr, out[i]);
    if (existing >= 0 && tr->graph->values[existing].kind == PTL_VALUE_INPUT) {
      /* writing into the caller's input would change it for every later run */
      return record(tr, ptl_error(PTL_ERR_UNSUPPORTED,
                                  "trace: %s writes in place into a graph input; clone it first",
                                  ptl_op_name(op)));
    }
    /* in place into an intermediate, or into a constant: a buffer such as a
     * training-mode BatchNorm's running statistics, updated on every run as in torch */
    if (existing >= 0) {
      out_ids[i] = existing;
      inplace |= 1u << i;
      continue;
    }
    ptl_status s =
        ptl_graph_add_value(tr->graph, PTL_VALUE_INTERMEDIATE, out[i], NULL, NULL, &out_ids[i]);
    if (s == PTL_OK)
      s = map_put(tr, out[i], out_ids[i]);
    if (s != PTL_OK)
      return record(tr, s);
  }
  record(tr, ptl_graph_add_node(tr->graph, op, attrs, in_ids, n_in, out_ids, n_out, inplace));
}

ptl_status ptl_tracer_begin(ptl_tracer **out) {
  if (g_active)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "trace: a trace is already running on this thread (nested jit.trace?)");
  ptl_tracer *tr = calloc(1, sizeof *tr);
  if (!tr)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "trace: out of memory");
  ptl_status s = ptl_graph_create(&tr->graph);
  if (s != PTL_OK) {
    free(tr);
    return s;
  }
  g_active = tr;
  ptl_set_op_observer(observe, tr);
  *out = tr;
  return PTL_OK;
}

ptl_status ptl_tracer_add_input(ptl_tracer *tr, ptl_tensor *t, const char *name) {
  if (map_get(tr, t) >= 0)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "trace: the same tensor is passed as two inputs (%s)", name ? name : "?");
  int32_t id;
  PTL_CHECK(ptl_graph_add_value(tr->graph, PTL_VALUE_INPUT, t, NULL, name, &id));
  PTL_CHECK(ptl_graph_mark_input(tr->graph, id));
  return map_put(tr, t, id);
}

ptl_status ptl_tracer_add_output(ptl_tracer *tr, ptl_tensor *t, const char *name) {
  int32_t id;
  PTL_CHECK(value_of(tr, t, &id));
  if (name && !tr->graph->values[id].name) {
    tr->graph->values[id].name = strdup(name);
    if (!tr->graph->values[id].name)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "trace: out of memory");
  }
  return ptl_graph_mark_output(tr->graph, id);
}

static void release_all(ptl_tracer *tr) {
  if (g_active == tr) {
    g_active = NULL;
    ptl_set_op_observer(NULL, NULL);
  }
  for (size_t i = 0; i < tr->cap; i++)
    ptl_tensor_release(tr->slots[i].key);
  free(tr->slots);
  free(tr);
}

ptl_status ptl_tracer_end(ptl_tracer *tr, ptl_graph **graph_out) {
  ptl_graph *g = tr->graph;
  ptl_status s = tr->error;
  if (s != PTL_OK)
    ptl_error(s, "%s", tr->error_msg);
  release_all(tr);
  if (s == PTL_OK)
    s = ptl_graph_validate(g);
  if (s != PTL_OK) {
    ptl_graph_destroy(g);
    return s;
  }
  *graph_out = g;
  return PTL_OK;
}

void ptl_tracer_abort(ptl_tracer *tr) {
  ptl_graph_destroy(tr->graph);
  release_all(tr);
}
