/* test_passes_fold.c - conv_bn_fold, linear_bn_fold and constant_fold on
 * graphs built by hand: node counts after the pass, outputs against the
 * unfolded graph, the source constants untouched, idempotence, and the cases
 * that must not fold. */
#include <stdlib.h>

#include "../compiler/passes/pass.h"
#include "test_util.h"

/* Deterministic pseudo-random floats in [lo, hi). */
static float frand(uint32_t *state, float lo, float hi) {
  *state = *state * 1664525u + 1013904223u;
  return lo + (hi - lo) * (float)(*state >> 8) / (float)(1u << 24);
}

static ptl_tensor *t_rand(int ndim, const int64_t *shape, uint32_t *st, float lo, float hi) {
  ptl_tensor *t = t_f32(ndim, shape, NULL);
  if (!t)
    return NULL;
  float *d = ptl_tensor_data(t);
  for (int64_t i = 0; i < ptl_tensor_numel(t); i++)
    d[i] = frand(st, lo, hi);
  return t;
}

/* Adds a constant to g and drops the caller's reference. */
static int32_t add_const(ptl_graph *g, ptl_tensor *t, const char *name) {
  int32_t id = -1;
  T_OK(ptl_graph_add_constant(g, t, name, &id));
  ptl_tensor_release(t);
  return id;
}

static int32_t add_inter(ptl_graph *g, int ndim, const int64_t *shape, const char *name) {
  ptl_tensor *like = t_f32(ndim, shape, NULL);
  int32_t id = -1;
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INTERMEDIATE, like, NULL, name, &id));
  ptl_tensor_release(like);
  return id;
}

static int32_t live_nodes(const ptl_graph *g) {
  int32_t n = 0;
  for (int32_t i = 0; i < g->n_nodes; i++)
    n += !g->nodes[i].dead;
  return n;
}

/* BATCH_NORM(x) over C channels with random statistics; returns its output. */
static int32_t add_bn(ptl_graph *g, int32_t x, int64_t C, int ndim, const int64_t *shape,
                      uint32_t *st, bool affine) {
  int32_t in[5] = {x, -1, -1, -1, -1};
  in[1] = add_const(g, t_rand(1, &C, st, -1.0f, 1.0f), "bn.running_mean");
  in[2] = add_const(g, t_rand(1, &C, st, 0.3f, 3.0f), "bn.running_var");
  if (affine) {
    in[3] = add_const(g, t_rand(1, &C, st, 0.5f, 1.5f), "bn.weight");
    in[4] = add_const(g, t_rand(1, &C, st, -1.0f, 1.0f), "bn.bias");
  }
  ptl_attrs a = {0};
  a.n_floats = 1;
  a.floats[0] = 1e-5;
  int32_t y = add_inter(g, ndim, shape, NULL);
  T_OK(ptl_graph_add_node(g, PTL_OP_BATCH_NORM, &a, in, 5, &y, 1, 0));
  return y;
}

/* Runs `name` on a clone of g; checks removed nodes, outputs against g on
 * input x, idempotence. Returns the clone (caller destroys). */
static ptl_graph *check_pass(const ptl_graph *g, const char *name, ptl_tensor *x,
                             int32_t expect_rewrites) {
  ptl_graph *c = NULL;
  T_OK(ptl_graph_clone(g, &c));
  if (!c)
    return NULL;
  int32_t before = live_nodes(c);
  ptl_pass_stats st;
  T_OK(ptl_pass_run(c, name, &st));
  T_CHECK(st.rewrites == expect_rewrites);
  T_CHECK(st.nodes_removed == expect_rewrites);
  T_CHECK(c->n_nodes == before - expect_rewrites);
  T_CHECK(strlen(st.detail) > 0);
  ptl_tensor *ref = NULL, *got = NULL;
  T_OK(ptl_graph_run(g, &x, 1, &ref, 1));
  T_OK(ptl_graph_run(c, &x, 1, &got, 1));
  if (ref && got) {
    const float *a = ptl_tensor_data(ref), *b = ptl_tensor_data(got);
    T_CHECK(ptl_tensor_numel(ref) == ptl_tensor_numel(got));
    double amax = 0, err = 0;
    for (int64_t i = 0; i < ptl_tensor_numel(ref); i++) {
      amax = fmax(amax, fabs(a[i]));
      err = fmax(err, fabs((double)a[i] - b[i]));
    }
    T_CHECK(err <= 1e-5 * amax);
  }
  ptl_tensor_release(ref);
  ptl_tensor_release(got);
  int32_t nodes = c->n_nodes;
  T_OK(ptl_pass_run(c, name, &st));
  T_CHECK(st.rewrites == 0 && st.nodes_removed == 0 && c->n_nodes == nodes);
  return c;
}

