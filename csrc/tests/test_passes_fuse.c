/* test_passes_fuse.c - fuse_activation and fuse_add_relu on hand-built graphs:
 * node counts, attributes, idempotence, and outputs equal to the unfused graph. */
#include <stdlib.h>

#include "../compiler/passes/pass.h"
#include "test_util.h"

static int32_t live(const ptl_graph *g) {
  int32_t n = 0;
  for (int32_t i = 0; i < g->n_nodes; i++)
    n += !g->nodes[i].dead;
  return n;
}

/* Runs g on one input and returns its single output (caller releases). */
static ptl_tensor *run1(const ptl_graph *g, ptl_tensor *x) {
  ptl_tensor *y = NULL;
  T_OK(ptl_graph_run(g, &x, 1, &y, 1));
  return y;
}

static bool same_bits(const ptl_tensor *a, const ptl_tensor *b) {
  if (!a || !b || ptl_tensor_numel(a) != ptl_tensor_numel(b))
    return false;
  ptl_tensor *ac = NULL, *bc = NULL;
  if (ptl_tensor_contiguous((ptl_tensor *)a, &ac) != PTL_OK)
    return false;
  if (ptl_tensor_contiguous((ptl_tensor *)b, &bc) != PTL_OK) {
    ptl_tensor_release(ac);
    return false;
  }
  bool eq = memcmp(ptl_tensor_data(ac), ptl_tensor_data(bc),
                   sizeof(float) * (size_t)ptl_tensor_numel(a)) == 0;
  ptl_tensor_release(ac);
  ptl_tensor_release(bc);
  return eq;
}

static void fill(ptl_tensor *t, float scale, float shift) {
  float *d = ptl_tensor_data(t);
  int64_t n = ptl_tensor_numel(t);
  for (int64_t i = 0; i < n; i++)
    d[i] = scale * (float)((i * 37) % 23 - 11) + shift;
}

/* y = act(conv(x)), x [1, 2, 5, 5], w [3, 2, 3, 3], padding 1. `act` RELU or
 * HARDTANH(0, 6); in place or not. With `twice`, the conv output is also a
 * graph output (so it must not be fused). Conv attrs stop at i[6] to check that
 * the pass fills the missing defaults. */
static ptl_graph *conv_graph(ptl_op_id act, bool inplace, bool twice, ptl_tensor **x_out) {
  ptl_graph *g = NULL;
  int64_t xs[4] = {1, 2, 5, 5}, ws[4] = {3, 2, 3, 3}, bs[1] = {3}, ys[4] = {1, 3, 5, 5};
  ptl_tensor *x = t_f32(4, xs, NULL), *w = t_f32(4, ws, NULL), *b = t_f32(1, bs, NULL);
  ptl_tensor *y = t_f32(4, ys, NULL);
  fill(x, 0.5f, 0.0f);
  fill(w, 0.25f, 0.1f);
  fill(b, 0.1f, 0.0f);
  int32_t vx, vw, vb, vc, vy;
  T_OK(ptl_graph_create(&g));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_CONSTANT, w, w, "w", &vw));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_CONSTANT, b, b, "b", &vb));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, y, NULL, NULL, &vc));
  vy = vc;
  if (!inplace)
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, y, NULL, "y", &vy));
  ptl_attrs ca = {0};
  ca.n_ints = 7;
  const int64_t ci[7] = {1, 1, 1, 1, 1, 1, 1};
  memcpy(ca.ints, ci, sizeof ci);
  int32_t in_c[3] = {vx, vw, vb}, out_c[1] = {vc}, in_a[1] = {vc}, out_a[1] = {vy};
  T_OK(ptl_graph_add_node(g, PTL_OP_CONV2D, &ca, in_c, 3, out_c, 1, 0));
  ptl_attrs aa = {0};
  if (act == PTL_OP_HARDTANH) {
    aa.n_floats = 2;
    aa.floats[0] = 0.0;
    aa.floats[1] = 6.0;
  }
  T_OK(ptl_graph_add_node(g, act, &aa, in_a, 1, out_a, 1, inplace ? 1u : 0u));
  T_OK(ptl_graph_mark_input(g, vx));
  T_OK(ptl_graph_mark_output(g, vy));
  if (twice)
    T_OK(ptl_graph_mark_output(g, vc));
  ptl_tensor_release(w);
  ptl_tensor_release(b);
  ptl_tensor_release(y);
  *x_out = x;
  return g;
}

