/* graph_binding.c - tracing and graph execution for ptlite.jit. */
#include "../compiler/passes/pass.h"
#include "../compiler/trace.h"
#include "../runtime/format.h"
#include "binding.h"

#include <string.h>

static const char *k_tracer = "ptlite.tracer";
static const char *k_graph = "ptlite.graph";

static void graph_capsule_free(PyObject *cap) {
  ptl_graph_destroy(PyCapsule_GetPointer(cap, k_graph));
}

static ptl_graph *graph_of(PyObject *cap) {
  return PyCapsule_GetPointer(cap, k_graph);
}

static ptl_tracer *tracer_of(PyObject *cap) {
  ptl_tracer *tr = PyCapsule_GetPointer(cap, k_tracer);
  if (tr && !PyCapsule_GetContext(cap)) {
    PyErr_SetString(PyExc_RuntimeError, "trace: this tracer has already ended");
    return NULL;
  }
  return tr;
}

static void tracer_capsule_free(PyObject *cap) {
  /* a tracer dropped without trace_end (an exception escaped) is aborted */
  if (PyCapsule_GetContext(cap))
    ptl_tracer_abort(PyCapsule_GetPointer(cap, k_tracer));
}

static PyObject *py_trace_begin(PyObject *m, PyObject *unused) {
  (void)m;
  (void)unused;
  ptl_tracer *tr;
  ptl_status s = ptl_tracer_begin(&tr);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  PyObject *cap = PyCapsule_New(tr, k_tracer, tracer_capsule_free);
  if (!cap) {
    ptl_tracer_abort(tr);
    return NULL;
  }
  PyCapsule_SetContext(cap, (void *)1); /* live */
  return cap;
}

static PyObject *py_trace_input(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *t;
  const char *name;
  if (!PyArg_ParseTuple(args, "OOs", &cap, &t, &name))
    return NULL;
  ptl_tracer *tr = tracer_of(cap);
  if (!tr)
    return NULL;
  if (!ptlpy_is_tensor(t))
    return PyErr_Format(PyExc_TypeError, "trace inputs must be Tensors, got %s",
                        Py_TYPE(t)->tp_name);
  ptl_status s = ptl_tracer_add_input(tr, ptlpy_tensor(t), name);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  Py_RETURN_NONE;
}

static PyObject *py_trace_abort(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_tracer *tr = tracer_of(cap);
  if (!tr)
    return NULL;
  PyCapsule_SetContext(cap, NULL);
  ptl_tracer_abort(tr);
  Py_RETURN_NONE;
}

/* trace_end(tracer, outputs: sequence of Tensor, names: sequence of str) -> graph */
static PyObject *py_trace_end(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *outs, *names;
  if (!PyArg_ParseTuple(args, "OOO", &cap, &outs, &names))
    return NULL;
  ptl_tracer *tr = tracer_of(cap);
  if (!tr)
    return NULL;
  PyCapsule_SetContext(cap, NULL);
  PyObject *fo = PySequence_Fast(outs, "outputs must be a sequence");
  PyObject *fn = fo ? PySequence_Fast(names, "names must be a sequence") : NULL;
  if (!fo || !fn) {
    Py_XDECREF(fo);
    ptl_tracer_abort(tr);
    return NULL;
  }
  ptl_status s = PTL_OK;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fo) && s == PTL_OK; i++) {
    PyObject *t = PySequence_Fast_GET_ITEM(fo, i);
    const char *name = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fn, i));
    if (!ptlpy_is_tensor(t) || !name) {
      PyErr_Clear();
      PyErr_SetString(PyExc_TypeError, "trace outputs must be Tensors with str names");
      Py_DECREF(fo);
      Py_DECREF(fn);
      ptl_tracer_abort(tr);
      return NULL;
    }
    s = ptl_tracer_add_output(tr, ptlpy_tensor(t), name);
  }
  Py_DECREF(fo);
  Py_DECREF(fn);
  if (s != PTL_OK) {
    ptl_tracer_abort(tr);
    return ptlpy_raise(s);
  }
  ptl_graph *g;
  s = ptl_tracer_end(tr, &g);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  PyObject *gc = PyCapsule_New(g, k_graph, graph_capsule_free);
  if (!gc)
    ptl_graph_destroy(g);
  return gc;
}