/* x [2, 3, 6, 6] -> conv 3x3 (3 -> 4, no bias; i[7] = clamp) -> BN -> relu,
 * with `extra_use`: the conv output is also added to the BN output. */
static ptl_graph *conv_bn_graph(bool clamp, bool extra_use, ptl_tensor **w_out) {
  uint32_t st = 7;
  int64_t xs[4] = {2, 3, 6, 6}, ws[4] = {4, 3, 3, 3}, ys[4] = {2, 4, 6, 6};
  ptl_graph *g = NULL;
  T_OK(ptl_graph_create(&g));
  ptl_tensor *x = t_f32(4, xs, NULL);
  int32_t vx;
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
  T_OK(ptl_graph_mark_input(g, vx));
  ptl_tensor_release(x);
  ptl_tensor *w = t_rand(4, ws, &st, -1.0f, 1.0f);
  *w_out = w;
  ptl_tensor_retain(w);
  int32_t in[2] = {vx, add_const(g, w, "conv.weight")};
  ptl_attrs a = {0};
  a.n_ints = 10;
  const int64_t ci[10] = {1, 1, 1, 1, 1, 1, 1, clamp ? 1 : 0, 0, 0};
  memcpy(a.ints, ci, sizeof ci);
  a.n_floats = 2;
  a.floats[0] = clamp ? 0.0 : -INFINITY;
  a.floats[1] = clamp ? 6.0 : INFINITY;
  int32_t vc = add_inter(g, 4, ys, NULL);
  T_OK(ptl_graph_add_node(g, PTL_OP_CONV2D, &a, in, 2, &vc, 1, 0));
  int32_t vb = add_bn(g, vc, 4, 4, ys, &st, true);
  if (extra_use) {
    int32_t vs = add_inter(g, 4, ys, NULL), add_in[2] = {vb, vc};
    T_OK(ptl_graph_add_node(g, PTL_OP_ADD, NULL, add_in, 2, &vs, 1, 0));
    vb = vs;
  }
  int32_t vy = add_inter(g, 4, ys, "y");
  T_OK(ptl_graph_add_node(g, PTL_OP_RELU, NULL, &vb, 1, &vy, 1, 0));
  T_OK(ptl_graph_mark_output(g, vy));
  T_OK(ptl_graph_validate(g));
  return g;
}

