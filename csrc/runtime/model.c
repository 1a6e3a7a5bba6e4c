/* model.c - the lite runtime's public API: load a .ptl file, run sessions. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pthreadpool.h>

#include "format.h"

struct ptl_model {
  ptl_graph *graph;
  ptl_meta meta;
  uint8_t *owned;         /* file image when loaded from a path */
  ptl_format_owner owner; /* constants borrow the image through this */
  char **input_names, **output_names;
};

struct ptl_session {
  const ptl_model *model;
  ptl_session_options options;
  ptl_tensor **inputs;
  ptl_tensor **outputs;
  ptl_tensor **contiguous_outputs;
  pthreadpool_t pool;      /* this session's threads (NULL: single threaded) */
  ptl_plan *plan;          /* made on the first run */
  ptl_packed_scope *scope; /* this session's packed weights */
};

static ptl_status model_from_image(const uint8_t *data, size_t size, uint8_t *owned,
                                   ptl_model **out) {
  ptl_model *m = calloc(1, sizeof *m);
  if (!m) {
    free(owned);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory loading a model");
  }
  m->owned = owned;
  /* The image lives as long as the model: constants need no reference counting. */
  ptl_status s = ptl_format_read(data, size, &m->owner, &m->graph, &m->meta);
  if (s != PTL_OK) {
    ptl_model_destroy(m);
    return s;
  }
  *out = m;
  return PTL_OK;
}

ptl_status ptl_model_load_buffer(const void *data, size_t size, ptl_model **out) {
  if (!data || !out)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "ptl_model_load_buffer: NULL argument");
  return model_from_image(data, size, NULL, out);
}

ptl_status ptl_model_load_file(const char *path, ptl_model **out) {
  if (!path || !out)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "ptl_model_load_file: NULL argument");
  struct stat st;
  if (stat(path, &st) != 0)
    return ptl_error(PTL_ERR_IO, "cannot open model file '%s': %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return ptl_error(PTL_ERR_IO, "cannot load model '%s': it is a directory", path);
  FILE *f = fopen(path, "rb");
  if (!f)
    return ptl_error(PTL_ERR_IO, "cannot open model file '%s': %s", path, strerror(errno));
  size_t size = (size_t)st.st_size;
  uint8_t *buf = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
  if (!buf) {
    fclose(f);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory reading '%s' (%zu bytes)", path, size);
  }
  size_t got = fread(buf, 1, size, f);
  int err = ferror(f);
  fclose(f);
  if (got != size || err) {
    free(buf);
    return ptl_error(PTL_ERR_IO, "error reading model file '%s' (%zu of %zu bytes)", path, got,
                     size);
  }
  if (size == 0) {
    free(buf);
    return ptl_error(PTL_ERR_CORRUPT_FILE, "cannot load model '%s': the file is empty", path);
  }
  return model_from_image(buf, size, buf, out);
}

void ptl_model_destroy(ptl_model *m) {
  if (!m)
    return;
  ptl_graph_destroy(m->graph);
  ptl_meta_clear(&m->meta);
  free(m->owned);
  free(m);
}

int ptl_model_input_count(const ptl_model *m) {
  return m->graph->n_inputs;
}
int ptl_model_output_count(const ptl_model *m) {
  return m->graph->n_outputs;
}
int ptl_model_node_count(const ptl_model *m) {
  return m->graph->n_nodes;
}

static ptl_status value_info(const ptl_model *m, const int32_t *ids, int n, int i, const char *what,
                             const char **name, ptl_dtype *dtype, int *ndim,
                             const int64_t **shape) {
  if (i < 0 || i >= n)
    return ptl_error(PTL_ERR_INDEX, "model has %d %ss; index %d is out of range", n, what, i);
  const ptl_value *v = &m->graph->values[ids[i]];
  if (name)
    *name = v->name ? v->name : "";
  if (dtype)
    *dtype = v->dtype;
  if (ndim)
    *ndim = v->ndim;
  if (shape)
    *shape = v->shape;
  return PTL_OK;
}

ptl_status ptl_model_input_info(const ptl_model *m, int i, const char **name, ptl_dtype *dtype,
                                int *ndim, const int64_t **shape) {
  return value_info(m, m->graph->inputs, m->graph->n_inputs, i, "input", name, dtype, ndim, shape);
}

ptl_status ptl_model_output_info(const ptl_model *m, int i, const char **name, ptl_dtype *dtype,
                                 int *ndim, const int64_t **shape) {
  return value_info(m, m->graph->outputs, m->graph->n_outputs, i, "output", name, dtype, ndim,
                    shape);
}

