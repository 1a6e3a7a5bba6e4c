/* activation.c - activation kernels: infer, reference and fast paths. STUB: to be implemented. */
#include "../internal.h"

ptl_status ptl_activation_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_activation_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_activation_fast(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_prelu_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_prelu_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_prelu_fast(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_softmax_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_softmax_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_softmax_fast(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_dropout_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}