/* Fills in[] from a sequence of exactly g->n_inputs tensors (at most 64). */
static int parse_inputs(const ptl_graph *g, PyObject *inputs, ptl_tensor **in) {
  PyObject *fi = PySequence_Fast(inputs, "inputs must be a sequence");
  if (!fi)
    return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fi);
  if (n != g->n_inputs || n > 64) {
    PyErr_Format(PyExc_ValueError, "the graph has %d inputs, got %zd", g->n_inputs, n);
    Py_DECREF(fi);
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *t = PySequence_Fast_GET_ITEM(fi, i);
    if (!ptlpy_is_tensor(t)) {
      PyErr_Format(PyExc_TypeError, "graph input %zd must be a Tensor, got %s", i,
                   Py_TYPE(t)->tp_name);
      Py_DECREF(fi);
      return -1;
    }
    in[i] = ptlpy_tensor(t);
  }
  Py_DECREF(fi);
  return 0;
}

/* graph_run(graph, inputs: sequence of Tensor, profile: list | None = None) -> tuple of
 * Tensor. With a list, per-node [seconds, runs, fast] entries are accumulated into it
 * (created on the first call). */
static PyObject *py_graph_run(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *inputs, *prof_list = Py_None;
  if (!PyArg_ParseTuple(args, "OO|O", &cap, &inputs, &prof_list))
    return NULL;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  ptl_tensor *in[64];
  ptl_tensor *out[64];
  if (g->n_outputs > 64)
    return PyErr_Format(PyExc_ValueError, "at most 64 graph outputs");
  if (parse_inputs(g, inputs, in) < 0)
    return NULL;
  ptl_node_profile *prof = NULL;
  if (prof_list != Py_None) {
    if (!PyList_Check(prof_list))
      return PyErr_Format(PyExc_TypeError, "profile must be a list");
    prof = PyMem_Calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *prof);
    if (!prof)
      return PyErr_NoMemory();
  }
  ptl_status s = ptl_graph_run_profiled(g, in, g->n_inputs, out, g->n_outputs, prof);
  if (prof && s == PTL_OK) {
    bool fresh = PyList_GET_SIZE(prof_list) == 0;
    for (int32_t k = 0; k < g->n_nodes; k++) {
      PyObject *row = fresh ? Py_BuildValue("[dii]", 0.0, 0, 0) : PyList_GetItem(prof_list, k);
      if (!row || !PyList_Check(row) || PyList_GET_SIZE(row) != 3) {
        PyMem_Free(prof);
        if (!PyErr_Occurred())
          PyErr_SetString(PyExc_ValueError, "profile list does not match this graph");
        return NULL;
      }
      double secs = PyFloat_AsDouble(PyList_GET_ITEM(row, 0)) + prof[k].seconds;
      long runs = PyLong_AsLong(PyList_GET_ITEM(row, 1)) + prof[k].runs;
      PyList_SetItem(row, 0, PyFloat_FromDouble(secs));
      PyList_SetItem(row, 1, PyLong_FromLong(runs));
      PyList_SetItem(row, 2, PyLong_FromLong(prof[k].fast));
      if (fresh) {
        PyList_Append(prof_list, row);
        Py_DECREF(row);
      }
    }
  }
  PyMem_Free(prof);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  PyObject *res = PyTuple_New(g->n_outputs);
  for (int i = 0; i < g->n_outputs; i++) {
    PyObject *w = res ? ptlpy_wrap(out[i]) : NULL;
    if (!w) {
      for (int j = res ? i + 1 : i; j < g->n_outputs; j++)
        ptl_tensor_release(out[j]);
      Py_XDECREF(res);
      return NULL;
    }
    PyTuple_SET_ITEM(res, i, w);
  }
  return res;
}

static PyObject *ints_tuple(const int32_t *v, int n) {
  PyObject *t = PyTuple_New(n);
  for (int i = 0; t && i < n; i++)
    PyTuple_SET_ITEM(t, i, PyLong_FromLong(v[i]));
  return t;
}

/* graph_info(graph) -> dict(values=[(kind, dtype, shape, name, constant)], nodes=[(op_name,
 * ints, floats, inputs, outputs)], inputs=(...), outputs=(...)) */
