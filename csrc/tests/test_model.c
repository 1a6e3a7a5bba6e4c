/* test_model.c - graph -> .ptl image -> model -> session, and corrupt images. */
#include <math.h>
#include <stdint.h>
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

static void test_model_quant(void);

void test_model(void) {
  test_model_quant();
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

/* ---- quantized constants and values (format 1.1) ------------------------ */
static const float k_qscale[4] = {0.01f, 0.02f, 0.03f, 0.04f};
static const int32_t k_qzp[4] = {0, 1, -1, 2};

static ptl_tensor *t_like(ptl_dtype dtype, int ndim, const int64_t *shape) {
  ptl_tensor *t = NULL;
  T_OK(ptl_tensor_create(dtype, ndim, shape, &t));
  return t;
}

/* x [2, 3] float -> linear with dequantize(w), w qint8 [4, 3] per channel (axis 0)
 * -> quantize_per_tensor (quint8, scale 0.05, zp 10) = q; outputs q, int_repr of
 * q's transposed view, and dequantize of w's transposed view (channel axis 1). */
static ptl_graph *build_quant_graph(void) {
  ptl_graph *g = NULL;
  int64_t xs[2] = {2, 3}, ws[2] = {4, 3}, wts[2] = {3, 4}, ys[2] = {2, 4}, yts[2] = {4, 2};
  ptl_tensor *x = t_like(PTL_FLOAT32, 2, xs), *w = t_like(PTL_QINT8, 2, ws);
  ptl_tensor *f43 = t_like(PTL_FLOAT32, 2, ws), *f24 = t_like(PTL_FLOAT32, 2, ys);
  ptl_tensor *q24 = t_like(PTL_QUINT8, 2, ys), *q42 = t_like(PTL_QUINT8, 2, yts);
  ptl_tensor *u42 = t_like(PTL_UINT8, 2, yts), *w34 = t_like(PTL_QINT8, 2, wts);
  ptl_tensor *f34 = t_like(PTL_FLOAT32, 2, wts);
  int8_t *wd = ptl_tensor_data(w);
  for (int i = 0; i < 12; i++)
    wd[i] = (int8_t)(i * 37 % 255 - 127);
  T_OK(ptl_qparams_set(w, PTL_QSCHEME_PER_CHANNEL_AFFINE, 0, 4, k_qscale, k_qzp));
  int32_t vx, vw, vd, vy, vq, vqt, vr, vwt, vdt;
  T_OK(ptl_graph_create(&g));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_CONSTANT, w, w, "qweight", &vw));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, f43, NULL, NULL, &vd));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, f24, NULL, NULL, &vy));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, q24, NULL, "q", &vq));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, q42, NULL, NULL, &vqt));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, u42, NULL, "codes", &vr));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, w34, NULL, NULL, &vwt));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, f34, NULL, "wt", &vdt));
  ptl_attrs quant = {0}, perm = {0};
  quant.n_ints = 2;
  quant.ints[0] = 10;
  quant.ints[1] = PTL_QUINT8;
  quant.n_floats = 1;
  quant.floats[0] = 0.05;
  perm.n_ints = 2;
  perm.ints[0] = 1;
  perm.ints[1] = 0;
  T_OK(ptl_graph_add_node(g, PTL_OP_DEQUANTIZE, NULL, &vw, 1, &vd, 1, 0));
  T_OK(ptl_graph_add_node(g, PTL_OP_LINEAR, NULL, (int32_t[]){vx, vd}, 2, &vy, 1, 0));
  T_OK(ptl_graph_add_node(g, PTL_OP_QUANTIZE_PER_TENSOR, &quant, &vy, 1, &vq, 1, 0));
  T_OK(ptl_graph_add_node(g, PTL_OP_PERMUTE, &perm, &vq, 1, &vqt, 1, 0));
  T_OK(ptl_graph_add_node(g, PTL_OP_INT_REPR, NULL, &vqt, 1, &vr, 1, 0));
  T_OK(ptl_graph_add_node(g, PTL_OP_PERMUTE, &perm, &vw, 1, &vwt, 1, 0));
  T_OK(ptl_graph_add_node(g, PTL_OP_DEQUANTIZE, NULL, &vwt, 1, &vdt, 1, 0));
  T_OK(ptl_graph_mark_input(g, vx));
  T_OK(ptl_graph_mark_output(g, vq));
  T_OK(ptl_graph_mark_output(g, vr));
  T_OK(ptl_graph_mark_output(g, vdt));
  ptl_tensor *all[] = {x, w, f43, f24, q24, q42, u42, w34, f34};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    ptl_tensor_release(all[i]);
  return g;
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
  return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes every section CRC and the header CRC, so an edit reaches the
 * validation behind the checksums. */
