/* observer_binding.c - quantization observers (csrc/compiler/observer.h) for
 * ptlite.quantization. An observer is a PyCapsule; state stays in C and the
 * Python module mirrors min/max/histogram into its buffers. */
#include "../compiler/observer.h"
#include "binding.h"

#include <string.h>

static const char *k_observer = "ptlite.observer";

static void observer_capsule_free(PyObject *cap) {
  ptl_observer_destroy(PyCapsule_GetPointer(cap, k_observer));
}

static ptl_observer *observer_of(PyObject *cap) {
  return PyCapsule_GetPointer(cap, k_observer);
}

/* torch raises AssertionError for bad quant ranges and min > max. */
static PyObject *raise_assert_on_value(ptl_status s) {
  if (s == PTL_ERR_VALUE) {
    PyErr_SetString(PyExc_AssertionError, ptl_last_error_message());
    return NULL;
  }
  return ptlpy_raise(s);
}

/* observer_new(kind, dtype_code, qscheme, reduce_range, quant_min|None, quant_max|None, eps,
 *              averaging_constant, ch_axis, bins, upsample_rate, percentile) -> capsule */
static PyObject *py_observer_new(PyObject *m, PyObject *args) {
  (void)m;
  int kind, dtype, qscheme, reduce_range, ch_axis, bins, upsample_rate;
  PyObject *qmin_o, *qmax_o;
  double eps, avg, pct;
  if (!PyArg_ParseTuple(args, "iiipOOddiiid", &kind, &dtype, &qscheme, &reduce_range, &qmin_o,
                        &qmax_o, &eps, &avg, &ch_axis, &bins, &upsample_rate, &pct))
    return NULL;
  ptl_observer_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.kind = (ptl_observer_kind)kind;
  cfg.dtype = (ptl_dtype)dtype;
  cfg.qscheme = (ptl_qscheme)qscheme;
  cfg.reduce_range = reduce_range;
  cfg.has_custom_range = qmin_o != Py_None && qmax_o != Py_None;
  if (cfg.has_custom_range) {
    cfg.quant_min = PyLong_AsLongLong(qmin_o);
    cfg.quant_max = PyLong_AsLongLong(qmax_o);
    if (PyErr_Occurred())
      return NULL;
  }
  cfg.eps = (float)eps;
  cfg.averaging_constant = avg;
  cfg.ch_axis = ch_axis;
  cfg.bins = bins;
  cfg.upsample_rate = upsample_rate;
  cfg.percentile = pct;
  ptl_observer *o;
  ptl_status s = ptl_observer_create(&cfg, &o);
  if (s != PTL_OK)
    return raise_assert_on_value(s);
  PyObject *cap = PyCapsule_New(o, k_observer, observer_capsule_free);
  if (!cap)
    ptl_observer_destroy(o);
  return cap;
}

static PyObject *py_observer_update(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *t;
  if (!PyArg_ParseTuple(args, "OO", &cap, &t))
    return NULL;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  if (!ptlpy_is_tensor(t))
    return PyErr_Format(PyExc_TypeError, "observer: expected a Tensor, got %s",
                        Py_TYPE(t)->tp_name);
  ptl_status s = ptl_observer_update(o, ptlpy_tensor(t));
  if (s != PTL_OK)
    return ptlpy_raise(s);
  Py_RETURN_NONE;
}

static PyObject *py_observer_merge(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *a, *b;
  if (!PyArg_ParseTuple(args, "OO", &a, &b))
    return NULL;
  ptl_observer *oa = observer_of(a), *ob = oa ? observer_of(b) : NULL;
  if (!ob)
    return NULL;
  ptl_status s = ptl_observer_merge(oa, ob);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  Py_RETURN_NONE;
}

static PyObject *py_observer_reset(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  ptl_observer_reset(o);
  Py_RETURN_NONE;
}

/* New 1-d tensor of n elements of dtype d copied from src (may be NULL: zeros). */
static PyObject *new_vector(ptl_dtype d, int64_t n, const void *src) {
  ptl_tensor *t;
  ptl_status s = ptl_tensor_create(d, 1, &n, &t);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  size_t nb = (size_t)n * ptl_dtype_size(d);
  if (nb) {
    if (src)
      memcpy(ptl_tensor_data(t), src, nb);
    else
      memset(ptl_tensor_data(t), 0, nb);
  }
  return ptlpy_wrap(t);
}

/* observer_minmax(cap) -> (min, max) float32 1-d tensors of count entries */
static PyObject *py_observer_minmax(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  int64_t n = ptl_observer_count(o);
  float *mn = PyMem_Malloc(sizeof(float) * (size_t)(n + 1));
  float *mx = PyMem_Malloc(sizeof(float) * (size_t)(n + 1));
  PyObject *res = NULL;
  if (mn && mx) {
    ptl_observer_get_minmax(o, mn, mx);
    PyObject *a = new_vector(PTL_FLOAT32, n, mn);
    PyObject *b = a ? new_vector(PTL_FLOAT32, n, mx) : NULL;
    if (a && b)
      res = PyTuple_Pack(2, a, b);
    Py_XDECREF(a);
    Py_XDECREF(b);
  } else {
    PyErr_NoMemory();
  }
  PyMem_Free(mn);
  PyMem_Free(mx);
  return res;
}

