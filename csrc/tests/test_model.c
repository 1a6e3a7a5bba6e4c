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
  T_CHECK(ptl_session_activation_bytes(session) >= 2 * 6 * sizeof(float));
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

/* ---- concurrency: sessions on one shared model from several threads ----- */
#include <pthread.h>

enum { CC_C = 8, CC_O = 16, CC_HW = 24, CC_THREADS = 4, CC_RUNS = 10 };

typedef struct {
  const ptl_model *model;
  const float *input;
  const float *expect;
  size_t out_bytes;
  int ok;
} cc_job;

static void *cc_worker(void *arg) {
  cc_job *j = arg;
  ptl_session_options opts = {2, PTL_BACKEND_AUTO};
  ptl_session *s = NULL;
  if (ptl_session_create(j->model, &opts, &s) != PTL_OK)
    return NULL;
  j->ok = 1;
  for (int r = 0; r < CC_RUNS; r++) {
    const void *out;
    size_t size;
    if (ptl_session_set_input(s, 0, j->input, sizeof(float) * CC_C * CC_HW * CC_HW) != PTL_OK ||
        ptl_session_run(s) != PTL_OK || ptl_session_get_output(s, 0, &out, &size) != PTL_OK ||
        size != j->out_bytes || memcmp(out, j->expect, size) != 0)
      j->ok = 0;
  }
  ptl_session_destroy(s);
  return NULL;
}

/* conv3x3(8->16) -> relu -> conv3x3(16->16) */
static uint8_t *conv_model_image(size_t *size) {
  ptl_graph *g = NULL;
  int64_t xs[4] = {1, CC_C, CC_HW, CC_HW}, ys[4] = {1, CC_O, CC_HW, CC_HW};
  int64_t w1s[4] = {CC_O, CC_C, 3, 3}, w2s[4] = {CC_O, CC_O, 3, 3}, bs[1] = {CC_O};
  float w1[CC_O * CC_C * 9], w2[CC_O * CC_O * 9], b[CC_O];
  for (int i = 0; i < CC_O * CC_C * 9; i++)
    w1[i] = (float)((i * 37) % 17 - 8) / 16.0f;
  for (int i = 0; i < CC_O * CC_O * 9; i++)
    w2[i] = (float)((i * 11) % 13 - 6) / 32.0f;
  for (int i = 0; i < CC_O; i++)
    b[i] = (float)(i - 8) / 8.0f;
  ptl_tensor *x = t_f32(4, xs, NULL), *y = t_f32(4, ys, NULL);
  ptl_tensor *tw1 = t_f32(4, w1s, w1), *tw2 = t_f32(4, w2s, w2), *tb = t_f32(1, bs, b);
  int32_t vx, vw1, vw2, vb, v1, v2, v3;
  ptl_graph_create(&g);
  ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx);
  ptl_graph_add_value(g, PTL_VALUE_CONSTANT, tw1, tw1, "w1", &vw1);
  ptl_graph_add_value(g, PTL_VALUE_CONSTANT, tw2, tw2, "w2", &vw2);
  ptl_graph_add_value(g, PTL_VALUE_CONSTANT, tb, tb, "b", &vb);
  ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, y, NULL, NULL, &v1);
  ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, y, NULL, NULL, &v2);
  ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, y, NULL, "y", &v3);
  ptl_attrs conv = {0};
  conv.n_ints = 7;
  const int64_t ci[7] = {1, 1, 1, 1, 1, 1, 1};
  memcpy(conv.ints, ci, sizeof ci);
  int32_t i1[3] = {vx, vw1, vb}, o1[1] = {v1}, i2[1] = {v1}, o2[1] = {v2};
  int32_t i3[3] = {v2, vw2, vb}, o3[1] = {v3};
  ptl_graph_add_node(g, PTL_OP_CONV2D, &conv, i1, 3, o1, 1, 0);
  ptl_graph_add_node(g, PTL_OP_RELU, NULL, i2, 1, o2, 1, 0);
  ptl_graph_add_node(g, PTL_OP_CONV2D, &conv, i3, 3, o3, 1, 0);
  ptl_graph_mark_input(g, vx);
  ptl_graph_mark_output(g, v3);
  uint8_t *image = NULL;
  T_OK(ptl_format_write(g, NULL, &image, size));
  ptl_graph_destroy(g);
  ptl_tensor_release(x);
  ptl_tensor_release(y);
  ptl_tensor_release(tw1);
  ptl_tensor_release(tw2);
  ptl_tensor_release(tb);
  return image;
}

void test_model_concurrency(void) {
  size_t size = 0;
  uint8_t *image = conv_model_image(&size);
  ptl_model *model = NULL;
  T_OK(ptl_model_load_buffer(image, size, &model));
  if (!model) {
    free(image);
    return;
  }
  static float input[CC_C * CC_HW * CC_HW];
  for (int i = 0; i < CC_C * CC_HW * CC_HW; i++)
    input[i] = (float)((i * 7) % 23) / 23.0f - 0.5f;
  /* the answer of one single-threaded session is the reference */
  ptl_session *s = NULL;
  ptl_session_options one = {1, PTL_BACKEND_AUTO};
  T_OK(ptl_session_create(model, &one, &s));
  T_OK(ptl_session_set_input(s, 0, input, sizeof input));
  T_OK(ptl_session_run(s));
  const void *out = NULL;
  size_t out_bytes = 0;
  T_OK(ptl_session_get_output(s, 0, &out, &out_bytes));
  float *expect = malloc(out_bytes);
  memcpy(expect, out, out_bytes);
  /* the plan reuses memory: conv1's output is dead once relu has run, so the arena
   * holds less than the three [1, 16, 24, 24] activations side by side */
  size_t act = sizeof(float) * CC_O * CC_HW * CC_HW;
  T_CHECK(ptl_session_activation_bytes(s) >= 2 * act);
  T_CHECK(ptl_session_activation_bytes(s) < 3 * act);
  ptl_session_destroy(s);
  /* the reference backend agrees to rounding */
  ptl_session_options ref = {1, PTL_BACKEND_REFERENCE};
  T_OK(ptl_session_create(model, &ref, &s));
  T_OK(ptl_session_set_input(s, 0, input, sizeof input));
  T_OK(ptl_session_run(s));
  T_OK(ptl_session_get_output(s, 0, &out, &out_bytes));
  float max_diff = 0;
  for (size_t i = 0; i < out_bytes / 4; i++) {
    float d = fabsf(((const float *)out)[i] - expect[i]);
    max_diff = d > max_diff ? d : max_diff;
  }
  T_CHECK(max_diff < 1e-4f);
  ptl_session_destroy(s);

  pthread_t th[CC_THREADS];
  cc_job jobs[CC_THREADS];
  for (int i = 0; i < CC_THREADS; i++) {
    jobs[i] = (cc_job){model, input, expect, out_bytes, 0};
    pthread_create(&th[i], NULL, cc_worker, &jobs[i]);
  }
  for (int i = 0; i < CC_THREADS; i++) {
    pthread_join(th[i], NULL);
    T_CHECK(jobs[i].ok);
  }
  free(expect);
  ptl_model_destroy(model);
  free(image);
}
