/* qconv.c - quantized convolution and linear: QCONV2D, QCONV_TRANSPOSE2D,
 * QLINEAR (layouts in ops.def). */
#include "../internal.h"
#include "qmath.h"

static ptl_status todo(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s: not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_qconv2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_qconv2d_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qconv2d_fast(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qconv_transpose2d_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_qconv_transpose2d_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qconv_transpose2d_fast(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qlinear_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_qlinear_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qlinear_fast(const ptl_call *call) {
  return todo(call);
}
