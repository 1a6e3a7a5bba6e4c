/* eltwise.c - eltwise kernels: infer, reference and fast paths. STUB: to be implemented. */
#include "../internal.h"

ptl_status ptl_binary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_binary_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_binary_fast(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_compare_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_compare_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_where_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_where_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_unary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_unary_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_unary_fast(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}




