/* test_core.c - tensors, errors and the dispatcher. */
#include "test_util.h"

void test_core(void) {
  int64_t shape[2] = {2, 3};
  ptl_tensor *a = t_f32(2, shape, NULL);
  T_CHECK(a != NULL);
  T_CHECK(ptl_tensor_numel(a) == 6);
  T_CHECK(ptl_tensor_is_contiguous(a));
  T_CHECK(ptl_tensor_strides(a)[0] == 3 && ptl_tensor_strides(a)[1] == 1);

  /* negative sizes and too many dims are errors, not crashes */
  int64_t bad[2] = {2, -1};
  ptl_tensor *b = NULL;
  T_CHECK(ptl_tensor_create(PTL_FLOAT32, 2, bad, &b) == PTL_ERR_INVALID_ARGUMENT);
  T_CHECK(strstr(ptl_last_error_message(), "negative dimension -1: [2, -1]") != NULL);
  int64_t huge[2] = {(int64_t)1 << 32, (int64_t)1 << 32};
  T_CHECK(ptl_tensor_create(PTL_FLOAT32, 2, huge, &b) == PTL_ERR_OUT_OF_MEMORY);
  int64_t empty_shape[3] = {2, 0, 3};
  T_OK(ptl_tensor_create(PTL_FLOAT32, 3, empty_shape, &b));
  T_CHECK(ptl_tensor_is_contiguous(b));
  ptl_tensor_release(b);
  T_OK(ptl_tensor_create(PTL_FLOAT32, 0, NULL, &b)); /* 0-d with a NULL shape */
  T_CHECK(ptl_tensor_numel(b) == 1);
  ptl_tensor_release(b);
  T_CHECK(ptl_tensor_create(PTL_FLOAT32, 9, shape, &b) == PTL_ERR_INVALID_ARGUMENT);
  T_CHECK(ptl_tensor_create((ptl_dtype)99, 2, shape, &b) == PTL_ERR_DTYPE);

  /* unknown op id, wrong input counts */
  ptl_tensor *out = NULL;
  T_CHECK(ptl_op_run((ptl_op_id)9999, NULL, &a, 1, &out, 1) == PTL_ERR_INVALID_ARGUMENT);
  T_CHECK(ptl_op_run(PTL_OP_ADD, NULL, &a, 1, &out, 1) == PTL_ERR_INVALID_ARGUMENT);
  T_CHECK(strstr(ptl_last_error_message(), "add") != NULL);
  T_CHECK(out == NULL);
  T_CHECK(strcmp(ptl_op_name(PTL_OP_CONV2D), "conv2d") == 0);
  T_CHECK(ptl_op_name((ptl_op_id)0) == NULL);

  T_CHECK(strcmp(ptl_status_str(PTL_ERR_SHAPE), "shape mismatch") == 0);
  T_CHECK(ptl_set_num_threads(0) == PTL_ERR_VALUE);
  T_OK(ptl_set_num_threads(2));
  T_CHECK(ptl_get_num_threads() == 2);
  T_CHECK(ptl_physical_core_count() >= 1);
  ptl_tensor_release(a);

  /* borrowed memory without a release callback is never freed by the engine */
  static float stack_data[6] = {1, 2, 3, 4, 5, 6};
  ptl_tensor *bt = NULL;
  T_OK(ptl_tensor_create_borrowed(PTL_FLOAT32, 2, shape, NULL, stack_data, NULL, NULL, &bt));
  T_CHECK(ptl_tensor_data(bt) == stack_data);
  ptl_tensor_release(bt);
}