static PyObject *py_graph_info(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  PyObject *values = PyList_New(g->n_values), *nodes = PyList_New(g->n_nodes);
  if (!values || !nodes)
    goto fail;
  for (int32_t i = 0; i < g->n_values; i++) {
    const ptl_value *v = &g->values[i];
    PyObject *shape = PyTuple_New(v->ndim);
    for (int d = 0; shape && d < v->ndim; d++)
      PyTuple_SET_ITEM(shape, d, PyLong_FromLongLong(v->shape[d]));
    PyObject *c = Py_None;
    if (v->constant) {
      ptl_tensor_retain(v->constant);
      c = ptlpy_wrap(v->constant);
    } else {
      Py_INCREF(c);
    }
    PyObject *item = (shape && c)
                         ? Py_BuildValue("(iiNzN)", (int)v->kind, (int)v->dtype, shape, v->name, c)
                         : NULL;
    if (!item)
      goto fail;
    PyList_SET_ITEM(values, i, item);
  }
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    PyObject *ints = PyTuple_New(nd->attrs.n_ints), *floats = PyTuple_New(nd->attrs.n_floats);
    for (int k = 0; ints && k < nd->attrs.n_ints; k++)
      PyTuple_SET_ITEM(ints, k, PyLong_FromLongLong(nd->attrs.ints[k]));
    for (int k = 0; floats && k < nd->attrs.n_floats; k++)
      PyTuple_SET_ITEM(floats, k, PyFloat_FromDouble(nd->attrs.floats[k]));
    PyObject *item = (ints && floats) ? Py_BuildValue("(sNNNN)", ptl_op_name(nd->op), ints, floats,
                                                      ints_tuple(nd->in, nd->n_in),
                                                      ints_tuple(nd->out, nd->n_out))
                                      : NULL;
    if (!item)
      goto fail;
    PyList_SET_ITEM(nodes, n, item);
  }
  return Py_BuildValue("{sNsNsNsN}", "values", values, "nodes", nodes, "inputs",
                       ints_tuple(g->inputs, g->n_inputs), "outputs",
                       ints_tuple(g->outputs, g->n_outputs));
fail:
  Py_XDECREF(values);
  Py_XDECREF(nodes);
  return NULL;
}

/* graph_set_name(graph, value_id, name) */
static PyObject *py_graph_set_name(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap;
  int id;
  const char *name;
  if (!PyArg_ParseTuple(args, "Ois", &cap, &id, &name))
    return NULL;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  if (id < 0 || id >= g->n_values)
    return PyErr_Format(PyExc_IndexError, "graph has %d values, got id %d", g->n_values, id);
  char *copy = strdup(name);
  if (!copy)
    return PyErr_NoMemory();
  free(g->values[id].name);
  g->values[id].name = copy;
  Py_RETURN_NONE;
}

/* graph_save(graph, metadata: dict[str, bytes]) -> bytes (the .ptl image) */
static PyObject *py_graph_save(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *meta_dict;
  if (!PyArg_ParseTuple(args, "OO!", &cap, &PyDict_Type, &meta_dict))
    return NULL;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  ptl_meta meta = {0};
  PyObject *key, *value;
  Py_ssize_t pos = 0;
  while (PyDict_Next(meta_dict, &pos, &key, &value)) {
    const char *k = PyUnicode_AsUTF8(key);
    if (!k || !PyBytes_Check(value)) {
      ptl_meta_clear(&meta);
      if (!PyErr_Occurred())
        PyErr_SetString(PyExc_TypeError, "metadata must map str to bytes");
      return NULL;
    }
    ptl_status s =
        ptl_meta_set(&meta, k, PyBytes_AS_STRING(value), (size_t)PyBytes_GET_SIZE(value));
    if (s != PTL_OK) {
      ptl_meta_clear(&meta);
      return ptlpy_raise(s);
    }
  }
  uint8_t *data;
  size_t size;
  ptl_status s = ptl_format_write(g, &meta, &data, &size);
  ptl_meta_clear(&meta);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  PyObject *res = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
  free(data);
  return res;
}

