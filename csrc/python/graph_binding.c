/* graph_binding.c - tracing and graph execution for ptlite.jit. */
#include "../compiler/trace.h"
#include "binding.h"

static const char *k_tracer = "ptlite.tracer";
static const char *k_graph = "ptlite.graph";

static void graph_capsule_free(PyObject *cap) {
  ptl_graph_destroy(PyCapsule_GetPointer(cap, k_graph));
}

static ptl_graph *graph_of(PyObject *cap) { return PyCapsule_GetPointer(cap, k_graph); }

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

/* graph_run(graph, inputs: sequence of Tensor) -> tuple of Tensor */
static PyObject *py_graph_run(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *inputs;
  if (!PyArg_ParseTuple(args, "OO", &cap, &inputs))
    return NULL;
  ptl_graph *g = graph_of(cap);
  if (!g)
    return NULL;
  PyObject *fi = PySequence_Fast(inputs, "inputs must be a sequence");
  if (!fi)
    return NULL;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fi);
  ptl_tensor *in[64];
  ptl_tensor *out[64];
  if (n > 64 || g->n_outputs > 64) {
    Py_DECREF(fi);
    return PyErr_Format(PyExc_ValueError, "at most 64 graph inputs and outputs");
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    PyObject *t = PySequence_Fast_GET_ITEM(fi, i);
    if (!ptlpy_is_tensor(t)) {
      Py_DECREF(fi);
      return PyErr_Format(PyExc_TypeError, "graph input %zd must be a Tensor, got %s", i,
                          Py_TYPE(t)->tp_name);
    }
    in[i] = ptlpy_tensor(t);
  }
  ptl_status s = ptl_graph_run(g, in, (int)n, out, g->n_outputs);
  Py_DECREF(fi);
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
    PyObject *item = (shape && c) ? Py_BuildValue("(iiNzN)", (int)v->kind, (int)v->dtype, shape,
                                                  v->name, c)
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
    PyObject *item = (ints && floats) ? Py_BuildValue("(sNNNN)", ptl_op_name(nd->op), ints,
                                                      floats, ints_tuple(nd->in, nd->n_in),
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

PyMethodDef ptlpy_graph_methods[] = {
    {"trace_begin", py_trace_begin, METH_NOARGS, "start recording ops on this thread"},
    {"trace_input", py_trace_input, METH_VARARGS, "trace_input(tracer, tensor, name)"},
    {"trace_end", py_trace_end, METH_VARARGS, "trace_end(tracer, outputs, names) -> graph"},
    {"trace_abort", py_trace_abort, METH_O, "trace_abort(tracer)"},
    {"graph_run", py_graph_run, METH_VARARGS, "graph_run(graph, inputs) -> tuple"},
    {"graph_info", py_graph_info, METH_O, "graph_info(graph) -> dict"},
    {NULL, NULL, 0, NULL},
};