static void fix_crcs(uint8_t *image) {
  uint32_t n = rd32(image + 16);
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *e = image + 64 + 32 * i;
    wr32(e + 24, ptl_crc32(0, image + rd64(e + 8), (size_t)rd64(e + 16)));
  }
  wr32(image + 20, 0);
  wr32(image + 20, ptl_crc32(0, image, 64 + 32 * n));
}

/* Offset of the quantization record of the [4, 3] weight (per channel, axis 0). */
static size_t find_qrecord(const uint8_t *image, size_t size) {
  const uint8_t rec[12] = {0xFF, 2, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0};
  for (size_t i = 0; i + sizeof rec <= size; i++)
    if (memcmp(image + i, rec, sizeof rec) == 0)
      return i;
  return 0;
}

/* Loads a patched copy of `image` and checks the error and its message. */
static void expect_refused(const uint8_t *image, size_t size, size_t pos, const void *bytes,
                           size_t n, ptl_status want, const char *msg) {
  uint8_t *copy = malloc(size);
  memcpy(copy, image, size);
  memcpy(copy + pos, bytes, n);
  fix_crcs(copy);
  ptl_model *m = NULL;
  ptl_status s = ptl_model_load_buffer(copy, size, &m);
  T_CHECK(s == want && m == NULL);
  if (!strstr(ptl_last_error_message(), msg)) {
    fprintf(stderr, "expected '%s' in '%s'\n", msg, ptl_last_error_message());
    T_CHECK(0);
  }
  ptl_model_destroy(m);
  free(copy);
}

