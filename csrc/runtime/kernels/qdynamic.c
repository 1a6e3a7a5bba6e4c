/* qdynamic.c - dynamically quantized linear: DYNAMIC_LINEAR (int8 weights,
 * activations quantized per call) and LINEAR_FP16 (layouts in ops.def). */
#include "../internal.h"
#include "qmath.h"

static ptl_status todo(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s: not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_dynamic_linear_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_dynamic_linear_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_dynamic_linear_fast(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_linear_fp16_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_linear_fp16_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_linear_fp16_fast(const ptl_call *call) {
  return todo(call);
}
