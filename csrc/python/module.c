/*
 * module.c - the ptlite._C extension: a tensor base type backed by ptl_tensor
 * (with the buffer protocol, so NumPy views it without copying) and one entry
 * point, call(), through which Python dispatches every op.
 */
#include <string.h>

#include "binding.h"

typedef struct {
  PyObject_HEAD ptl_tensor *t;
} TensorBase;

static PyTypeObject TensorBaseType;
static PyTypeObject *g_tensor_class = &TensorBaseType; /* set to ptlite.Tensor */
static PyObject *g_unsupported_error, *g_format_error;

/* ---- errors ------------------------------------------------------------- */
static PyObject *raise_status(ptl_status s) {
  PyObject *cls = PyExc_RuntimeError;
  switch (s) {
  case PTL_ERR_VALUE: cls = PyExc_ValueError; break;
  case PTL_ERR_INDEX: cls = PyExc_IndexError; break;
  case PTL_ERR_OUT_OF_MEMORY: cls = PyExc_MemoryError; break;
  case PTL_ERR_UNSUPPORTED: cls = g_unsupported_error; break;
  case PTL_ERR_CORRUPT_FILE:
  case PTL_ERR_VERSION: cls = g_format_error; break;
  case PTL_ERR_IO: cls = PyExc_OSError; break;
  default: break;
  }
  PyErr_SetString(cls, ptl_last_error_message());
  return NULL;
}

/* ---- tensor objects ----------------------------------------------------- */
static PyObject *wrap_as(PyTypeObject *cls, ptl_tensor *t) {
  /* steals the reference to t */
  TensorBase *o = (TensorBase *)cls->tp_alloc(cls, 0);
  if (!o) {
    ptl_tensor_release(t);
    return NULL;
  }
  o->t = t;
  return (PyObject *)o;
}

static PyObject *wrap(ptl_tensor *t) {
  return wrap_as(g_tensor_class, t);
}

static int is_tensor(PyObject *o) {
  return PyObject_TypeCheck(o, &TensorBaseType);
}

static ptl_tensor *tensor_of(PyObject *o) {
  return ((TensorBase *)o)->t;
}

PyObject *ptlpy_wrap(ptl_tensor *t) {
  return wrap(t);
}
int ptlpy_is_tensor(PyObject *o) {
  return is_tensor(o);
}
ptl_tensor *ptlpy_tensor(PyObject *o) {
  return tensor_of(o);
}
PyObject *ptlpy_raise(ptl_status s) {
  return raise_status(s);
}

