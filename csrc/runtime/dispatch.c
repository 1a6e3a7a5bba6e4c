/* dispatch.c - the op table and ptl_op_run: validate, infer, allocate, run. */
#include <string.h>

#include "graph.h"
#include "internal.h"

/* Indexed by op id (ids are sparse, so some slots are empty). */
static const ptl_op_def k_ops[PTL_OP_ID_LIMIT] = {
#define PTL_OP(ENUM, ID, NAME, VERSION, KIND, MIN_IN, MAX_IN, N_OUT, INFER, REF, FAST)             \
  [ID] = {PTL_OP_##ENUM, NAME, VERSION, KIND, MIN_IN, MAX_IN, N_OUT, INFER, REF, FAST},
#include "ops.def"
#undef PTL_OP
};

const ptl_op_def *ptl_op_lookup(ptl_op_id op) {
  if ((unsigned)op >= PTL_OP_ID_LIMIT || !k_ops[op].name)
    return NULL;
  return &k_ops[op];
}

const char *ptl_op_name(ptl_op_id op) {
  const ptl_op_def *d = ptl_op_lookup(op);
  return d ? d->name : NULL;
}

int ptl_op_version(ptl_op_id op) {
  const ptl_op_def *d = ptl_op_lookup(op);
  return d ? d->version : 0;
}

static bool same_geometry(const ptl_tensor *t, const ptl_tensor_desc *d) {
  if (t->dtype != d->dtype || t->ndim != d->ndim)
    return false;
  return memcmp(t->shape, d->shape, sizeof(int64_t) * (size_t)d->ndim) == 0;
}

/* Capture hook: only top-level ops are reported, not the ones kernels run
 * internally (a layout copy inside conv, say). */
static _Thread_local ptl_op_observer_fn g_observer;
static _Thread_local void *g_observer_ctx;
static _Thread_local int g_depth;
static _Thread_local int g_last_fast;

int ptl_last_op_was_fast(void) {
  return g_last_fast;
}

void ptl_set_op_observer(ptl_op_observer_fn fn, void *ctx) {
  g_observer = fn;
  g_observer_ctx = ctx;
}

void ptl_get_op_observer(ptl_op_observer_fn *fn, void **ctx) {
  *fn = g_observer;
  *ctx = g_observer_ctx;
}

static ptl_status op_run(ptl_op_id op, const ptl_attrs *attrs, ptl_tensor *const *inputs,
                         int n_inputs, ptl_tensor **outputs, int n_outputs);

ptl_status ptl_op_run(ptl_op_id op, const ptl_attrs *attrs, ptl_tensor *const *inputs, int n_inputs,
                      ptl_tensor **outputs, int n_outputs) {
  g_depth++;
  ptl_status s = op_run(op, attrs, inputs, n_inputs, outputs, n_outputs);
  g_depth--;
  if (s == PTL_OK && g_observer && g_depth == 0) {
    static const ptl_attrs k_none;
    g_observer(g_observer_ctx, op, attrs ? attrs : &k_none, inputs, n_inputs, outputs, n_outputs);
  }
  return s;
}

static ptl_status op_run(ptl_op_id op, const ptl_attrs *attrs, ptl_tensor *const *inputs,
                         int n_inputs, ptl_tensor **outputs, int n_outputs) {
  const ptl_op_def *def = ptl_op_lookup(op);
  if (!def)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "unknown op id %d", (int)op);
  if (n_inputs < def->min_in || n_inputs > def->max_in)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: expected %d to %d inputs, got %d", def->name,
                     def->min_in, def->max_in, n_inputs);
  if (n_outputs != def->n_out)
    return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: expected %d outputs, got %d", def->name,
                     def->n_out, n_outputs);
  for (int i = 0; i < def->min_in; i++)
    if (!inputs[i])
      return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s: input %d is required but was None", def->name,
                       i);
  static const ptl_attrs k_no_attrs;
  ptl_call call = {
      op, attrs ? attrs : &k_no_attrs, inputs, n_inputs, outputs, n_outputs, ptl_get_backend()};
  ptl_tensor_desc desc[4];
  memset(desc, 0, sizeof desc);
  PTL_CHECK(def->infer(&call, desc));

  if (def->kind == PTL_KIND_VIEW) {
    if (outputs[0])
      return ptl_error(PTL_ERR_INVALID_ARGUMENT, "%s returns a view and takes no out tensor",
                       def->name);
    if (g_depth == 1)
      g_last_fast = 0;
    return def->ref(&call);
  }

  bool allocated[4] = {false};
  ptl_status s = PTL_OK;
  for (int i = 0; i < n_outputs && s == PTL_OK; i++) {
    if (outputs[i]) {
      if (!same_geometry(outputs[i], &desc[i])) {
        char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
        s = ptl_error(PTL_ERR_SHAPE, "%s: output %d is %s %s but the result is %s %s", def->name, i,
                      ptl_dtype_name(outputs[i]->dtype), ptl_shape_str(outputs[i], b1, sizeof b1),
                      ptl_dtype_name(desc[i].dtype),
                      ptl_dims_str(desc[i].ndim, desc[i].shape, b2, sizeof b2));
      }
    } else {
      s = ptl_tensor_from_desc(&desc[i], &outputs[i]);
      allocated[i] = s == PTL_OK;
    }
  }
  if (s == PTL_OK) {
    s = PTL_ERR_UNSUPPORTED;
    if (call.backend == PTL_BACKEND_AUTO && def->fast != ptl_no_fast)
      s = def->fast(&call);
    if (g_depth == 1)
      g_last_fast = s != PTL_ERR_UNSUPPORTED;
    if (s == PTL_ERR_UNSUPPORTED)
      s = def->ref(&call);
  }
  for (int i = 0; i < n_outputs; i++) {
    if (s != PTL_OK && allocated[i]) {
      ptl_tensor_release(outputs[i]);
      outputs[i] = NULL;
    } else if (s == PTL_OK) {
      ptl_tensor_bump_version(outputs[i]);
    }
  }
  return s;
}