/* Contiguous float32 data of a tensor argument (retained in *keep). */
static const float *f32_data(PyObject *t, int64_t *n, ptl_tensor **keep) {
  if (!ptlpy_is_tensor(t) || ptl_tensor_dtype(ptlpy_tensor(t)) != PTL_FLOAT32) {
    PyErr_SetString(PyExc_TypeError, "observer: state tensors must be float32 Tensors");
    return NULL;
  }
  ptl_status s = ptl_tensor_contiguous(ptlpy_tensor(t), keep);
  if (s != PTL_OK) {
    ptlpy_raise(s);
    return NULL;
  }
  *n = ptl_tensor_numel(*keep);
  return ptl_tensor_data(*keep);
}

static PyObject *py_observer_set_minmax(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *a, *b;
  if (!PyArg_ParseTuple(args, "OOO", &cap, &a, &b))
    return NULL;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  ptl_tensor *ka = NULL, *kb = NULL;
  int64_t na = 0, nb = 0;
  const float *da = f32_data(a, &na, &ka);
  const float *db = da ? f32_data(b, &nb, &kb) : NULL;
  PyObject *res = NULL;
  if (da && db) {
    if (na != nb) {
      PyErr_Format(PyExc_RuntimeError, "observer: min_val has %lld entries, max_val %lld",
                   (long long)na, (long long)nb);
    } else {
      ptl_status s = ptl_observer_set_minmax(o, na, da, db);
      if (s != PTL_OK)
        ptlpy_raise(s);
      else
        res = Py_NewRef(Py_None);
    }
  }
  ptl_tensor_release(ka);
  ptl_tensor_release(kb);
  return res;
}

static PyObject *py_observer_histogram(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  int64_t n;
  const float *h = ptl_observer_histogram(o, &n);
  if (!h)
    Py_RETURN_NONE;
  return new_vector(PTL_FLOAT32, n, h);
}

static PyObject *py_observer_set_histogram(PyObject *m, PyObject *args) {
  (void)m;
  PyObject *cap, *a;
  if (!PyArg_ParseTuple(args, "OO", &cap, &a))
    return NULL;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  ptl_tensor *ka = NULL;
  int64_t n = 0;
  const float *d = f32_data(a, &n, &ka);
  if (!d)
    return NULL;
  ptl_status s = ptl_observer_set_histogram(o, n, d);
  ptl_tensor_release(ka);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  Py_RETURN_NONE;
}

/* observer_qparams(cap) -> (scale float32 [n], zero_point int64 [n], valid) */
static PyObject *py_observer_qparams(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  int64_t n = ptl_observer_qparams_count(o);
  float *sc = PyMem_Malloc(sizeof(float) * (size_t)n);
  int64_t *zp = PyMem_Malloc(sizeof(int64_t) * (size_t)n);
  PyObject *res = NULL;
  if (!sc || !zp) {
    PyErr_NoMemory();
  } else {
    bool valid;
    ptl_status s = ptl_observer_calculate_qparams(o, sc, zp, &valid);
    if (s != PTL_OK) {
      raise_assert_on_value(s);
    } else {
      if (!valid)
        n = 1;
      PyObject *a = new_vector(PTL_FLOAT32, n, sc);
      PyObject *b = a ? new_vector(PTL_INT64, n, zp) : NULL;
      if (a && b)
        res = Py_BuildValue("(OOO)", a, b, valid ? Py_True : Py_False);
      Py_XDECREF(a);
      Py_XDECREF(b);
    }
  }
  PyMem_Free(sc);
  PyMem_Free(zp);
  return res;
}

/* observer_range(cap) -> (lo, hi): the range the qparams come from (per tensor) */
static PyObject *py_observer_range(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  float lo, hi;
  ptl_status s = ptl_observer_range(o, &lo, &hi);
  if (s != PTL_OK)
    return ptlpy_raise(s);
  return Py_BuildValue("(dd)", (double)lo, (double)hi);
}

static PyObject *py_observer_quant_range(PyObject *m, PyObject *cap) {
  (void)m;
  ptl_observer *o = observer_of(cap);
  if (!o)
    return NULL;
  int64_t a, b;
  ptl_observer_quant_range(o, &a, &b);
  return Py_BuildValue("(LL)", (long long)a, (long long)b);
}

PyMethodDef ptlpy_observer_methods[] = {
    {"observer_new", py_observer_new, METH_VARARGS, NULL},
    {"observer_update", py_observer_update, METH_VARARGS, NULL},
    {"observer_merge", py_observer_merge, METH_VARARGS, NULL},
    {"observer_reset", py_observer_reset, METH_O, NULL},
    {"observer_minmax", py_observer_minmax, METH_O, NULL},
    {"observer_set_minmax", py_observer_set_minmax, METH_VARARGS, NULL},
    {"observer_histogram", py_observer_histogram, METH_O, NULL},
    {"observer_set_histogram", py_observer_set_histogram, METH_VARARGS, NULL},
    {"observer_qparams", py_observer_qparams, METH_O, NULL},
    {"observer_range", py_observer_range, METH_O, NULL},
    {"observer_quant_range", py_observer_quant_range, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
