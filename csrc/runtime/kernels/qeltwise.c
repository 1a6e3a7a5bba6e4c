/* qeltwise.c - quantized elementwise ops: QADD, QMUL, QCAT, QHARDSWISH,
 * QSIGMOID, QLEAKY_RELU, QBATCH_NORM (layouts in ops.def). */
#include "../internal.h"
#include "qmath.h"

static ptl_status todo(const ptl_call *call) {
  return ptl_error(PTL_ERR_UNSUPPORTED, "%s: not implemented yet", ptl_op_name(call->op));
}

ptl_status ptl_qbinary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_qbinary_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qbinary_fast(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qcat_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_qcat_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qunary_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_qunary_ref(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qunary_fast(const ptl_call *call) {
  return todo(call);
}
ptl_status ptl_qbatch_norm_infer(const ptl_call *call, ptl_tensor_desc *out) {
  (void)out;
  return todo(call);
}
ptl_status ptl_qbatch_norm_ref(const ptl_call *call) {
  return todo(call);
}
