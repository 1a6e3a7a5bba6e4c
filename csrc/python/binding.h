/* binding.h - helpers shared by the _C binding's files. */
#ifndef PTLITE_BINDING_H
#define PTLITE_BINDING_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "../runtime/internal.h"

/* New Python tensor owning the reference to t (released on failure). */
PyObject *ptlpy_wrap(ptl_tensor *t);
int ptlpy_is_tensor(PyObject *o);
ptl_tensor *ptlpy_tensor(PyObject *o); /* borrowed; o must be a tensor */
/* Raises the Python exception for status s with the engine's message; returns NULL. */
PyObject *ptlpy_raise(ptl_status s);

extern PyMethodDef ptlpy_graph_methods[];
extern PyMethodDef ptlpy_observer_methods[]; /* observer_binding.c */
#endif