static void test_model_quant(void) {
  ptl_graph *g = build_quant_graph();
  uint8_t *image = NULL;
  size_t size = 0;
  T_OK(ptl_format_write(g, NULL, &image, &size));
  if (!image) {
    ptl_graph_destroy(g);
    return;
  }
  /* 1.1 with the quantization feature flag */
  T_CHECK(image[8] == 1 && image[10] == 1 && rd32(image + 12) == PTL_FILE_FLAG_QPARAMS);

  /* the interpreter on the saved graph is the reference for the session */
  ptl_graph *loaded = NULL;
  ptl_meta meta = {0};
  T_OK(ptl_format_read(image, size, NULL, &loaded, &meta));
  ptl_meta_clear(&meta);
  ptl_tensor *constant = NULL;
  for (int32_t i = 0; loaded && i < loaded->n_values; i++)
    if (loaded->values[i].kind == PTL_VALUE_CONSTANT)
      constant = loaded->values[i].constant;
  T_CHECK(constant && constant->qparams && constant->qparams->count == 4 &&
          constant->qparams->axis == 0 &&
          constant->qparams->scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE &&
          memcmp(constant->qparams->scale, k_qscale, sizeof k_qscale) == 0 &&
          memcmp(constant->qparams->zero_point, k_qzp, sizeof k_qzp) == 0);
  int64_t xs[2] = {2, 3};
  const float xv[6] = {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -3.0f};
  ptl_tensor *x = t_f32(2, xs, xv);
  ptl_tensor *ref[3] = {NULL, NULL, NULL};
  T_OK(ptl_graph_run(loaded, &x, 1, ref, 3));

  ptl_model *model = NULL;
  T_OK(ptl_model_load_buffer(image, size, &model));
  ptl_session *session = NULL;
  ptl_session_options opts = {1, PTL_BACKEND_AUTO};
  if (model)
    T_OK(ptl_session_create(model, &opts, &session));
  for (int run = 0; session && ref[0] && run < 2; run++) {
    T_OK(ptl_session_set_input(session, 0, xv, sizeof xv));
    T_OK(ptl_session_run(session));
    const void *out;
    size_t n;
    T_OK(ptl_session_get_output(session, 0, &out, &n));
    T_CHECK(n == 8 && memcmp(out, ptl_tensor_data(ref[0]), 8) == 0);
    int axis = 7;
    int64_t count = 0;
    const float *sc = NULL;
    const int32_t *zp = NULL;
    T_OK(ptl_session_get_output_qparams(session, 0, &axis, &count, &sc, &zp));
    T_CHECK(axis == -1 && count == 1 && sc && sc[0] == 0.05f && zp && zp[0] == 10);
    /* int_repr of the transposed view in the arena: the codes of q, transposed */
    T_OK(ptl_session_get_output(session, 1, &out, &n));
    const uint8_t *codes = out, *qd = ptl_tensor_data(ref[0]);
    T_CHECK(n == 8);
    for (int i = 0; i < 4 && n == 8; i++)
      for (int j = 0; j < 2; j++)
        T_CHECK(codes[i * 2 + j] == qd[j * 4 + i]);
    /* the view of the weight keeps its scales on channel axis 1 */
    T_OK(ptl_session_get_output(session, 2, &out, &n));
    const float *wt = out;
    const int8_t *wd = ptl_tensor_data(constant);
    T_CHECK(n == 12 * sizeof(float));
    for (int k = 0; k < 3 && n == 48; k++)
      for (int c = 0; c < 4; c++)
        T_CHECK(wt[k * 4 + c] == (float)(wd[c * 3 + k] - k_qzp[c]) * k_qscale[c]);
    T_CHECK(memcmp(out, ptl_tensor_data(ref[2]), 48) == 0);
    T_CHECK(ptl_session_get_output_qparams(session, 2, NULL, NULL, NULL, NULL) == PTL_ERR_DTYPE);
    T_CHECK(strstr(ptl_last_error_message(), "output 2 is float32") != NULL);
    T_CHECK(ptl_session_get_output_qparams(session, 3, NULL, NULL, NULL, NULL) == PTL_ERR_INDEX);
  }
  /* q = round(y / 0.05) + 10 for y = x @ dequantize(w)^T, within 1 (float sums) */
  if (ref[0]) {
    const int8_t *wd = ptl_tensor_data(constant);
    int unsaturated = 0;
    for (int i = 0; i < 2; i++)
      for (int c = 0; c < 4; c++) {
        float y = 0.0f;
        for (int k = 0; k < 3; k++)
          y += xv[i * 3 + k] * ((float)(wd[c * 3 + k] - k_qzp[c]) * k_qscale[c]);
        int want = (int)nearbyintf(y / 0.05f) + 10;
        unsaturated += want > 0 && want < 255;
        want = want < 0 ? 0 : want > 255 ? 255 : want;
        int got = ((const uint8_t *)ptl_tensor_data(ref[0]))[i * 4 + c];
        T_CHECK(abs(got - want) <= 1);
      }
    T_CHECK(unsaturated >= 4);
  }
  ptl_session_destroy(session);
  ptl_model_destroy(model);
  for (int i = 0; i < 3; i++)
    ptl_tensor_release(ref[i]);
  ptl_tensor_release(x);
  ptl_graph_destroy(loaded);

  /* corrupt parameters: refused naming the value, never a crash */
  size_t rec = find_qrecord(image, size);
  T_CHECK(rec > 0);
  if (rec > 0) {
    float zero = 0.0f, nan = NAN, inf = INFINITY;
    int32_t zp200 = 200, axis5 = 5;
    uint8_t scheme9 = 9, count3[4] = {3, 0, 0, 0}, tag = 0x7F;
    expect_refused(image, size, rec + 12 + 4, &zero, 4, PTL_ERR_CORRUPT_FILE,
                   "value 1 (qweight) has quantization scale 0 at index 1");
    expect_refused(image, size, rec + 12, &nan, 4, PTL_ERR_CORRUPT_FILE,
                   "scales must be positive and finite");
    expect_refused(image, size, rec + 12 + 8, &inf, 4, PTL_ERR_CORRUPT_FILE,
                   "quantization scale inf at index 2");
    expect_refused(image, size, rec + 12 + 16 + 12, &zp200, 4, PTL_ERR_CORRUPT_FILE,
                   "value 1 (qweight) has zero point 200 at index 3, outside the qint8 range "
                   "[-128, 127]");
    expect_refused(image, size, rec + 1, &scheme9, 1, PTL_ERR_CORRUPT_FILE,
                   "value 1 (qweight) has unknown quantization scheme 9");
    expect_refused(image, size, rec + 8, count3, 4, PTL_ERR_CORRUPT_FILE,
                   "value 1 (qweight) has 3 per-channel scales but dim 0 has size 4");
    expect_refused(image, size, rec + 4, &axis5, 4, PTL_ERR_CORRUPT_FILE,
                   "quantized per channel along axis 5, outside its 2 dims");
    expect_refused(image, size, rec, &tag, 1, PTL_ERR_CORRUPT_FILE,
                   "malformed quantization record");
    /* a huge count is bounded by the section, not allocated */
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0x7f};
    expect_refused(image, size, rec + 8, huge, 4, PTL_ERR_CORRUPT_FILE,
                   "ends inside a quantization record");
    /* the value flag byte sits 8 + 2*8 + 4 + 7 + 16 bytes before the record */
    size_t flag_pos = rec - (16 + 4 + 7 + 16 + 1);
    T_CHECK(image[flag_pos] == PTL_VALUE_FLAG_QPARAMS && image[flag_pos - 1] == 2);
    uint8_t noflag = 0, badflag = 0x3;
    expect_refused(image, size, flag_pos, &noflag, 1, PTL_ERR_CORRUPT_FILE,
                   "constant 1 (qweight) is qint8 but the file stores no quantization "
                   "parameters for it");
    expect_refused(image, size, flag_pos, &badflag, 1, PTL_ERR_CORRUPT_FILE,
                   "value 1 (kind 1) has flags 0x03");
    /* header feature flags: an unknown one names the upgrade, a missing one is corrupt */
    uint8_t flags2[4] = {0x3, 0, 0, 0}, flags0[4] = {0, 0, 0, 0}, v10[2] = {0, 0};
    expect_refused(image, size, 12, flags2, 4, PTL_ERR_VERSION,
                   "needs format features (flags 0x2) that this runtime");
    expect_refused(image, size, 12, flags0, 4, PTL_ERR_CORRUPT_FILE, "has flags 0x01");
    expect_refused(image, size, 10, v10, 2, PTL_ERR_CORRUPT_FILE, "format 1.0 has no header flags");
  }
  free(image);

  /* the writer refuses what the reader would refuse */
  ptl_tensor *w = g->values[1].constant;
  w->qparams->scale[2] = -1.0f;
  T_CHECK(ptl_format_write(g, NULL, &image, &size) == PTL_ERR_VALUE);
  T_CHECK(strstr(ptl_last_error_message(), "save: cannot store: value 1 (qweight) has "
                                           "quantization scale -1 at index 2") != NULL);
  w->qparams->scale[2] = k_qscale[2];
  ptl_qparams *q = w->qparams;
  w->qparams = NULL;
  T_CHECK(ptl_format_write(g, NULL, &image, &size) == PTL_ERR_VALUE);
  T_CHECK(strstr(ptl_last_error_message(), "no quantization parameters") != NULL);
  w->qparams = q;
  ptl_graph_destroy(g);

  /* C sessions refuse quantized inputs by name: set_input cannot give parameters */
  {
    int64_t qs[1] = {4};
    ptl_tensor *qx = t_like(PTL_QUINT8, 1, qs), *fx = t_like(PTL_FLOAT32, 1, qs);
    int32_t vq, vf;
    T_OK(ptl_graph_create(&g));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, qx, NULL, "qx", &vq));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, fx, NULL, NULL, &vf));
    T_OK(ptl_graph_add_node(g, PTL_OP_DEQUANTIZE, NULL, &vq, 1, &vf, 1, 0));
    T_OK(ptl_graph_mark_input(g, vq));
    T_OK(ptl_graph_mark_output(g, vf));
    ptl_tensor_release(qx);
    ptl_tensor_release(fx);
    T_OK(ptl_format_write(g, NULL, &image, &size));
    T_CHECK(image && image[10] == 0); /* no quantized constant: still 1.0 */
    ptl_model *qm = NULL;
    ptl_session *qsess = NULL;
    T_OK(ptl_model_load_buffer(image, size, &qm));
    if (qm) {
      T_CHECK(ptl_session_create(qm, NULL, &qsess) == PTL_ERR_UNSUPPORTED && !qsess);
      T_CHECK(strstr(ptl_last_error_message(), "input 0 (qx) is quint8") != NULL);
    }
    ptl_model_destroy(qm);
    free(image);
    ptl_graph_destroy(g);
  }

  /* scales computed from an input change every run: the transposed view the plan
   * made once must dequantize with this run's scales */
  {
    int64_t xs2[2] = {4, 3}, ss[1] = {4}, ts[2] = {3, 4};
    ptl_tensor *x = t_like(PTL_FLOAT32, 2, xs2), *sc = t_like(PTL_FLOAT32, 1, ss);
    ptl_tensor *zp = t_like(PTL_INT64, 1, ss), *q = t_like(PTL_QINT8, 2, xs2);
    ptl_tensor *qt = t_like(PTL_QINT8, 2, ts), *f = t_like(PTL_FLOAT32, 2, ts);
    memset(ptl_tensor_data(zp), 0, 4 * sizeof(int64_t));
    int32_t vx, vs, vz, vq, vt, vf;
    T_OK(ptl_graph_create(&g));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, sc, NULL, "scales", &vs));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_CONSTANT, zp, zp, "zp", &vz));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, q, NULL, NULL, &vq));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, qt, NULL, NULL, &vt));
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, f, NULL, NULL, &vf));
    ptl_attrs qa = {0}, perm = {0};
    qa.n_ints = 2;
    qa.ints[0] = 0;
    qa.ints[1] = PTL_QINT8;
    perm.n_ints = 2;
    perm.ints[0] = 1;
    perm.ints[1] = 0;
    T_OK(ptl_graph_add_node(g, PTL_OP_QUANTIZE_PER_CHANNEL, &qa, (int32_t[]){vx, vs, vz}, 3, &vq, 1,
                            0));
    T_OK(ptl_graph_add_node(g, PTL_OP_PERMUTE, &perm, &vq, 1, &vt, 1, 0));
    T_OK(ptl_graph_add_node(g, PTL_OP_DEQUANTIZE, NULL, &vt, 1, &vf, 1, 0));
    T_OK(ptl_graph_mark_input(g, vx));
    T_OK(ptl_graph_mark_input(g, vs));
    T_OK(ptl_graph_mark_output(g, vf));
    ptl_tensor *all[] = {x, sc, zp, q, qt, f};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
      ptl_tensor_release(all[i]);
    T_OK(ptl_format_write(g, NULL, &image, &size));
    ptl_graph_destroy(g);
    ptl_model *qm = NULL;
    ptl_session *qsess = NULL;
    T_OK(ptl_model_load_buffer(image, size, &qm));
    if (qm)
      T_OK(ptl_session_create(qm, NULL, &qsess));
    const float xv[12] = {1, 2, 3, 4, 5, 6, -1, -2, -3, 0.5f, 0.25f, 7};
    const float scales[2][4] = {{0.1f, 0.2f, 0.3f, 0.4f}, {0.5f, 0.25f, 1.0f, 0.125f}};
    for (int run = 0; qsess && run < 4; run++) {
      const float *sv = scales[run % 2];
      T_OK(ptl_session_set_input(qsess, 0, xv, sizeof xv));
      T_OK(ptl_session_set_input(qsess, 1, sv, 4 * sizeof(float)));
      T_OK(ptl_session_run(qsess));
      const void *out;
      size_t n;
      T_OK(ptl_session_get_output(qsess, 0, &out, &n));
      const float *o = out;
      for (int k = 0; k < 3 && n == 48; k++)
        for (int c = 0; c < 4; c++) {
          float v = nearbyintf(xv[c * 3 + k] * (1.0f / sv[c]));
          v = v < -128 ? -128 : v > 127 ? 127 : v;
          T_CHECK(o[k * 4 + c] == v * sv[c]);
        }
    }
    ptl_session_destroy(qsess);
    ptl_model_destroy(qm);
    free(image);
  }

  /* a float model is still written as 1.0 with no flags, loadable by 1.0 runtimes */
  g = build_graph();
  T_OK(ptl_format_write(g, NULL, &image, &size));
  T_CHECK(image && image[10] == 0 && rd32(image + 12) == 0);
  free(image);
  ptl_graph_destroy(g);
}