static void TensorBase_dealloc(TensorBase *self) {
  ptl_tensor_release(self->t);
  self->t = NULL;
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static ptl_tensor *checked(PyObject *self) {
  ptl_tensor *t = tensor_of(self);
  if (!t)
    PyErr_SetString(PyExc_RuntimeError, "tensor is not initialised");
  return t;
}

static PyObject *dims_tuple(int n, const int64_t *d) {
  PyObject *tup = PyTuple_New(n);
  if (!tup)
    return NULL;
  for (int i = 0; i < n; i++)
    PyTuple_SET_ITEM(tup, i, PyLong_FromLongLong(d[i]));
  return tup;
}

static PyObject *get_shape(PyObject *self, void *c) {
  (void)c;
  ptl_tensor *t = checked(self);
  return t ? dims_tuple(t->ndim, t->shape) : NULL;
}

static PyObject *get_strides(PyObject *self, void *c) {
  (void)c;
  ptl_tensor *t = checked(self);
  return t ? dims_tuple(t->ndim, t->strides) : NULL;
}

#define INT_GETTER(NAME, EXPR)                                                                     \
  static PyObject *NAME(PyObject *self, void *c) {                                                 \
    (void)c;                                                                                       \
    ptl_tensor *t = checked(self);                                                                 \
    return t ? PyLong_FromLongLong((long long)(EXPR)) : NULL;                                      \
  }
INT_GETTER(get_dtype, t->dtype)
INT_GETTER(get_ndim, t->ndim)
INT_GETTER(get_numel, ptl_tensor_numel(t))
INT_GETTER(get_offset, t->offset)
INT_GETTER(get_data_ptr, (intptr_t)ptl_tensor_data(t))
INT_GETTER(get_storage_ptr, (intptr_t)t->storage->data)
INT_GETTER(get_version, ptl_tensor_version(t))
INT_GETTER(get_is_contiguous, ptl_tensor_is_contiguous(t))
INT_GETTER(get_is_channels_last, ptl_tensor_is_channels_last(t))

/* (scheme, axis, scales tuple, zero_points tuple) or None for a non-quantized tensor */
static PyObject *get_qparams(PyObject *self, void *c) {
  (void)c;
  ptl_tensor *t = checked(self);
  if (!t)
    return NULL;
  if (!t->qparams)
    Py_RETURN_NONE;
  const ptl_qparams *q = t->qparams;
  PyObject *scales = PyTuple_New(q->count), *zps = PyTuple_New(q->count);
  for (int64_t i = 0; scales && zps && i < q->count; i++) {
    PyTuple_SET_ITEM(scales, i, PyFloat_FromDouble(q->scale[i]));
    PyTuple_SET_ITEM(zps, i, PyLong_FromLong(q->zero_point[i]));
  }
  if (!scales || !zps) {
    Py_XDECREF(scales);
    Py_XDECREF(zps);
    return NULL;
  }
  return Py_BuildValue("(iiNN)", (int)q->scheme, (int)q->axis, scales, zps);
}

static PyGetSetDef TensorBase_getset[] = {
    {"_qparams", get_qparams, NULL, "(scheme, axis, scales, zero_points) or None", NULL},
    {"_shape", get_shape, NULL, "shape as a tuple", NULL},
    {"_strides", get_strides, NULL, "strides in elements", NULL},
    {"_dtype", get_dtype, NULL, "ptl_dtype code", NULL},
    {"_ndim", get_ndim, NULL, NULL, NULL},
    {"_numel", get_numel, NULL, NULL, NULL},
    {"_offset", get_offset, NULL, "storage offset in elements", NULL},
    {"_data_ptr", get_data_ptr, NULL, NULL, NULL},
    {"_storage_ptr", get_storage_ptr, NULL, NULL, NULL},
    {"_version", get_version, NULL, NULL, NULL},
    {"_is_contiguous", get_is_contiguous, NULL, NULL, NULL},
    {"_is_channels_last", get_is_channels_last, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static const char *buffer_format(ptl_dtype d) {
  switch (d) {
  case PTL_FLOAT32: return "f";
  case PTL_FLOAT16: return "e";
  case PTL_INT8:
  case PTL_QINT8: return "b";
  case PTL_UINT8:
  case PTL_QUINT8: return "B";
  case PTL_INT32:
  case PTL_QINT32: return "i";
  case PTL_INT64: return "q";
  case PTL_BOOL: return "?";
  default: return "B";
  }
}

static int TensorBase_getbuffer(PyObject *self, Py_buffer *view, int flags) {
  (void)flags;
  ptl_tensor *t = checked(self);
  if (!t)
    return -1;
  Py_ssize_t isz = (Py_ssize_t)ptl_dtype_size(t->dtype);
  Py_ssize_t *dims = PyMem_Malloc(sizeof(Py_ssize_t) * 2 * (size_t)(t->ndim ? t->ndim : 1));
  if (!dims) {
    PyErr_NoMemory();
    return -1;
  }
  for (int i = 0; i < t->ndim; i++) {
    dims[i] = (Py_ssize_t)t->shape[i];
    dims[t->ndim + i] = (Py_ssize_t)t->strides[i] * isz;
  }
  view->buf = ptl_tensor_data(t);
  view->obj = self;
  Py_INCREF(self);
  view->len = (Py_ssize_t)ptl_tensor_numel(t) * isz;
  view->readonly = 0;
  view->itemsize = isz;
  view->format = (char *)buffer_format(t->dtype);
  view->ndim = t->ndim;
  view->shape = dims;
  view->strides = dims + t->ndim;
  view->suboffsets = NULL;
  view->internal = dims;
  return 0;
}

static void TensorBase_releasebuffer(PyObject *self, Py_buffer *view) {
  (void)self;
  PyMem_Free(view->internal);
}

static PyBufferProcs TensorBase_as_buffer = {TensorBase_getbuffer, TensorBase_releasebuffer};

static PyTypeObject TensorBaseType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ptlite._C.TensorBase",
    .tp_basicsize = sizeof(TensorBase),
    .tp_dealloc = (destructor)TensorBase_dealloc,
    .tp_as_buffer = &TensorBase_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "C tensor handle; use ptlite.Tensor",
    .tp_getset = TensorBase_getset,
    .tp_new = PyType_GenericNew,
};

/* ---- argument helpers --------------------------------------------------- */
static int parse_shape(PyObject *seq, int64_t *shape, int *ndim) {
  PyObject *fast = PySequence_Fast(seq, "shape must be a sequence of ints");
  if (!fast)
    return -1;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  if (n > PTL_MAX_DIMS) {
    Py_DECREF(fast);
    PyErr_Format(PyExc_ValueError, "at most %d dims are supported, got %zd", PTL_MAX_DIMS, n);
    return -1;
  }
  for (Py_ssize_t i = 0; i < n; i++) {
    shape[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
    if (shape[i] == -1 && PyErr_Occurred()) {
      Py_DECREF(fast);
      return -1;
    }
  }
  *ndim = (int)n;
  Py_DECREF(fast);
  return 0;
}

static int parse_attrs(PyObject *ints, PyObject *floats, ptl_attrs *a) {
  memset(a, 0, offsetof(ptl_attrs, ints));
  if (ints && ints != Py_None) {
    PyObject *fast = PySequence_Fast(ints, "ints must be a sequence");
    if (!fast)
      return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > PTL_MAX_INT_ATTRS) {
      Py_DECREF(fast);
      PyErr_Format(PyExc_ValueError, "too many int attributes (%zd)", n);
      return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
      a->ints[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(fast, i));
      if (a->ints[i] == -1 && PyErr_Occurred()) {
        Py_DECREF(fast);
        return -1;
      }
    }
    a->n_ints = (int32_t)n;
    Py_DECREF(fast);
  }
  if (floats && floats != Py_None) {
    PyObject *fast = PySequence_Fast(floats, "floats must be a sequence");
    if (!fast)
      return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    if (n > PTL_MAX_FLOAT_ATTRS) {
      Py_DECREF(fast);
      PyErr_Format(PyExc_ValueError, "too many float attributes (%zd)", n);
      return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
      a->floats[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(fast, i));
      if (a->floats[i] == -1.0 && PyErr_Occurred()) {
        Py_DECREF(fast);
        return -1;
      }
    }
    a->n_floats = (int32_t)n;
    Py_DECREF(fast);
  }
  return 0;
}

/* Python scalar -> 0-d "wrapped number" tensor (torch's promotion rules). */
static ptl_tensor *scalar_tensor(PyObject *o) {
  ptl_tensor *t = NULL;
  ptl_status s;
  if (PyBool_Check(o)) {
    s = ptl_tensor_create(PTL_BOOL, 0, NULL, &t);
    if (s == PTL_OK)
      *(uint8_t *)ptl_tensor_data(t) = o == Py_True;
  } else if (PyLong_Check(o)) {
    long long v = PyLong_AsLongLong(o);
    if (v == -1 && PyErr_Occurred())
      return NULL;
    s = ptl_tensor_create(PTL_INT64, 0, NULL, &t);
    if (s == PTL_OK)
      *(int64_t *)ptl_tensor_data(t) = v;
  } else if (PyFloat_Check(o)) {
    s = ptl_tensor_create(PTL_FLOAT32, 0, NULL, &t);
    if (s == PTL_OK)
      *(float *)ptl_tensor_data(t) = (float)PyFloat_AS_DOUBLE(o);
  } else {
    PyErr_Format(PyExc_TypeError, "expected a Tensor, a number or None, got %s",
                 Py_TYPE(o)->tp_name);
    return NULL;
  }
  if (s != PTL_OK) {
    raise_status(s);
    return NULL;
  }
  t->wrapped_number = true;
  return t;
}

/* ---- module functions --------------------------------------------------- */
#define MAX_CALL_INPUTS 64

/* call(op, inputs, ints=None, floats=None, out=None) -> Tensor | tuple */
static PyObject *py_call(PyObject *mod, PyObject *const *args, Py_ssize_t nargs) {
  (void)mod;
  if (nargs < 2 || nargs > 5) {
    PyErr_SetString(PyExc_TypeError, "call(op, inputs, ints=None, floats=None, out=None)");
    return NULL;
  }
  int op = (int)PyLong_AsLong(args[0]);
  if (op == -1 && PyErr_Occurred())
    return NULL;
  const ptl_op_def *def = ptl_op_lookup((ptl_op_id)op);
  if (!def) {
    PyErr_Format(PyExc_ValueError, "unknown op id %d", op);
    return NULL;
  }
  PyObject *inputs = args[1];
  if (!PyTuple_Check(inputs) && !PyList_Check(inputs)) {
    PyErr_SetString(PyExc_TypeError, "inputs must be a tuple or list");
    return NULL;
  }
  Py_ssize_t n_in = PySequence_Fast_GET_SIZE(inputs);
  if (n_in > MAX_CALL_INPUTS) {
    PyErr_Format(PyExc_ValueError, "%s: at most %d inputs", def->name, MAX_CALL_INPUTS);
    return NULL;
  }
  ptl_attrs attrs;
  if (parse_attrs(nargs > 2 ? args[2] : NULL, nargs > 3 ? args[3] : NULL, &attrs) < 0)
    return NULL;
  ptl_tensor *in[MAX_CALL_INPUTS];
  bool temp[MAX_CALL_INPUTS] = {false};
  PyObject *result = NULL;
  Py_ssize_t i;
  for (i = 0; i < n_in; i++) {
    PyObject *o = PySequence_Fast_GET_ITEM(inputs, i);
    if (o == Py_None) {
      in[i] = NULL;
    } else if (is_tensor(o)) {
      in[i] = tensor_of(o);
    } else {
      in[i] = scalar_tensor(o);
      if (!in[i])
        goto done;
      temp[i] = true;
    }
  }
  ptl_tensor *out[4] = {NULL, NULL, NULL, NULL};
  PyObject *out_obj = nargs > 4 ? args[4] : Py_None;
  if (out_obj != Py_None) {
    if (!is_tensor(out_obj) || def->n_out != 1) {
      PyErr_Format(PyExc_TypeError, "%s: out must be a single Tensor", def->name);
      goto done;
    }
    out[0] = tensor_of(out_obj);
  }
  ptl_status s = ptl_op_run((ptl_op_id)op, &attrs, in, (int)n_in, out, def->n_out);
  if (s != PTL_OK) {
    raise_status(s);
    goto done;
  }
  if (out_obj != Py_None) {
    Py_INCREF(out_obj);
    result = out_obj;
  } else if (def->n_out == 1) {
    result = wrap(out[0]);
  } else {
    result = PyTuple_New(def->n_out);
    for (int k = 0; result && k < def->n_out; k++) {
      PyObject *w = wrap(out[k]);
      if (!w) {
        for (int j = k + 1; j < def->n_out; j++)
          ptl_tensor_release(out[j]);
        Py_CLEAR(result);
        break;
      }
      PyTuple_SET_ITEM(result, k, w);
    }
  }
done:
  for (Py_ssize_t k = 0; k < i; k++)
    if (temp[k])
      ptl_tensor_release(in[k]);
  return result;
}

/* empty(shape, dtype) -> Tensor (uninitialised, contiguous) */
static PyObject *py_empty(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *shape_obj;
  int dtype;
  if (!PyArg_ParseTuple(args, "Oi", &shape_obj, &dtype))
    return NULL;
  int64_t shape[PTL_MAX_DIMS];
  int ndim;
  if (parse_shape(shape_obj, shape, &ndim) < 0)
    return NULL;
  ptl_tensor *t;
  ptl_status s = ptl_tensor_create((ptl_dtype)dtype, ndim, shape, &t);
  return s == PTL_OK ? wrap(t) : raise_status(s);
}

static void release_buffer(void *ctx) {
  PyGILState_STATE g = PyGILState_Ensure();
  Py_buffer *view = ctx;
  PyBuffer_Release(view);
  PyMem_RawFree(view);
  PyGILState_Release(g);
}

/* from_buffer(obj, dtype) -> Tensor sharing obj's memory (e.g. a NumPy array) */
static PyObject *py_from_buffer(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *obj;
  int dtype;
  if (!PyArg_ParseTuple(args, "Oi", &obj, &dtype))
    return NULL;
  Py_buffer *view = PyMem_RawMalloc(sizeof *view);
  if (!view)
    return PyErr_NoMemory();
  if (PyObject_GetBuffer(obj, view, PyBUF_RECORDS) < 0 &&
      (PyErr_Clear(), PyObject_GetBuffer(obj, view, PyBUF_RECORDS_RO) < 0)) {
    PyMem_RawFree(view);
    return NULL;
  }
  size_t isz = ptl_dtype_size((ptl_dtype)dtype);
  if (isz == 0 || (size_t)view->itemsize != isz || view->ndim > PTL_MAX_DIMS) {
    PyErr_Format(PyExc_TypeError,
                 "from_buffer: buffer of item size %zd and %d dims does not fit dtype %s",
                 view->itemsize, view->ndim, ptl_dtype_name((ptl_dtype)dtype));
    PyBuffer_Release(view);
    PyMem_RawFree(view);
    return NULL;
  }
  int64_t shape[PTL_MAX_DIMS], strides[PTL_MAX_DIMS];
  for (int i = 0; i < view->ndim; i++) {
    shape[i] = view->shape[i];
    Py_ssize_t st = view->strides ? view->strides[i] : 0;
    if (st % (Py_ssize_t)isz != 0 || st < 0) {
      PyErr_SetString(PyExc_ValueError,
                      "from_buffer: negative or unaligned strides are not supported; "
                      "copy the array first (np.ascontiguousarray)");
      PyBuffer_Release(view);
      PyMem_RawFree(view);
      return NULL;
    }
    strides[i] = st / (Py_ssize_t)isz;
  }
  if (!view->strides)
    ptl_contiguous_strides(view->ndim, shape, strides);
  ptl_tensor *t;
  ptl_status s = ptl_tensor_create_borrowed((ptl_dtype)dtype, view->ndim, shape, strides, view->buf,
                                            release_buffer, view, &t);
  if (s != PTL_OK) {
    PyBuffer_Release(view);
    PyMem_RawFree(view);
    return raise_status(s);
  }
  return wrap(t);
}

/* alias(cls, tensor) -> a new cls instance sharing tensor's C tensor */
static PyObject *py_alias(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *cls, *src;
  if (!PyArg_ParseTuple(args, "OO!", &cls, &TensorBaseType, &src))
    return NULL;
  if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &TensorBaseType)) {
    PyErr_SetString(PyExc_TypeError, "alias: cls must be a Tensor class");
    return NULL;
  }
  ptl_tensor_retain(tensor_of(src));
  return wrap_as((PyTypeObject *)cls, tensor_of(src));
}

