/* test_activation.c - C tests of kernels/activation.c through ptl_op_run. */
#include "test_util.h"

static void test_relu_sigmoid(ptl_backend backend) {
  ptl_set_backend(backend);
  int64_t s[2] = {2, 3};
  float v[6] = {-1, 0, 2, -3, 4, NAN};
  ptl_tensor *x = t_f32(2, s, v), *out = NULL;
  T_OK(ptl_op_run(PTL_OP_RELU, NULL, &x, 1, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    T_CHECK(y[0] == 0 && y[2] == 2 && y[3] == 0 && y[4] == 4 && isnan(y[5]));
  }
  ptl_tensor_release(out);
  out = NULL;
  T_OK(ptl_op_run(PTL_OP_SIGMOID, NULL, &x, 1, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    T_CHECK(fabsf(y[1] - 0.5f) < 1e-7f && fabsf(y[2] - 0.880797078f) < 1e-6f);
  }
  ptl_tensor_release(out);
  out = NULL;
  ptl_attrs dim = {0};
  dim.n_ints = 1;
  dim.ints[0] = 1;
  ((float *)ptl_tensor_data(x))[5] = 1; /* no NaN for the softmax check */
  T_OK(ptl_op_run(PTL_OP_SOFTMAX, &dim, &x, 1, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    T_CHECK(fabsf(y[0] + y[1] + y[2] - 1) < 1e-6f && fabsf(y[3] + y[4] + y[5] - 1) < 1e-6f);
    T_CHECK(y[2] > y[1] && y[1] > y[0]);
  }
  ptl_tensor_release(out);
  out = NULL;
  dim.ints[0] = 2;
  T_CHECK(ptl_op_run(PTL_OP_SOFTMAX, &dim, &x, 1, &out, 1) == PTL_ERR_INDEX);
  T_CHECK(strstr(ptl_last_error_message(), "softmax") != NULL && out == NULL);
  ptl_tensor_release(x);
  ptl_set_backend(PTL_BACKEND_AUTO);
}

static void test_prelu_dropout(void) {
  int64_t s[2] = {2, 3}, ws[1] = {3}, bad_ws[1] = {2};
  float v[6] = {-1, -1, -1, 1, 1, 1}, w[3] = {0.1f, 0.2f, 0.3f};
  ptl_tensor *x = t_f32(2, s, v), *wt = t_f32(1, ws, w), *bad = t_f32(1, bad_ws, w);
  ptl_tensor *out = NULL;
  ptl_tensor *in[2] = {x, wt};
  T_OK(ptl_op_run(PTL_OP_PRELU, NULL, in, 2, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    T_CHECK(y[0] == -0.1f && y[2] == -0.3f && y[4] == 1);
  }
  ptl_tensor_release(out);
  out = NULL;
  in[1] = bad;
  T_CHECK(ptl_op_run(PTL_OP_PRELU, NULL, in, 2, &out, 1) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "Mismatch of parameter numbers") != NULL);

  ptl_attrs p = {0};
  p.n_floats = 1;
  p.floats[0] = 1.5;
  T_CHECK(ptl_op_run(PTL_OP_DROPOUT, &p, &x, 1, &out, 1) == PTL_ERR_VALUE);
  p.floats[0] = 0.5;
  T_OK(ptl_op_run(PTL_OP_DROPOUT, &p, &x, 1, &out, 1));
  if (out) {
    const float *y = ptl_tensor_data(out);
    for (int i = 0; i < 6; i++)
      T_CHECK(y[i] == 0 || y[i] == 2 * v[i]);
  }
  ptl_tensor_release(out);
  ptl_tensor_release(x);
  ptl_tensor_release(wt);
  ptl_tensor_release(bad);
}

void test_activation(void) {
  test_relu_sigmoid(PTL_BACKEND_AUTO);
  test_relu_sigmoid(PTL_BACKEND_REFERENCE);
  test_prelu_dropout();
}
