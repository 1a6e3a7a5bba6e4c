/* conv_bn_fold.c - CONV_BN_FUSION: an inference batch norm right after a
 * convolution is a per-output-channel affine map y = x * s + t with
 * s = gamma / sqrt(var + eps) and t = beta - mean * s, so it folds into the
 * convolution: W' = W * s (per output channel), b' = b * s + t.
 *
 * Applies to CONV2D and CONV_TRANSPOSE2D whose weight and bias are constants,
 * whose output has the BATCH_NORM as its only user (not a graph output), and
 * whose BATCH_NORM parameters are all constants. A conv with a fused clamp is
 * left alone: the clamp runs before the batch norm, so it cannot move past it.
 *
 * Folded weights are NEW constants (the module a graph was cloned from shares
 * the old ones). The helpers ptl_fold_* are also used by linear_bn_fold.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pass.h"

/* A float32 constant's elements as doubles (row-major), or *out = NULL when
 * `t` is not float32. Caller frees. */
ptl_status ptl_fold_read(const ptl_tensor *t, double **out) {
  *out = NULL;
  if (t->dtype != PTL_FLOAT32 || t->qparams)
    return PTL_OK;
  int64_t n = ptl_numel_of(t->ndim, t->shape);
  double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
  if (!d)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "fold: out of memory reading a constant");
  /* walk the strides directly: constants may be views (transposed weights) */
  int64_t idx[PTL_MAX_DIMS] = {0};
  const char *base = (const char *)t->storage->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t off = t->offset;
    for (int k = 0; k < t->ndim; k++)
      off += idx[k] * t->strides[k];
    d[i] = ptl_load_f64(PTL_FLOAT32, base, off);
    for (int k = t->ndim - 1; k >= 0; k--) {
      if (++idx[k] < t->shape[k])
        break;
      idx[k] = 0;
    }
  }
  *out = d;
  return PTL_OK;
}

/* Adds a new contiguous float32 constant holding `data` (rounded once). */
ptl_status ptl_fold_add_f32(ptl_graph *g, const double *data, int ndim, const int64_t *shape,
                            const char *name, int32_t *id) {
  ptl_tensor *t;
  PTL_CHECK(ptl_tensor_create(PTL_FLOAT32, ndim, shape, &t));
  float *d = ptl_tensor_data(t);
  int64_t n = ptl_numel_of(ndim, shape);
  for (int64_t i = 0; i < n; i++)
    d[i] = (float)data[i];
  ptl_status s = ptl_graph_add_constant(g, t, name, id);
  ptl_tensor_release(t); /* the graph holds its own reference */
  return s;
}

/* Reads the constant `value` (-1: absent) as C doubles into *out (NULL when
 * absent). *ok becomes false when it is present but not a float32 constant of
 * C elements. */
static ptl_status read_param(const ptl_graph *g, int32_t value, int64_t C, double **out, bool *ok) {
  *out = NULL;
  if (value < 0)
    return PTL_OK;
  const ptl_tensor *t = ptl_graph_constant(g, value);
  if (!t || ptl_numel_of(t->ndim, t->shape) != C) {
    *ok = false;
    return PTL_OK;
  }
  PTL_CHECK(ptl_fold_read(t, out));
  if (!*out)
    *ok = false;
  return PTL_OK;
}

/* A BATCH_NORM node's per-channel scale and shift (C doubles each, caller
 * frees both), or *scale = *shift = NULL when its statistics or affine
 * parameters are not float32 constants of C elements, or it writes in place. */