/* set_(dst, src): dst now refers to src's C tensor (used for `.data =`) */
static PyObject *py_set(PyObject *mod, PyObject *args) {
  (void)mod;
  PyObject *dst, *src;
  if (!PyArg_ParseTuple(args, "O!O!", &TensorBaseType, &dst, &TensorBaseType, &src))
    return NULL;
  ptl_tensor *old = tensor_of(dst);
  ptl_tensor_retain(tensor_of(src));
  ((TensorBase *)dst)->t = tensor_of(src);
  ptl_tensor_release(old);
  Py_RETURN_NONE;
}

static PyObject *py_set_tensor_class(PyObject *mod, PyObject *cls) {
  (void)mod;
  if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &TensorBaseType)) {
    PyErr_SetString(PyExc_TypeError, "expected a subclass of TensorBase");
    return NULL;
  }
  Py_INCREF(cls);
  g_tensor_class = (PyTypeObject *)cls;
  Py_RETURN_NONE;
}

static PyObject *py_op_table(PyObject *mod, PyObject *unused) {
  (void)mod;
  (void)unused;
  PyObject *d = PyDict_New();
  for (int id = 0; d && id < PTL_OP_ID_LIMIT; id++) {
    const ptl_op_def *def = ptl_op_lookup((ptl_op_id)id);
    if (!def)
      continue;
    PyObject *v = Py_BuildValue("(iiiiiii)", id, def->version, (int)def->kind, def->min_in,
                                def->max_in, def->n_out, def->fast != ptl_no_fast);
    if (!v || PyDict_SetItemString(d, def->name, v) < 0) {
      Py_XDECREF(v);
      Py_DECREF(d);
      return NULL;
    }
    Py_DECREF(v);
  }
  return d;
}

