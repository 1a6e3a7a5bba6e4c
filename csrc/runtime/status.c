/* status.c - status strings and the thread-local error message. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static _Thread_local char g_message[1024];

ptl_status ptl_error(ptl_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_message, sizeof g_message, fmt, ap);
  va_end(ap);
  return status;
}

const char *ptl_last_error_message(void) {
  return g_message;
}

const char *ptl_status_str(ptl_status status) {
  switch (status) {
  case PTL_OK: return "ok";
  case PTL_ERR_INVALID_ARGUMENT: return "invalid argument";
  case PTL_ERR_SHAPE: return "shape mismatch";
  case PTL_ERR_DTYPE: return "dtype mismatch";
  case PTL_ERR_VALUE: return "invalid value";
  case PTL_ERR_INDEX: return "index out of range";
  case PTL_ERR_UNSUPPORTED: return "unsupported";
  case PTL_ERR_OUT_OF_MEMORY: return "out of memory";
  case PTL_ERR_CORRUPT_FILE: return "corrupt file";
  case PTL_ERR_VERSION: return "unsupported format version";
  case PTL_ERR_IO: return "i/o error";
  case PTL_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char *ptl_version(void) {
  return "0.1.0";
}

const char *ptl_dims_str(int ndim, const int64_t *dims, char *buf, size_t size) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, size - n, "[");
  for (int i = 0; i < ndim && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)dims[i]);
  if (n < size)
    snprintf(buf + n, size - n, "]");
  return buf;
}

const char *ptl_shape_str(const ptl_tensor *t, char *buf, size_t size) {
  if (!t) {
    snprintf(buf, size, "None");
    return buf;
  }
  return ptl_dims_str(t->ndim, t->shape, buf, size);
}

ptl_status ptl_no_fast(const ptl_call *call) {
  (void)call;
  return PTL_ERR_UNSUPPORTED;
}

const char *ptl_torch_scalar_name(ptl_dtype d) {
  switch (d) {
  case PTL_FLOAT32: return "Float";
  case PTL_FLOAT16: return "Half";
  case PTL_INT8: return "Char";
  case PTL_UINT8: return "Byte";
  case PTL_INT32: return "Int";
  case PTL_INT64: return "Long";
  case PTL_BOOL: return "Bool";
  case PTL_QUINT8: return "QUInt8";
  case PTL_QINT8: return "QInt8";
  case PTL_QINT32: return "QInt32";
  default: return ptl_dtype_name(d);
  }
}

const char *ptl_torch_cpp_name(ptl_dtype d) {
  switch (d) {
  case PTL_FLOAT32: return "float";
  case PTL_FLOAT16: return "c10::Half";
  case PTL_INT64: return "long int";
  case PTL_INT32: return "int";
  case PTL_INT8: return "signed char";
  case PTL_UINT8: return "unsigned char";
  case PTL_BOOL: return "bool";
  default: return ptl_dtype_name(d);
  }
}
