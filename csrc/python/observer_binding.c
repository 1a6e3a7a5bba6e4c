/* observer_binding.c - quantization observers for ptlite.quantization. STUB. */
#include "binding.h"

PyMethodDef ptlpy_observer_methods[] = {
    {NULL, NULL, 0, NULL},
};
