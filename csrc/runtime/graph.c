/* graph.c - graph IR construction, validation and the interpreter. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "graph.h"

ptl_status ptl_graph_create(ptl_graph **out) {
  *out = calloc(1, sizeof **out);
  if (!*out)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory creating a graph");
  return PTL_OK;
}

void ptl_graph_destroy(ptl_graph *g) {
  if (!g)
    return;
  for (int32_t i = 0; i < g->n_values; i++) {
    ptl_tensor_release(g->values[i].constant);
    free(g->values[i].name);
  }
  for (int32_t i = 0; i < g->n_nodes; i++) {
    free(g->nodes[i].in);
    free(g->nodes[i].out);
  }
  free(g->values);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g);
}

/* Grows *arr (of `size`-byte items) to hold at least need items. */
static ptl_status grow(void **arr, int32_t *cap, int32_t need, size_t size) {
  if (need <= *cap)
    return PTL_OK;
  int32_t n = *cap ? *cap * 2 : 16;
  while (n < need)
    n *= 2;
  void *p = realloc(*arr, (size_t)n * size);
  if (!p)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory growing a graph");
  memset((char *)p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
  *arr = p;
  *cap = n;
  return PTL_OK;
}

ptl_status ptl_graph_add_value(ptl_graph *g, ptl_value_kind kind, const ptl_tensor *like,
                               ptl_tensor *constant, const char *name, int32_t *id_out) {
  PTL_CHECK(grow((void **)&g->values, &g->cap_values, g->n_values + 1, sizeof(ptl_value)));
  ptl_value *v = &g->values[g->n_values];
  memset(v, 0, sizeof *v);
  v->kind = kind;
  v->producer = -1;
  if (like) {
    v->dtype = like->dtype;
    v->ndim = like->ndim;
    memcpy(v->shape, like->shape, sizeof(int64_t) * (size_t)like->ndim);
  }
  if (name) {
    v->name = strdup(name);
    if (!v->name)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory naming a value");
  }
  if (constant) {
    ptl_tensor_retain(constant);
    v->constant = constant;
  }
  *id_out = g->n_values++;
  return PTL_OK;
}

ptl_status ptl_graph_add_node(ptl_graph *g, ptl_op_id op, const ptl_attrs *attrs, const int32_t *in,
                              int n_in, const int32_t *out, int n_out, uint32_t inplace) {
  PTL_CHECK(grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1, sizeof(ptl_node)));
  ptl_node *nd = &g->nodes[g->n_nodes];
  memset(nd, 0, sizeof *nd);
  nd->op = op;
  if (attrs)
    nd->attrs = *attrs;
  nd->n_in = n_in;
  nd->n_out = n_out;
  nd->inplace = inplace;
  nd->in = malloc(sizeof(int32_t) * (size_t)(n_in ? n_in : 1));
  nd->out = malloc(sizeof(int32_t) * (size_t)(n_out ? n_out : 1));
  if (!nd->in || !nd->out) {
    free(nd->in);
    free(nd->out);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory adding a node");
  }
  memcpy(nd->in, in, sizeof(int32_t) * (size_t)n_in);
  memcpy(nd->out, out, sizeof(int32_t) * (size_t)n_out);
  for (int i = 0; i < n_out; i++)
    if (out[i] >= 0 && out[i] < g->n_values && !(inplace & (1u << i)))
      g->values[out[i]].producer = g->n_nodes;
  g->n_nodes++;
  return PTL_OK;
}

ptl_status ptl_graph_mark_input(ptl_graph *g, int32_t value) {
  PTL_CHECK(grow((void **)&g->inputs, &g->cap_inputs, g->n_inputs + 1, sizeof(int32_t)));
  g->inputs[g->n_inputs++] = value;
  return PTL_OK;
}

ptl_status ptl_graph_mark_output(ptl_graph *g, int32_t value) {
  PTL_CHECK(grow((void **)&g->outputs, &g->cap_outputs, g->n_outputs + 1, sizeof(int32_t)));
  g->outputs[g->n_outputs++] = value;
  return PTL_OK;
}