static void test_conv_bn(void) {
  uint32_t st = 99;
  int64_t xs[4] = {2, 3, 6, 6};
  ptl_tensor *x = t_rand(4, xs, &st, -2.0f, 2.0f), *w = NULL;
  ptl_graph *g = conv_bn_graph(false, false, &w);
  float w0[108];
  memcpy(w0, ptl_tensor_data(w), sizeof w0);
  ptl_graph *c = check_pass(g, "conv_bn_fold", x, 1);
  if (c) {
    T_CHECK(c->n_nodes == 2 && c->nodes[0].op == PTL_OP_CONV2D && c->nodes[1].op == PTL_OP_RELU);
    T_CHECK(c->nodes[0].n_in == 3 && c->nodes[0].in[2] >= 0); /* the bias was added */
    T_CHECK(ptl_graph_constant(c, c->nodes[0].in[1]) != w);
    const char *bname = c->values[c->nodes[0].in[2]].name;
    T_CHECK(bname && strcmp(bname, "conv.bias") == 0);
  }
  T_CHECK(memcmp(w0, ptl_tensor_data(w), sizeof w0) == 0); /* source weight untouched */
  ptl_graph_destroy(c);
  ptl_graph_destroy(g);
  ptl_tensor_release(w);

  /* no fold: fused clamp (it runs before the BN), or a second use of the conv */
  for (int k = 0; k < 2; k++) {
    g = conv_bn_graph(k == 0, k == 1, &w);
    c = check_pass(g, "conv_bn_fold", x, 0);
    ptl_graph_destroy(c);
    ptl_graph_destroy(g);
    ptl_tensor_release(w);
  }
  ptl_tensor_release(x);
}

/* x [5, 6] -> BN -> linear(6 -> 4) -> BN -> relu */
static void test_linear_bn(void) {
  uint32_t st = 3;
  int64_t xs[2] = {5, 6}, ws[2] = {4, 6}, ys[2] = {5, 4}, bs[1] = {4};
  ptl_graph *g = NULL;
  T_OK(ptl_graph_create(&g));
  ptl_tensor *x = t_rand(2, xs, &st, -2.0f, 2.0f);
  int32_t vx;
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
  T_OK(ptl_graph_mark_input(g, vx));
  int32_t v1 = add_bn(g, vx, 6, 2, xs, &st, true);
  int32_t in[3] = {v1, add_const(g, t_rand(2, ws, &st, -1.0f, 1.0f), "fc.weight"),
                   add_const(g, t_rand(1, bs, &st, -1.0f, 1.0f), "fc.bias")};
  int32_t v2 = add_inter(g, 2, ys, NULL);
  T_OK(ptl_graph_add_node(g, PTL_OP_LINEAR, NULL, in, 3, &v2, 1, 0));
  int32_t v3 = add_bn(g, v2, 4, 2, ys, &st, false);
  int32_t vy = add_inter(g, 2, ys, "y");
  T_OK(ptl_graph_add_node(g, PTL_OP_RELU, NULL, &v3, 1, &vy, 1, 0));
  T_OK(ptl_graph_mark_output(g, vy));
  ptl_graph *c = check_pass(g, "linear_bn_fold", x, 2);
  if (c) {
    T_CHECK(c->n_nodes == 2 && c->nodes[0].op == PTL_OP_LINEAR);
    T_CHECK(c->nodes[0].in[0] == c->inputs[0]);
  }
  ptl_graph_destroy(c);
  /* conv_bn_fold leaves it alone */
  c = check_pass(g, "conv_bn_fold", x, 0);
  ptl_graph_destroy(c);
  ptl_graph_destroy(g);
  ptl_tensor_release(x);
}

/* r = c1.reshape(3); y = (x + r) + r * c2 with c1 [1, 3], c2 [3]: the reshape
 * and the product fold, and the reshape's constant has its own storage; then
 * a graph returning the product keeps the product's node. */