static void check_conv_fusion(ptl_op_id act, bool inplace) {
  ptl_tensor *x = NULL;
  ptl_graph *g = conv_graph(act, inplace, false, &x);
  /* the reference conv sums in another order than the fast one: compare per backend */
  ptl_tensor *ref[2];
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    ref[backend] = run1(g, x);
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  ptl_pass_stats st;
  T_OK(ptl_pass_run(g, "fuse_activation", &st));
  T_CHECK(st.rewrites == 1 && st.nodes_removed == 1 && live(g) == 1);
  T_CHECK(strstr(st.detail, "fused 1") != NULL);
  const ptl_attrs *a = &g->nodes[0].attrs;
  T_CHECK(g->nodes[0].op == PTL_OP_CONV2D && a->n_ints == 8 && a->ints[7] == 1);
  T_CHECK(a->ints[6] == 1 && a->n_floats == 2 && a->floats[0] == 0.0);
  T_CHECK(act == PTL_OP_RELU ? isinf(a->floats[1]) && a->floats[1] > 0 : a->floats[1] == 6.0);
  /* the graph output is still named "y" (out of place) and gives the same bits */
  if (!inplace)
    T_CHECK(g->values[g->outputs[0]].name && strcmp(g->values[g->outputs[0]].name, "y") == 0);
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    ptl_tensor *y = run1(g, x);
    T_CHECK(same_bits(y, ref[backend]));
    ptl_tensor_release(y);
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  T_OK(ptl_pass_run(g, "fuse_activation", &st));
  T_CHECK(st.rewrites == 0 && st.nodes_removed == 0 && live(g) == 1);
  ptl_tensor_release(ref[0]);
  ptl_tensor_release(ref[1]);
  ptl_tensor_release(x);
  ptl_graph_destroy(g);
}

/* y = relu(x + c): ADD out of place or in place (into a fresh copy of x), relu
 * in place or not; c [C] broadcasts over x [2, C]. */
static ptl_graph *add_graph(bool add_inplace, bool relu_inplace, float alpha, ptl_tensor **x_out) {
  ptl_graph *g = NULL;
  int64_t xs[2] = {4, 9}, cs[1] = {9};
  ptl_tensor *x = t_f32(2, xs, NULL), *c = t_f32(1, cs, NULL), *s = t_f32(2, xs, NULL);
  fill(x, 0.75f, 0.0f);
  fill(c, -0.5f, 0.25f);
  int32_t vx, vc, vs, vy;
  T_OK(ptl_graph_create(&g));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_CONSTANT, c, c, "c", &vc));
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, s, NULL, NULL, &vs));
  ptl_attrs aa = {0};
  aa.n_floats = 1;
  aa.floats[0] = alpha;
  if (add_inplace) {
    /* s = x * 1 (a computed value), then s += alpha * c in place */
    ptl_attrs ma = {0};
    int32_t in_m[2] = {vx, vx}, out_m[1] = {vs};
    T_OK(ptl_graph_add_node(g, PTL_OP_MAXIMUM, &ma, in_m, 2, out_m, 1, 0));
    int32_t in_a[2] = {vs, vc}, out_a[1] = {vs};
    T_OK(ptl_graph_add_node(g, PTL_OP_ADD, &aa, in_a, 2, out_a, 1, 1u));
  } else {
    int32_t in_a[2] = {vx, vc}, out_a[1] = {vs};
    T_OK(ptl_graph_add_node(g, PTL_OP_ADD, &aa, in_a, 2, out_a, 1, 0));
  }
  vy = vs;
  if (!relu_inplace)
    T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, s, NULL, "y", &vy));
  int32_t in_r[1] = {vs}, out_r[1] = {vy};
  T_OK(ptl_graph_add_node(g, PTL_OP_RELU, NULL, in_r, 1, out_r, 1, relu_inplace ? 1u : 0u));
  T_OK(ptl_graph_mark_input(g, vx));
  T_OK(ptl_graph_mark_output(g, vy));
  ptl_tensor_release(c);
  ptl_tensor_release(s);
  *x_out = x;
  return g;
}

