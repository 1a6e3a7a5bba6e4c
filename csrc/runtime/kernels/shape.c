/* shape.c - shape kernels: infer, reference and fast paths. STUB: to be implemented. */
#include "../internal.h"

ptl_status ptl_reshape_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_reshape_view(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_permute_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_permute_view(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_expand_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_expand_view(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_slice_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_slice_view(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_select_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_select_view(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_cat_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_cat_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_pad_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_pad_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_index_select_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_index_select_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_embedding_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_embedding_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_arange_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_arange_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_random_ref(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s is not implemented yet", ptl_op_name(call->op));
}