ptl_status ptl_graph_validate(const ptl_graph *g) {
  char *defined = calloc((size_t)(g->n_values ? g->n_values : 1), 1);
  if (!defined)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory validating a graph");
  ptl_status s = PTL_OK;
  for (int32_t i = 0; i < g->n_values; i++) {
    const ptl_value *v = &g->values[i];
    if (v->kind == PTL_VALUE_CONSTANT && !v->constant) {
      s = ptl_error(PTL_ERR_CORRUPT_FILE, "graph: constant value %d has no data", i);
      goto done;
    }
    if (v->kind == PTL_VALUE_CONSTANT)
      defined[i] = 1;
  }
  for (int32_t i = 0; i < g->n_inputs; i++) {
    int32_t v = g->inputs[i];
    if (v < 0 || v >= g->n_values || g->values[v].kind != PTL_VALUE_INPUT) {
      s = ptl_error(PTL_ERR_CORRUPT_FILE, "graph: input %d refers to invalid value %d", i, v);
      goto done;
    }
    defined[v] = 1;
  }
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    const ptl_op_def *def = ptl_op_lookup(nd->op);
    if (!def) {
      s = ptl_error(PTL_ERR_CORRUPT_FILE, "graph: node %d has unknown op id %d", n, (int)nd->op);
      goto done;
    }
    if (nd->n_in < def->min_in || nd->n_in > def->max_in || nd->n_out != def->n_out ||
        nd->attrs.n_ints < 0 || nd->attrs.n_ints > PTL_MAX_INT_ATTRS || nd->attrs.n_floats < 0 ||
        nd->attrs.n_floats > PTL_MAX_FLOAT_ATTRS) {
      s = ptl_error(PTL_ERR_CORRUPT_FILE, "graph: node %d (%s) has %d inputs and %d outputs", n,
                    def->name, nd->n_in, nd->n_out);
      goto done;
    }
    for (int i = 0; i < nd->n_in; i++) {
      int32_t v = nd->in[i];
      bool optional_absent = v == -1 && i >= def->min_in;
      if (!optional_absent && (v < 0 || v >= g->n_values || !defined[v])) {
        s = ptl_error(PTL_ERR_CORRUPT_FILE,
                      "graph: node %d (%s) input %d uses value %d before it is defined", n,
                      def->name, i, v);
        goto done;
      }
    }
    for (int i = 0; i < nd->n_out; i++) {
      int32_t v = nd->out[i];
      bool inplace = nd->inplace & (1u << i);
      if (inplace && v >= 0 && v < g->n_values && defined[v] &&
          g->values[v].kind != PTL_VALUE_INPUT)
        continue; /* writes into a value computed earlier, or into a buffer */
      if (inplace || v < 0 || v >= g->n_values || g->values[v].kind != PTL_VALUE_INTERMEDIATE ||
          defined[v]) {
        s = ptl_error(PTL_ERR_CORRUPT_FILE, "graph: node %d (%s) output %d: bad value %d", n,
                      def->name, i, v);
        goto done;
      }
      defined[v] = 1;
    }
  }
  for (int32_t i = 0; i < g->n_outputs; i++) {
    int32_t v = g->outputs[i];
    if (v < 0 || v >= g->n_values || !defined[v]) {
      s = ptl_error(PTL_ERR_CORRUPT_FILE, "graph: output %d refers to undefined value %d", i, v);
      goto done;
    }
  }
done:
  free(defined);
  return s;
}