ptl_status ptl_fold_bn_affine(const ptl_graph *g, const ptl_node *bn, int64_t C, double **scale,
                              double **shift) {
  *scale = *shift = NULL;
  if (bn->op != PTL_OP_BATCH_NORM || bn->inplace || bn->n_in < 3)
    return PTL_OK;
  double eps = bn->attrs.n_floats > 0 ? bn->attrs.floats[0] : 1e-5;
  double *p[4] = {NULL, NULL, NULL, NULL}; /* mean, var, gamma, beta */
  bool ok = true;
  ptl_status s = PTL_OK;
  for (int i = 0; i < 4 && s == PTL_OK && ok; i++)
    s = read_param(g, 1 + i < bn->n_in ? bn->in[1 + i] : -1, C, &p[i], &ok);
  if (s == PTL_OK && ok && (!p[0] || !p[1]))
    ok = false; /* running statistics are not optional in inference form */
  double *sc = NULL, *sh = NULL;
  if (s == PTL_OK && ok) {
    sc = malloc(sizeof(double) * (size_t)(C ? C : 1));
    sh = malloc(sizeof(double) * (size_t)(C ? C : 1));
    if (!sc || !sh)
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "fold: out of memory for batch_norm parameters");
  }
  if (s == PTL_OK && ok) {
    for (int64_t c = 0; c < C; c++) {
      double gamma = p[2] ? p[2][c] : 1.0, beta = p[3] ? p[3][c] : 0.0;
      sc[c] = gamma / sqrt(p[1][c] + eps);
      sh[c] = beta - p[0][c] * sc[c];
    }
    *scale = sc;
    *shift = sh;
    sc = sh = NULL;
  }
  free(sc);
  free(sh);
  for (int i = 0; i < 4; i++)
    free(p[i]);
  return s;
}

/* The name of a folded bias: the old bias's name if it had one, else
 * "<prefix>.bias" for a weight named "<prefix>.weight", else "" (unnamed). */
void ptl_fold_bias_name(const char *old_bias, const char *weight, char *buf, size_t size) {
  buf[0] = '\0';
  size_t n = weight ? strlen(weight) : 0;
  if (old_bias)
    snprintf(buf, size, "%s", old_bias);
  else if (n > 7 && strcmp(weight + n - 7, ".weight") == 0)
    snprintf(buf, size, "%.*s.bias", (int)(n - 7), weight);
}

/* Returns `s` with the current error message prefixed by the pass name. */
ptl_status ptl_fold_error(ptl_status s, const char *pass) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s", ptl_last_error_message());
  return ptl_error(s, "%s: %s", pass, msg);
}

/* Gives node `nd` a third input slot (the bias) when it was traced with two. */
ptl_status ptl_fold_ensure_bias_slot(ptl_node *nd) {
  if (nd->n_in >= 3)
    return PTL_OK;
  int32_t *in = realloc(nd->in, sizeof(int32_t) * 3);
  if (!in)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "fold: out of memory growing a node");
  for (int i = nd->n_in; i < 3; i++)
    in[i] = -1;
  nd->in = in;
  nd->n_in = 3;
  return PTL_OK;
}

/* The output channel of element (a, b) of a conv weight: dim 0 for CONV2D;
 * for CONV_TRANSPOSE2D ([I, O/g, kH, kW]) group (a / (I/g)) times O/g plus b. */
static int64_t out_channel(bool transpose, int64_t a, int64_t b, int64_t in_per_group,
                           int64_t out_per_group) {
  return transpose ? (a / in_per_group) * out_per_group + b : a;
}

