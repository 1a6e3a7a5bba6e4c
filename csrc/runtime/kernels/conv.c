/* conv.c - conv kernels: infer, reference and fast paths. STUB: to be implemented. */
#include "../internal.h"

ptl_status ptl_conv2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_conv2d_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_conv2d_fast(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_conv_transpose2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_conv_transpose2d_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_conv_transpose2d_fast(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}
