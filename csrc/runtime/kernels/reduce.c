/* reduce.c - reduce kernels: infer, reference and fast paths. STUB: to be implemented. */
#include "../internal.h"

ptl_status ptl_reduce_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_reduce_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_argreduce_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_argreduce_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}