static PyObject *py_set_num_threads(PyObject *mod, PyObject *arg) {
  (void)mod;
  long n = PyLong_AsLong(arg);
  if (n == -1 && PyErr_Occurred())
    return NULL;
  ptl_status s = ptl_set_num_threads((int)n);
  if (s != PTL_OK)
    return raise_status(s);
  Py_RETURN_NONE;
}

static PyObject *py_get_num_threads(PyObject *mod, PyObject *unused) {
  (void)mod;
  (void)unused;
  return PyLong_FromLong(ptl_get_num_threads());
}

static PyObject *py_set_backend(PyObject *mod, PyObject *arg) {
  (void)mod;
  long b = PyLong_AsLong(arg);
  if (b == -1 && PyErr_Occurred())
    return NULL;
  if (b != PTL_BACKEND_AUTO && b != PTL_BACKEND_REFERENCE) {
    PyErr_Format(PyExc_ValueError, "unknown backend %ld", b);
    return NULL;
  }
  ptl_set_backend((ptl_backend)b);
  Py_RETURN_NONE;
}

static PyObject *py_get_backend(PyObject *mod, PyObject *unused) {
  (void)mod;
  (void)unused;
  return PyLong_FromLong(ptl_get_backend());
}

static PyObject *py_manual_seed(PyObject *mod, PyObject *arg) {
  (void)mod;
  unsigned long long seed = PyLong_AsUnsignedLongLongMask(arg);
  if (PyErr_Occurred())
    return NULL;
  ptl_manual_seed(seed);
  Py_RETURN_NONE;
}