/* Constants of a loaded graph borrow the Python buffer they were read from. */
typedef struct {
  ptl_format_owner owner;
  Py_buffer view;
  int refs; /* under the GIL or single-threaded: constants die with Python objects */
} py_image;

static void image_retain(void *ctx) {
  py_image *im = ctx;
  im->refs++;
}

static void image_release(void *ctx) {
  py_image *im = ctx;
  if (--im->refs > 0)
    return;
  PyGILState_STATE st = PyGILState_Ensure();
  PyBuffer_Release(&im->view);
  PyMem_RawFree(im);
  PyGILState_Release(st);
}

/* graph_load(buffer) -> (graph, metadata: dict[str, bytes]); weights are not copied */
static PyObject *py_graph_load(PyObject *m, PyObject *obj) {
  (void)m;
  py_image *im = PyMem_RawCalloc(1, sizeof *im);
  if (!im)
    return PyErr_NoMemory();
  if (PyObject_GetBuffer(obj, &im->view, PyBUF_SIMPLE) < 0) {
    PyMem_RawFree(im);
    return NULL;
  }
  im->owner.retain = image_retain;
  im->owner.release = image_release;
  im->owner.ctx = im;
  im->refs = 1; /* held by this call until the end */
  ptl_graph *g = NULL;
  ptl_meta meta = {0};
  ptl_status s = ptl_format_read(im->view.buf, (size_t)im->view.len, &im->owner, &g, &meta);
  PyObject *res = NULL;
  if (s != PTL_OK) {
    ptlpy_raise(s);
  } else {
    PyObject *d = PyDict_New();
    for (int32_t i = 0; d && i < meta.count; i++) {
      PyObject *v = PyBytes_FromStringAndSize((const char *)meta.entries[i].value,
                                              (Py_ssize_t)meta.entries[i].size);
      if (!v || PyDict_SetItemString(d, meta.entries[i].key, v) < 0)
        Py_CLEAR(d);
      Py_XDECREF(v);
    }
    PyObject *gc = d ? PyCapsule_New(g, k_graph, graph_capsule_free) : NULL;
    if (gc) {
      g = NULL;
      res = Py_BuildValue("(NN)", gc, d);
    } else {
      Py_XDECREF(d);
    }
  }
  ptl_graph_destroy(g);
  ptl_meta_clear(&meta);
  image_release(im);
  return res;
}

/* graph_plan_bytes(graph, inputs) -> bytes of the activation arena a session plans */
static PyObject *py_graph_plan_bytes(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *inputs;
  if (!PyArg_ParseTuple(args, "OO", &cap, &inputs))
    return NULL;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  ptl_tensor *in[64];
  if (parse_inputs(g, inputs, in) < 0)
    return NULL;
  ptl_plan *plan;
  ptl_status s = ptl_plan_create(g, in, &plan);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  size_t bytes = ptl_plan_arena_bytes(plan);
  ptl_plan_destroy(plan);
  return PyLong_FromSize_t(bytes);
}

/* graph_clone(graph) -> graph (constants shared) */
static PyObject *py_graph_clone(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_graph *g = graph_of(cap), *c;
  if (!g)
    return NULL;
  ptl_status s = ptl_graph_clone(g, &c);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  PyObject *res = PyCapsule_New(c, k_graph, graph_capsule_free);
  if (!res)
    ptl_graph_destroy(c);
  return res;
}

/* graph_pass(graph, name) -> (rewrites, nodes_removed, detail); rewrites the graph */
static PyObject *py_graph_pass(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap;
  const char *name;
  if (!PyArg_ParseTuple(args, "Os", &cap, &name))
    return NULL;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  ptl_pass_stats stats;
  ptl_status s = ptl_pass_run(g, name, &stats);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  return Py_BuildValue("(iis)", stats.rewrites, stats.nodes_removed, stats.detail);
}

/* A plan keeps a reference to its graph capsule (the plan borrows the graph). */
typedef struct {
  ptl_plan *plan;
  PyObject *graph_capsule;
  PyObject *inputs; /* tuple of the persistent input tensors the plan reads */
} py_plan;

static const char *k_plan = "ptlite.plan";