static void test_constant_fold(void) {
  uint32_t st = 11;
  int64_t s13[2] = {1, 3}, s3[1] = {3};
  ptl_graph *g = NULL;
  T_OK(ptl_graph_create(&g));
  ptl_tensor *x = t_rand(1, s3, &st, -1.0f, 1.0f);
  int32_t vx;
  T_OK(ptl_graph_add_value(g, PTL_VALUE_INPUT, x, NULL, "x", &vx));
  T_OK(ptl_graph_mark_input(g, vx));
  ptl_tensor *c1 = t_rand(2, s13, &st, -1.0f, 1.0f);
  ptl_tensor_retain(c1);
  int32_t vc1 = add_const(g, c1, "c1");
  ptl_attrs r = {0};
  r.n_ints = 1;
  r.ints[0] = 3;
  int32_t vr = add_inter(g, 1, s3, NULL);
  T_OK(ptl_graph_add_node(g, PTL_OP_RESHAPE, &r, &vc1, 1, &vr, 1, 0));
  int32_t mul_in[2] = {vr, add_const(g, t_rand(1, s3, &st, -1.0f, 1.0f), "c2")};
  int32_t vm = add_inter(g, 1, s3, NULL);
  T_OK(ptl_graph_add_node(g, PTL_OP_MUL, NULL, mul_in, 2, &vm, 1, 0));
  int32_t add1_in[2] = {vx, vr}, va = add_inter(g, 1, s3, NULL);
  T_OK(ptl_graph_add_node(g, PTL_OP_ADD, NULL, add1_in, 2, &va, 1, 0));
  int32_t add2_in[2] = {va, vm}, vy = add_inter(g, 1, s3, "y");
  T_OK(ptl_graph_add_node(g, PTL_OP_ADD, NULL, add2_in, 2, &vy, 1, 0));
  T_OK(ptl_graph_mark_output(g, vy));
  ptl_graph *c = check_pass(g, "constant_fold", x, 2);
  if (c) {
    T_CHECK(c->n_nodes == 2 && c->nodes[0].op == PTL_OP_ADD && c->nodes[1].op == PTL_OP_ADD);
    const ptl_tensor *k = ptl_graph_constant(c, c->nodes[0].in[1]);
    T_CHECK(k && k->storage != c1->storage && ptl_tensor_is_contiguous(k));
    T_CHECK(ptl_graph_constant(c, c->nodes[1].in[1]) != NULL);
  }
  ptl_graph_destroy(c);
  /* the product as the graph output: it stays (only the reshape it reads folds) */
  g->outputs[0] = vm;
  c = check_pass(g, "constant_fold", x, 1);
  if (c)
    T_CHECK(c->n_nodes == 3 && c->nodes[0].op == PTL_OP_MUL);
  ptl_graph_destroy(c);
  ptl_graph_destroy(g);
  ptl_tensor_release(c1);
  ptl_tensor_release(x);
}

static void test_errors(void) {
  ptl_graph *g = NULL;
  T_OK(ptl_graph_create(&g));
  ptl_pass_stats st;
  T_CHECK(ptl_pass_run(g, "no_such_pass", &st) == PTL_ERR_INVALID_ARGUMENT);
  T_CHECK(strstr(ptl_last_error_message(), "no_such_pass") != NULL);
  /* an empty graph: every pass does nothing */
  const char *names[3] = {"conv_bn_fold", "linear_bn_fold", "constant_fold"};
  for (int i = 0; i < 3; i++) {
    T_OK(ptl_pass_run(g, names[i], &st));
    T_CHECK(st.rewrites == 0);
  }
  /* a constant node that cannot run: the error names the pass and the op */
  int64_t s2[1] = {2}, s3[1] = {3};
  int32_t in[2] = {add_const(g, t_f32(1, s2, NULL), "a"), add_const(g, t_f32(1, s3, NULL), "b")};
  int32_t vy = add_inter(g, 1, s3, "y");
  T_OK(ptl_graph_add_node(g, PTL_OP_ADD, NULL, in, 2, &vy, 1, 0));
  int32_t vz = add_inter(g, 1, s3, "z");
  T_OK(ptl_graph_add_node(g, PTL_OP_RELU, NULL, &vy, 1, &vz, 1, 0));
  T_OK(ptl_graph_mark_output(g, vz));
  T_CHECK(ptl_pass_run(g, "constant_fold", &st) == PTL_ERR_SHAPE);
  T_CHECK(strncmp(ptl_last_error_message(), "constant_fold: add", 18) == 0);
  T_CHECK(g->n_nodes == 2 && !g->nodes[0].dead);
  ptl_graph_destroy(g);
}

void test_passes_fold(void) {
  test_conv_bn();
  test_linear_bn();
  test_constant_fold();
  test_errors();
}
