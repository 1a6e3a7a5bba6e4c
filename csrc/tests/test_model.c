/* test_model.c - graph -> .ptl image -> model -> session, and corrupt images. */
#include <stdlib.h>

#include "../compiler/trace.h"
#include "../runtime/format.h"
#include "test_util.h"

/* y = relu(x + c) with x [2, 3] input and c [3] constant */
static ptl_graph *build_graph(void) {
  ptl_graph *g = NULL;
  int64_t xs[2] = {2, 3}, cs[1] = {3};
  const float cv[3] = {-1.0f, 0.0f, 1.0f};
  ptl_tensor *x = t_f32(2, xs, NULL), *c = t_f32(1, cs, cv), *sum = t_f32(2, xs, NULL);
  int32_t vx, vc, vs, vy;
  T_OK(ptl_graph_create(&g));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_CONSTANT, c, c, "bias", &vc));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, sum, NULL, NULL, &vs));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, sum, NULL, "y", &vy));
  int32_t in_add[2] = {vx, vc}, out_add[1] = {vs}, in_relu[1] = {vs}, out_relu[1] = {vy};
  T_OK(ptl_graph_add_node(g, PTL_OP_ADD, NULL, in_add, 2, out_add, 1, 0));
  T_OK(ptl_graph_add_node(g, PTL_OP_RELU, NULL, in_relu, 1, out_relu, 1, 0));
  T_OK(ptl_graph_mark_input(g, vx));
  T_OK(ptl_graph_mark_output(g, vy));
  ptl_tensor_release(x);
  ptl_tensor_release(c);
  ptl_tensor_release(sum);
  return g;
}

void test_model(void) {
  ptl_graph *g = build_graph();
  T_OK(ptl_graph_validate(g));
  ptl_meta meta = {0};
  T_OK(ptl_meta_set(&meta, "extra/labels.txt", "cat\ndog", 7));
  uint8_t *image = NULL;
  size_t size = 0;
  T_OK(ptl_format_write(g, &meta, &image, &size));
  ptl_meta_clear(&meta);
  ptl_graph_destroy(g);
  T_CHECK(image != NULL && size > 256);

  ptl_model *model = NULL;
  T_OK(ptl_model_load_buffer(image, size, &model));
  T_CHECK(ptl_model_input_count(model) == 1 && ptl_model_output_count(model) == 1);
  const char *name;
  ptl_dtype dtype;
  int ndim;
  const int64_t *shape;
  T_OK(ptl_model_input_info(model, 0, &name, &dtype, &ndim, &shape));
  T_CHECK(strcmp(name, "x") == 0 && dtype == PTL_FLOAT32 && ndim == 2 && shape[1] == 3);
  T_CHECK(ptl_model_input_info(model, 1, &name, &dtype, &ndim, &shape) == PTL_ERR_INDEX);
  size_t msize;
  const char *labels = ptl_model_metadata(model, "extra/labels.txt", &msize);
  T_CHECK(labels && msize == 7 && memcmp(labels, "cat\ndog", 7) == 0);
  T_CHECK(ptl_model_metadata(model, "nope", &msize) == NULL);

  ptl_session *session = NULL;
  ptl_session_options opts = {2, PTL_BACKEND_AUTO};
  T_OK(ptl_session_create(model, &opts, &session));
  const void *out;
  T_CHECK(ptl_session_get_output(session, 0, &out, &msize) == PTL_ERR_INVALID_ARGUMENT);
  const float x[6] = {0.5f, -1.0f, -2.0f, 3.0f, 0.25f, -0.5f};
  T_CHECK(ptl_session_set_input(session, 0, x, 8) == PTL_ERR_SHAPE);
  T_CHECK(strstr(ptl_last_error_message(), "[2, 3]") != NULL);
  T_OK(ptl_session_set_input(session, 0, x, sizeof x));
  for (int run = 0; run < 2; run++) {
    T_OK(ptl_session_run(session));
    T_OK(ptl_session_get_output(session, 0, &out, &msize));
    const float expect[6] = {0.0f, 0.0f, 0.0f, 2.0f, 0.25f, 0.5f};
    T_CHECK(msize == sizeof expect && memcmp(out, expect, sizeof expect) == 0);
  }
  ptl_session_destroy(session);
  ptl_model_destroy(model);

  /* every truncation is refused with a message, never a crash */
  for (size_t cut = 0; cut < size; cut += 7) {
    ptl_model *m = NULL;
    T_CHECK(ptl_model_load_buffer(image, cut, &m) == PTL_ERR_CORRUPT_FILE && m == NULL);
  }
  /* a flipped bit anywhere is caught by a checksum or a bound */
  for (size_t pos = 0; pos < size; pos += 3) {
    image[pos] ^= 0x10;
    ptl_model *m = NULL;
    ptl_status s = ptl_model_load_buffer(image, size, &m);
    T_CHECK(s == PTL_ERR_CORRUPT_FILE || s == PTL_ERR_VERSION || s == PTL_ERR_UNSUPPORTED);
    ptl_model_destroy(m);
    image[pos] ^= 0x10;
  }
  /* a newer major version names both versions */
  image[8] = 2;
  ptl_model *m = NULL;
  T_CHECK(ptl_model_load_buffer(image, size, &m) == PTL_ERR_VERSION);
  T_CHECK(strstr(ptl_last_error_message(), "2.0") && strstr(ptl_last_error_message(), "1.0"));
  free(image);
  T_CHECK(ptl_model_load_file("/nonexistent/model.ptl", &m) == PTL_ERR_IO);
  T_CHECK(ptl_model_load_file("/tmp", &m) == PTL_ERR_IO);
}