static void plan_capsule_free(PyObject *cap) {
  py_plan *pp = PyCapsule_GetPointer(cap, k_plan);
  if (!pp)
    return;
  ptl_plan_destroy(pp->plan);
  Py_XDECREF(pp->graph_capsule);
  Py_XDECREF(pp->inputs);
  PyMem_Free(pp);
}

/* plan_create(graph, inputs) -> plan. `inputs` are the tensors every run reads
 * (write new values into them, keep their shapes); planning runs the graph once. */
static PyObject *py_plan_create(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *inputs;
  if (!PyArg_ParseTuple(args, "OO", &cap, &inputs))
    return NULL;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  ptl_tensor *in[64];
  if (parse_inputs(g, inputs, in) < 0)
    return NULL;
  PyObject *kept = PySequence_Tuple(inputs);
  py_plan *pp = kept ? PyMem_Calloc(1, sizeof *pp) : NULL;
  if (!pp) {
    Py_XDECREF(kept);
    return kept ? PyErr_NoMemory() : NULL;
  }
  ptl_status s = ptl_plan_create(g, in, &pp->plan);
  if (s != PTL_OK) {
    Py_DECREF(kept);
    PyMem_Free(pp);
    return ptlpy_raise(s);
  }
  Py_INCREF(cap);
  pp->graph_capsule = cap;
  pp->inputs = kept;
  PyObject *res = PyCapsule_New(pp, k_plan, plan_capsule_free);
  if (!res) {
    ptl_plan_destroy(pp->plan);
    Py_DECREF(cap);
    Py_DECREF(kept);
    PyMem_Free(pp);
  }
  return res;
}

/* plan_run(plan) -> tuple of the output tensors, which live in the plan's arena:
 * valid until the next run (copy them to keep them). */
static PyObject *py_plan_run(PyObject *m, PyObject *cap) {
  (void)m;
  py_plan *pp = PyCapsule_GetPointer(cap, k_plan);
  if (!pp)
    return NULL;
  ptl_status s = ptl_plan_run(pp->plan);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  const ptl_graph *g = graph_of(pp->graph_capsule);
  PyObject *res = PyTuple_New(g->n_outputs);
  for (int i = 0; res && i < g->n_outputs; i++) {
    ptl_tensor *t = ptl_plan_value(pp->plan, g->outputs[i]);
    ptl_tensor_retain(t);
    PyObject *w = ptlpy_wrap(t);
    if (!w) {
      Py_CLEAR(res);
      break;
    }
    PyTuple_SET_ITEM(res, i, w);
  }
  return res;
}

PyMethodDef ptlpy_graph_methods[] = {
    {"plan_create", py_plan_create, METH_VARARGS, "plan_create(graph, inputs) -> plan"},
    {"plan_run", py_plan_run, METH_O, "plan_run(plan) -> outputs (valid until the next run)"},
    {"graph_clone", py_graph_clone, METH_O, "graph_clone(graph) -> graph"},
    {"graph_pass", py_graph_pass, METH_VARARGS,
     "graph_pass(graph, name) -> (rewrites, nodes_removed, detail)"},
    {"graph_plan_bytes", py_graph_plan_bytes, METH_VARARGS,
     "graph_plan_bytes(graph, inputs) -> planned activation arena bytes"},
    {"graph_set_name", py_graph_set_name, METH_VARARGS, "graph_set_name(graph, id, name)"},
    {"graph_save", py_graph_save, METH_VARARGS, "graph_save(graph, metadata) -> bytes"},
    {"graph_load", py_graph_load, METH_O, "graph_load(buffer) -> (graph, metadata)"},
    {"trace_begin", py_trace_begin, METH_NOARGS, "start recording ops on this thread"},
    {"trace_input", py_trace_input, METH_VARARGS, "trace_input(tracer, tensor, name)"},
    {"trace_end", py_trace_end, METH_VARARGS, "trace_end(tracer, outputs, names) -> graph"},
    {"trace_abort", py_trace_abort, METH_O, "trace_abort(tracer)"},
    {"graph_run", py_graph_run, METH_VARARGS, "graph_run(graph, inputs) -> tuple"},
    {"graph_info", py_graph_info, METH_O, "graph_info(graph) -> dict"},
    {NULL, NULL, 0, NULL},
};