/* Folds BATCH_NORM node `bn` into conv node `cn` if every condition holds. */
static ptl_status try_fold(ptl_graph *g, int32_t cn, int32_t bn, bool *folded) {
  *folded = false;
  ptl_node *conv = &g->nodes[cn];
  bool transpose = conv->op == PTL_OP_CONV_TRANSPOSE2D;
  if (conv->inplace || conv->n_in < 2)
    return PTL_OK;
  if (!transpose && conv->attrs.n_ints > 7 && conv->attrs.ints[7] != 0)
    return PTL_OK; /* fused clamp: the clamp would have to move past the batch norm */
  int32_t vw = conv->in[1], vb = conv->n_in > 2 ? conv->in[2] : -1, vy = conv->out[0];
  const ptl_tensor *w = ptl_graph_constant(g, vw);
  if (!w || w->ndim != 4 || g->values[vy].ndim < 2)
    return PTL_OK;
  int64_t C = g->values[vy].shape[1];
  int64_t groups = 1;
  if (transpose && conv->attrs.n_ints > 8 && conv->attrs.ints[8] > 0)
    groups = conv->attrs.ints[8];
  int64_t in_per_group = transpose ? w->shape[0] / groups : 0;
  int64_t out_per_group = transpose ? w->shape[1] : 0;
  if (transpose ? (w->shape[0] % groups != 0 || out_per_group * groups != C) : w->shape[0] != C)
    return PTL_OK;
  if (vb >= 0 && !ptl_graph_constant(g, vb))
    return PTL_OK;

  double *sc = NULL, *sh = NULL, *wd = NULL, *bd = NULL, *nb = NULL;
  PTL_CHECK(ptl_fold_bn_affine(g, &g->nodes[bn], C, &sc, &sh));
  if (!sc)
    return PTL_OK;
  ptl_status s = ptl_fold_read(w, &wd);
  bool ok = s == PTL_OK && wd;
  if (ok && vb >= 0) {
    const ptl_tensor *b = ptl_graph_constant(g, vb);
    if (ptl_numel_of(b->ndim, b->shape) != C)
      ok = false;
    else
      s = ptl_fold_read(b, &bd);
    ok = ok && s == PTL_OK && bd;
  }
  if (ok) {
    nb = malloc(sizeof(double) * (size_t)(C ? C : 1));
    if (!nb)
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "conv_bn_fold: out of memory");
    ok = s == PTL_OK;
  }
  if (ok) {
    /* weight: scale each output channel's filter (a kH*kW run at a time) */
    int64_t d0 = w->shape[0], d1 = w->shape[1], k = w->shape[2] * w->shape[3];
    for (int64_t a = 0; a < d0; a++)
      for (int64_t b = 0; b < d1; b++) {
        double f = sc[out_channel(transpose, a, b, in_per_group, out_per_group)];
        double *p = wd + (a * d1 + b) * k;
        for (int64_t i = 0; i < k; i++)
          p[i] *= f;
      }
    for (int64_t c = 0; c < C; c++)
      nb[c] = (bd ? bd[c] : 0.0) * sc[c] + sh[c];

    char bias_name[256];
    const char *wname = g->values[vw].name;
    ptl_fold_bias_name(vb >= 0 ? g->values[vb].name : NULL, wname, bias_name, sizeof bias_name);
    int64_t wshape[PTL_MAX_DIMS];
    memcpy(wshape, w->shape, sizeof wshape);
    int32_t nw_id = -1, nb_id = -1;
    s = ptl_fold_add_f32(g, wd, 4, wshape, wname, &nw_id);
    if (s == PTL_OK)
      s = ptl_fold_add_f32(g, nb, 1, &C, bias_name[0] ? bias_name : NULL, &nb_id);
    if (s == PTL_OK)
      s = ptl_fold_ensure_bias_slot(&g->nodes[cn]);
    if (s == PTL_OK) {
      conv = &g->nodes[cn];
      conv->in[1] = nw_id;
      conv->in[2] = nb_id;
      ptl_graph_replace_uses(g, g->nodes[bn].out[0], vy, bn);
      ptl_graph_kill_node(g, bn);
      *folded = true;
    }
  }
  free(sc);
  free(sh);
  free(wd);
  free(bd);
  free(nb);
  return s;
}

ptl_status ptl_pass_conv_bn_fold(ptl_graph *g, ptl_pass_stats *stats) {
  int32_t plain = 0, transposed = 0;
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    if (nd->dead || (nd->op != PTL_OP_CONV2D && nd->op != PTL_OP_CONV_TRANSPOSE2D))
      continue;
    int32_t user = ptl_graph_single_user(g, nd->out[0]);
    if (user < 0 || g->nodes[user].op != PTL_OP_BATCH_NORM || g->nodes[user].n_in < 3 ||
        g->nodes[user].in[0] != nd->out[0])
      continue;
    bool folded;
    ptl_status s = try_fold(g, n, user, &folded);
    if (s != PTL_OK)
      return ptl_fold_error(s, "conv_bn_fold");
    if (folded && g->nodes[n].op == PTL_OP_CONV2D)
      plain++;
    else if (folded)
      transposed++;
  }
  stats->rewrites = plain + transposed;
  if (transposed)
    snprintf(stats->detail, sizeof stats->detail,
             "folded %d batch_norm(s) into conv2d and %d into conv_transpose2d", plain, transposed);
  else
    snprintf(stats->detail, sizeof stats->detail, "folded %d batch_norm(s) into conv2d", plain);
  return PTL_OK;
}