const void *ptl_model_metadata(const ptl_model *m, const char *key, size_t *size) {
  const ptl_meta_entry *e = ptl_meta_get(&m->meta, key);
  if (size)
    *size = e ? e->size : 0;
  return e ? e->value : NULL;
}

/* ---- sessions ------------------------------------------------------------------ */
ptl_status ptl_session_create(const ptl_model *m, const ptl_session_options *options,
                              ptl_session **out) {
  if (!m || !out)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "ptl_session_create: NULL argument");
  ptl_session *s = calloc(1, sizeof *s);
  int ni = m->graph->n_inputs, no = m->graph->n_outputs;
  if (s) {
    s->inputs = calloc((size_t)(ni ? ni : 1), sizeof(ptl_tensor *));
    s->outputs = calloc((size_t)(no ? no : 1), sizeof(ptl_tensor *));
    s->contiguous_outputs = calloc((size_t)(no ? no : 1), sizeof(ptl_tensor *));
  }
  if (!s || !s->inputs || !s->outputs || !s->contiguous_outputs) {
    ptl_session_destroy(s);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "out of memory creating a session");
  }
  s->model = m;
  if (options)
    s->options = *options;
  if (s->options.num_threads < 0 ||
      (s->options.backend != PTL_BACKEND_AUTO && s->options.backend != PTL_BACKEND_REFERENCE)) {
    ptl_session_destroy(s);
    return ptl_error(PTL_ERR_VALUE, "ptl_session_create: invalid options (threads %d, backend %d)",
                     options->num_threads, (int)options->backend);
  }
  int threads = s->options.num_threads ? s->options.num_threads : ptl_physical_core_count();
  if (threads > 1 && !(s->pool = pthreadpool_create((size_t)threads))) {
    ptl_session_destroy(s);
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "ptl_session_create: could not start %d threads",
                     threads);
  }
  ptl_status sc = ptl_packed_scope_create(&s->scope);
  if (sc != PTL_OK) {
    ptl_session_destroy(s);
    return sc;
  }
  for (int i = 0; i < ni; i++) {
    const ptl_value *v = &m->graph->values[m->graph->inputs[i]];
    if (ptl_dtype_is_quantized(v->dtype)) {
      /* set_input copies bytes only: there is no way to give the scale and zero
       * point, and a model quantizes its float input itself (QuantStub) */
      ptl_session_destroy(s);
      return ptl_error(PTL_ERR_UNSUPPORTED,
                       "ptl_session_create: input %d (%s) is %s; sessions take unquantized "
                       "inputs: quantize inside the model (quantize_per_tensor / QuantStub)",
                       i, v->name ? v->name : "unnamed", ptl_dtype_name(v->dtype));
    }
    ptl_status st = ptl_tensor_create(v->dtype, v->ndim, v->shape, &s->inputs[i]);
    if (st != PTL_OK) {
      ptl_session_destroy(s);
      return st;
    }
    memset(ptl_tensor_data(s->inputs[i]), 0,
           (size_t)ptl_tensor_numel(s->inputs[i]) * ptl_dtype_size(v->dtype));
  }
  /* Plan now: the planning run packs every weight for the fast kernels, so the
   * app pays for packing when it creates the session, not on its first run. */
  ptl_context ctx = {(int)s->options.backend, s->pool, true, s->scope}, saved;
  ptl_context_enter(&ctx, &saved);
  ptl_status ps = ptl_plan_create(m->graph, s->inputs, &s->plan);
  ptl_context_leave(&saved);
  if (ps != PTL_OK) {
    ptl_session_destroy(s);
    return ps;
  }
  *out = s;
  return PTL_OK;
}

static void release_outputs(ptl_session *s) {
  for (int i = 0; i < s->model->graph->n_outputs; i++) {
    ptl_tensor_release(s->contiguous_outputs[i]);
    s->outputs[i] = s->contiguous_outputs[i] = NULL; /* outputs are the plan's */
  }
}

void ptl_session_destroy(ptl_session *s) {
  if (!s)
    return;
  if (s->model) {
    for (int i = 0; s->inputs && i < s->model->graph->n_inputs; i++)
      ptl_tensor_release(s->inputs[i]);
    if (s->outputs && s->contiguous_outputs)
      release_outputs(s);
  }
  free(s->inputs);
  free(s->outputs);
  free(s->contiguous_outputs);
  ptl_plan_destroy(s->plan);
  ptl_packed_scope_destroy(s->scope);
  if (s->pool)
    pthreadpool_destroy(s->pool);
  free(s);
}