ptl_status ptl_graph_run(const ptl_graph *g, ptl_tensor *const *inputs, int n_inputs,
                         ptl_tensor **outputs, int n_outputs) {
  return ptl_graph_run_profiled(g, inputs, n_inputs, outputs, n_outputs, NULL);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

ptl_status ptl_graph_run_profiled(const ptl_graph *g, ptl_tensor *const *inputs, int n_inputs,
                                  ptl_tensor **outputs, int n_outputs, ptl_node_profile *profile) {
  if (n_inputs != g->n_inputs)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "graph expects %d inputs, got %d", g->n_inputs,
                     n_inputs);
  if (n_outputs != g->n_outputs)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "graph has %d outputs, %d requested", g->n_outputs,
                     n_outputs);
  for (int i = 0; i < n_inputs; i++) {
    const ptl_value *v = &g->values[g->inputs[i]];
    if (!inputs[i] || inputs[i]->dtype != v->dtype || inputs[i]->ndim != v->ndim ||
        memcmp(inputs[i]->shape, v->shape, sizeof(int64_t) * (size_t)v->ndim) != 0) {
      char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
      return ptl_error(PTL_ERR_SHAPE, "graph input %d (%s): expected %s %s, got %s %s", i,
                       v->name ? v->name : "?", ptl_dtype_name(v->dtype),
                       ptl_dims_str(v->ndim, v->shape, b1, sizeof b1),
                       inputs[i] ? ptl_dtype_name(inputs[i]->dtype) : "None",
                       ptl_shape_str(inputs[i], b2, sizeof b2));
    }
  }
  /* last use of every value, so intermediates are freed as early as possible */
  int32_t *last = malloc(sizeof(int32_t) * (size_t)(g->n_values ? g->n_values : 1));
  ptl_tensor **val = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(ptl_tensor *));
  if (!last || !val) {
    free(last);
    free(val);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory running a graph");
  }
  for (int32_t i = 0; i < g->n_values; i++)
    last[i] = -1;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    for (int i = 0; i < g->nodes[n].n_in; i++)
      if (g->nodes[n].in[i] >= 0)
        last[g->nodes[n].in[i]] = n;
    for (int i = 0; i < g->nodes[n].n_out; i++)
      if (g->nodes[n].inplace & (1u << i))
        last[g->nodes[n].out[i]] = n;
  }
  for (int32_t i = 0; i < g->n_outputs; i++)
    last[g->outputs[i]] = g->n_nodes; /* kept to the end */
  for (int32_t i = 0; i < g->n_values; i++)
    if (g->values[i].kind == PTL_VALUE_CONSTANT)
      val[i] = g->values[i].constant; /* borrowed from the graph */
  for (int i = 0; i < n_inputs; i++)
    val[g->inputs[i]] = inputs[i]; /* borrowed from the caller */

  ptl_status s = PTL_OK;
  ptl_tensor *ins[64];
  for (int32_t n = 0; n < g->n_nodes && s == PTL_OK; n++) {
    const ptl_node *nd = &g->nodes[n];
    for (int i = 0; i < nd->n_in && i < 64; i++)
      ins[i] = nd->in[i] >= 0 ? val[nd->in[i]] : NULL;
    ptl_tensor *outs[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < nd->n_out; i++)
      if (nd->inplace & (1u << i))
        outs[i] = val[nd->out[i]];
    double t0 = profile ? now_seconds() : 0.0;
    s = ptl_op_run(nd->op, &nd->attrs, ins, nd->n_in, outs, nd->n_out);
    if (s != PTL_OK)
      break;
    if (profile) {
      profile[n].seconds += now_seconds() - t0;
      profile[n].runs++;
      profile[n].fast = ptl_last_op_was_fast();
    }
    for (int i = 0; i < nd->n_out; i++)
      val[nd->out[i]] = outs[i];
    for (int k = 0; k < nd->n_in + nd->n_out; k++) {
      int32_t v = k < nd->n_in ? nd->in[k] : nd->out[k - nd->n_in];
      if (v >= 0 && last[v] == n && g->values[v].kind == PTL_VALUE_INTERMEDIATE) {
        ptl_tensor_release(val[v]);
        val[v] = NULL;
        last[v] = -2; /* released (a value may appear twice) */
      }
    }
  }
  if (s == PTL_OK)
    for (int i = 0; i < n_outputs; i++) {
      outputs[i] = val[g->outputs[i]];
      ptl_tensor_retain(outputs[i]);
    }
  for (int32_t i = 0; i < g->n_values; i++)
    if (g->values[i].kind == PTL_VALUE_INTERMEDIATE && last[i] != -2)
      ptl_tensor_release(val[i]);
  free(last);
  free(val);
  return s;
}

/* ---- CRC-32 ------------------------------------------------------------------ */
/* IEEE 802.3 polynomial (zlib's crc32), slice-by-8: eight table lookups per
 * 8 bytes, about 2 GB/s, so checking a model's weights costs little at load. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    crc_table[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++)
    for (int t = 1; t < 8; t++)
      crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t ptl_crc32(uint32_t crc, const void *data, size_t n) {
  pthread_once(&crc_once, crc_init);
  const unsigned char *p = data;
  crc = ~crc;
  while (n && ((uintptr_t)p & 7)) {
    crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    n--;
  }
  while (n >= 8) {
    uint32_t lo =
        crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    uint32_t hi =
        (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
          crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
          crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n--)
    crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return ~crc;
}