static void check_add_fusion(bool add_inplace, bool relu_inplace, float alpha) {
  ptl_tensor *x = NULL;
  ptl_graph *g = add_graph(add_inplace, relu_inplace, alpha, &x);
  int32_t before = live(g);
  ptl_tensor *ref = run1(g, x);
  ptl_pass_stats st;
  T_OK(ptl_pass_run(g, "fuse_add_relu", &st));
  T_CHECK(st.rewrites == 1 && st.nodes_removed == 1 && live(g) == before - 1);
  const ptl_node *add = &g->nodes[g->n_nodes - 1];
  T_CHECK(add->op == PTL_OP_ADD && add->attrs.n_ints == 1 && add->attrs.ints[0] == 1);
  T_CHECK(add->attrs.n_floats == 1 && add->attrs.floats[0] == alpha);
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    ptl_tensor *y = run1(g, x);
    T_CHECK(same_bits(y, ref));
    /* and it really is relu(x + alpha * c): no negatives, some zeros */
    const float *d = ptl_tensor_data(y);
    int zeros = 0, neg = 0;
    for (int64_t i = 0; i < ptl_tensor_numel(y); i++) {
      zeros += d[i] == 0.0f;
      neg += d[i] < 0.0f;
    }
    T_CHECK(zeros > 0 && neg == 0);
    ptl_tensor_release(y);
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  T_OK(ptl_pass_run(g, "fuse_add_relu", &st));
  T_CHECK(st.rewrites == 0 && live(g) == before - 1);
  ptl_tensor_release(ref);
  ptl_tensor_release(x);
  ptl_graph_destroy(g);
}

/* add with i[0] = 1 directly, on a float input with negatives, NaN and -0.0 */
static void check_add_relu_op(void) {
  int64_t s[1] = {6};
  const float av[6] = {-1.0f, 2.0f, NAN, -0.0f, 0.5f, -3.0f};
  const float bv[6] = {0.5f, -1.0f, 1.0f, 0.0f, -0.5f, 1.0f};
  ptl_tensor *a = t_f32(1, s, av), *b = t_f32(1, s, bv);
  ptl_tensor *in[2] = {a, b};
  ptl_attrs at = {0};
  at.n_ints = 1;
  at.ints[0] = 1;
  for (int backend = 0; backend < 2; backend++) {
    ptl_set_backend(backend ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO);
    ptl_tensor *y = NULL, *u = NULL, *r = NULL;
    T_OK(ptl_op_run(PTL_OP_ADD, &at, in, 2, &y, 1));
    ptl_attrs none = {0};
    T_OK(ptl_op_run(PTL_OP_ADD, &none, in, 2, &u, 1));
    T_OK(ptl_op_run(PTL_OP_RELU, &none, &u, 1, &r, 1));
    T_CHECK(same_bits(y, r)); /* NaN stays NaN, -0.0 + 0.0 = 0.0 */
    const float *d = ptl_tensor_data(y);
    T_CHECK(d[0] == 0.0f && d[1] == 1.0f && isnan(d[2]) && d[5] == 0.0f);
    ptl_tensor_release(y);
    ptl_tensor_release(u);
    ptl_tensor_release(r);
  }
  ptl_set_backend(PTL_BACKEND_AUTO);
  at.ints[0] = 2;
  ptl_tensor *y = NULL;
  T_CHECK(ptl_op_run(PTL_OP_ADD, &at, in, 2, &y, 1) == PTL_ERR_VALUE && y == NULL);
  T_CHECK(strstr(ptl_last_error_message(), "add") != NULL);
  ptl_tensor_release(a);
  ptl_tensor_release(b);
}

void test_passes_fuse(void) {
  check_conv_fusion(PTL_OP_RELU, false);
  check_conv_fusion(PTL_OP_RELU, true);
  check_conv_fusion(PTL_OP_HARDTANH, false);
  check_conv_fusion(PTL_OP_HARDTANH, true);

  /* the conv output is also a graph output: nothing to fuse */
  ptl_tensor *x = NULL;
  ptl_graph *g = conv_graph(PTL_OP_RELU, false, true, &x);
  ptl_pass_stats st;
  T_OK(ptl_pass_run(g, "fuse_activation", &st));
  T_CHECK(st.rewrites == 0 && live(g) == 2 && g->nodes[0].attrs.n_ints == 7);
  ptl_tensor_release(x);
  ptl_graph_destroy(g);

  check_add_fusion(false, false, 1.0f);
  check_add_fusion(false, true, 1.0f);
  check_add_fusion(true, true, 1.0f);
  check_add_fusion(true, false, -2.0f);
  check_add_fusion(false, false, 0.5f);
  check_add_relu_op();
}