ptl_status ptl_session_set_input(ptl_session *s, int i, const void *data, size_t size) {
  if (!s || (!data && size))
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "ptl_session_set_input: NULL argument");
  int n = s->model->graph->n_inputs;
  if (i < 0 || i >= n)
    return ptl_error(PTL_ERR_INDEX, "ptl_session_set_input: model has %d inputs, got index %d", n,
                     i);
  ptl_tensor *t = s->inputs[i];
  size_t want = (size_t)ptl_tensor_numel(t) * ptl_dtype_size(t->dtype);
  if (size != want) {
    char b[PTL_SHAPE_BUF];
    return ptl_error(PTL_ERR_SHAPE,
                     "ptl_session_set_input: input %d is %s %s (%zu bytes), got %zu bytes", i,
                     ptl_dtype_name(t->dtype), ptl_shape_str(t, b, sizeof b), want, size);
  }
  memcpy(ptl_tensor_data(t), data, size);
  ptl_tensor_bump_version(t);
  return PTL_OK;
}

ptl_status ptl_session_run(ptl_session *s) {
  if (!s)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "ptl_session_run: NULL session");
  release_outputs(s);
  ptl_context ctx = {(int)s->options.backend, s->pool, true, s->scope}, saved;
  ptl_context_enter(&ctx, &saved);
  const ptl_graph *g = s->model->graph;
  ptl_status st = ptl_plan_run(s->plan); /* planned by ptl_session_create */
  ptl_context_leave(&saved);
  for (int i = 0; st == PTL_OK && i < g->n_outputs; i++)
    s->outputs[i] = ptl_plan_value(s->plan, g->outputs[i]);
  return st;
}

size_t ptl_session_activation_bytes(const ptl_session *s) {
  return s ? ptl_plan_arena_bytes(s->plan) : 0;
}

ptl_status ptl_session_get_output(ptl_session *s, int i, const void **data, size_t *size) {
  if (!s || !data)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "ptl_session_get_output: NULL argument");
  int n = s->model->graph->n_outputs;
  if (i < 0 || i >= n)
    return ptl_error(PTL_ERR_INDEX, "ptl_session_get_output: model has %d outputs, got index %d", n,
                     i);
  if (!s->outputs[i])
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "ptl_session_get_output: run the session before reading outputs");
  if (!s->contiguous_outputs[i]) {
    ptl_context ctx = {(int)s->options.backend, s->pool, true, s->scope}, saved;
    ptl_context_enter(&ctx, &saved);
    ptl_status st = ptl_tensor_contiguous(s->outputs[i], &s->contiguous_outputs[i]);
    ptl_context_leave(&saved);
    PTL_CHECK(st);
  }
  const ptl_tensor *t = s->contiguous_outputs[i];
  *data = ptl_tensor_data(t);
  if (size)
    *size = (size_t)ptl_tensor_numel(t) * ptl_dtype_size(t->dtype);
  return PTL_OK;
}

ptl_status ptl_session_get_output_qparams(ptl_session *s, int i, int *axis_out, int64_t *count_out,
                                          const float **scales_out,
                                          const int32_t **zero_points_out) {
  if (!s)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "ptl_session_get_output_qparams: NULL session");
  int n = s->model->graph->n_outputs;
  if (i < 0 || i >= n)
    return ptl_error(PTL_ERR_INDEX,
                     "ptl_session_get_output_qparams: model has %d outputs, got index %d", n, i);
  if (!s->outputs[i])
    return ptl_error(PTL_ERR_INVALID_ARGUMENT,
                     "ptl_session_get_output_qparams: run the session before reading outputs");
  const ptl_tensor *t = s->outputs[i];
  if (!ptl_dtype_is_quantized(t->dtype) || !t->qparams)
    return ptl_error(PTL_ERR_DTYPE,
                     "ptl_session_get_output_qparams: output %d is %s, not a quantized tensor", i,
                     ptl_dtype_name(t->dtype));
  /* the kernel that computed the output attached these during this run */
  const ptl_qparams *q = t->qparams;
  bool per_channel =
      q->scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE || q->scheme == PTL_QSCHEME_PER_CHANNEL_SYMMETRIC;
  if (axis_out)
    *axis_out = per_channel ? q->axis : -1;
  if (count_out)
    *count_out = q->count;
  if (scales_out)
    *scales_out = q->scale;
  if (zero_points_out)
    *zero_points_out = q->zero_point;
  return PTL_OK;
}