static PyObject *py_physical_cores(PyObject *mod, PyObject *unused) {
  (void)mod;
  (void)unused;
  return PyLong_FromLong(ptl_physical_core_count());
}

static PyMethodDef k_methods[] = {
    {"call", (PyCFunction)(void (*)(void))py_call, METH_FASTCALL,
     "call(op, inputs, ints=None, floats=None, out=None): run one op"},
    {"empty", py_empty, METH_VARARGS, "empty(shape, dtype)"},
    {"from_buffer", py_from_buffer, METH_VARARGS, "from_buffer(obj, dtype): zero-copy"},
    {"alias", py_alias, METH_VARARGS, "alias(cls, tensor)"},
    {"set_", py_set, METH_VARARGS, "set_(dst, src)"},
    {"set_tensor_class", py_set_tensor_class, METH_O, NULL},
    {"op_table", py_op_table, METH_NOARGS, "{name: (id, version, kind, min_in, max_in, n_out)}"},
    {"set_num_threads", py_set_num_threads, METH_O, NULL},
    {"get_num_threads", py_get_num_threads, METH_NOARGS, NULL},
    {"set_backend", py_set_backend, METH_O, "0 auto, 1 reference"},
    {"get_backend", py_get_backend, METH_NOARGS, NULL},
    {"manual_seed", py_manual_seed, METH_O, NULL},
    {"physical_core_count", py_physical_cores, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef k_module = {PyModuleDef_HEAD_INIT,
                                      "ptlite._C",
                                      "ptlite C engine binding",
                                      -1,
                                      k_methods,
                                      NULL,
                                      NULL,
                                      NULL,
                                      NULL};

PyMODINIT_FUNC PyInit__C(void) {
  if (PyType_Ready(&TensorBaseType) < 0)
    return NULL;
  PyObject *m = PyModule_Create(&k_module);
  if (!m)
    return NULL;
  Py_INCREF(&TensorBaseType);
  PyModule_AddObject(m, "TensorBase", (PyObject *)&TensorBaseType);
  g_unsupported_error = PyErr_NewExceptionWithDoc("ptlite._C.UnsupportedError",
                                                  "The op or case is valid but not supported.",
                                                  PyExc_RuntimeError, NULL);
  g_format_error = PyErr_NewExceptionWithDoc(
      "ptlite._C.ModelFormatError", "A model file is corrupt or of an unsupported version.",
      PyExc_RuntimeError, NULL);
  PyModule_AddObject(m, "UnsupportedError", g_unsupported_error);
  Py_INCREF(g_unsupported_error);
  PyModule_AddObject(m, "ModelFormatError", g_format_error);
  Py_INCREF(g_format_error);
  PyModule_AddStringConstant(m, "__version__", ptl_version());
  if (PyModule_AddFunctions(m, ptlpy_graph_methods) < 0 ||
      PyModule_AddFunctions(m, ptlpy_observer_methods) < 0)
    return NULL;
  return m;
}
