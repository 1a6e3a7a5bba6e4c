/* linear.c - MATMUL (torch.matmul semantics) and LINEAR (x @ w.T + bias, fused clamp).
 *
 * Reference kernels: plain loops, float accumulation in k order (int64 for
 * integer types), any strides. Fast paths (float32):
 *  - LINEAR: one row: XNNPACK fully-connected operator; more rows: the GEMM below
 *    with bias and clamp fused in its store. Both cache packed weights on the
 *    weight tensor (ptl_packed_find/add), keyed by the weight version and every
 *    parameter they were built from;
 *  - MATMUL: a packed, register-blocked GEMM (6x16 micro-tiles, AVX2+FMA when the
 *    CPU has it, portable C otherwise), threaded over output tiles. Each output
 *    element is one k-ordered chain of multiply-adds, so results do not depend on
 *    the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "../internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PTL_HAVE_AVX2_KERNEL 1
#endif

/* ---- shared checks ------------------------------------------------------------ */

static ptl_status check_dtypes(const char *op, const ptl_tensor *a, const ptl_tensor *b) {
  if (a->dtype != b->dtype)
    return ptl_error(PTL_ERR_DTYPE,
                     "%s: expected m1 and m2 to have the same dtype, but got: %s != %s", op,
                     ptl_torch_cpp_name(a->dtype), ptl_torch_cpp_name(b->dtype));
  if (ptl_dtype_is_quantized(a->dtype) || a->dtype == PTL_BOOL)
    return ptl_error(PTL_ERR_DTYPE, "%s: not implemented for %s tensors", op,
                     ptl_dtype_name(a->dtype));
  return PTL_OK;
}

/* ---- MATMUL geometry ------------------------------------------------------------ */

typedef struct {
  int64_t m, k, n;
  int nb; /* broadcast batch dims */
  int64_t bshape[PTL_MAX_DIMS], abs_[PTL_MAX_DIMS], bbs[PTL_MAX_DIMS], cbs[PTL_MAX_DIMS];
  int64_t nbatch;
  int64_t a_rs, a_cs, b_rs, b_cs, c_rs, c_cs;
} mm_geom;

/* Fills sizes and batch shape; strides of c only when `c` is given. */
static ptl_status mm_geometry(const ptl_tensor *a, const ptl_tensor *b, const ptl_tensor *c,
                              mm_geom *g) {
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  memset(g, 0, sizeof *g);
  if (a->ndim == 0 || b->ndim == 0)
    return ptl_error(PTL_ERR_SHAPE,
                     "matmul: both arguments to matmul need to be at least 1D, but they are "
                     "%dD and %dD",
                     a->ndim, b->ndim);
  int an = a->ndim, bn = b->ndim;
  int64_t k2;
  if (an == 1) {
    g->m = 1;
    g->k = a->shape[0];
    g->a_cs = a->strides[0];
  } else {
    g->m = a->shape[an - 2];
    g->k = a->shape[an - 1];
    g->a_rs = a->strides[an - 2];
    g->a_cs = a->strides[an - 1];
  }
  if (bn == 1) {
    k2 = b->shape[0];
    g->n = 1;
    g->b_rs = b->strides[0];
  } else {
    k2 = b->shape[bn - 2];
    g->n = b->shape[bn - 1];
    g->b_rs = b->strides[bn - 2];
    g->b_cs = b->strides[bn - 1];
  }
  if (g->k != k2) {
    if (an == 1 && bn == 1)
      return ptl_error(PTL_ERR_SHAPE,
                       "matmul: inconsistent tensor size, expected tensor [%lld] and src "
                       "[%lld] to have the same number of elements, but got %lld and %lld "
                       "elements respectively",
                       (long long)g->k, (long long)k2, (long long)g->k, (long long)k2);
    return ptl_error(PTL_ERR_SHAPE,
                     "matmul: mat1 and mat2 shapes cannot be multiplied (%lldx%lld and "
                     "%lldx%lld); shapes %s and %s",
                     (long long)g->m, (long long)g->k, (long long)k2, (long long)g->n,
                     ptl_shape_str(a, b1, sizeof b1), ptl_shape_str(b, b2, sizeof b2));
  }
  int ab = an > 2 ? an - 2 : 0, bb = bn > 2 ? bn - 2 : 0;
  PTL_CHECK(ptl_broadcast_shapes("matmul", ab, a->shape, bb, b->shape, &g->nb, g->bshape));
  g->nbatch = ptl_numel_of(g->nb, g->bshape);
  for (int i = 0; i < g->nb; i++) {
    int ja = ab - g->nb + i, jb = bb - g->nb + i;
    g->abs_[i] = (ja >= 0 && a->shape[ja] == g->bshape[i]) ? a->strides[ja] : 0;
    g->bbs[i] = (jb >= 0 && b->shape[jb] == g->bshape[i]) ? b->strides[jb] : 0;
  }
  if (c) {
    for (int i = 0; i < g->nb; i++)
      g->cbs[i] = c->strides[i];
    int j = g->nb;
    if (an >= 2)
      g->c_rs = c->strides[j++];
    if (bn >= 2)
      g->c_cs = c->strides[j];
  }
  return PTL_OK;
}

ptl_status ptl_matmul_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *a = call->in[0], *b = call->in[1];
  mm_geom g;
  PTL_CHECK(mm_geometry(a, b, NULL, &g));
  PTL_CHECK(check_dtypes("matmul", a, b));
  out->dtype = a->dtype;
  out->ndim = g.nb;
  memcpy(out->shape, g.bshape, sizeof(int64_t) * (size_t)g.nb);
  if (a->ndim >= 2)
    out->shape[out->ndim++] = g.m;
  if (b->ndim >= 2)
    out->shape[out->ndim++] = g.n;
  return PTL_OK;
}

static void batch_offsets(const mm_geom *g, int64_t bi, int64_t *ao, int64_t *bo, int64_t *co) {
  *ao = *bo = *co = 0;
  for (int d = g->nb - 1; d >= 0; d--) {
    int64_t i = bi % g->bshape[d];
    bi /= g->bshape[d];
    *ao += i * g->abs_[d];
    *bo += i * g->bbs[d];
    *co += i * g->cbs[d];
  }
}

/* Reference: one k-ordered accumulation per output element. */
static void mm_ref_batch(ptl_dtype d, const mm_geom *g, const void *a, const void *b, void *c) {
  for (int64_t i = 0; i < g->m; i++)
    for (int64_t j = 0; j < g->n; j++) {
      int64_t ci = i * g->c_rs + j * g->c_cs;
      if (d == PTL_FLOAT32) {
        const float *af = (const float *)a + i * g->a_rs, *bf = (const float *)b + j * g->b_cs;
        float acc = 0.0f;
        for (int64_t k = 0; k < g->k; k++)
          acc += af[k * g->a_cs] * bf[k * g->b_rs];
        ((float *)c)[ci] = acc;
      } else if (d == PTL_FLOAT16) {
        float acc = 0.0f;
        for (int64_t k = 0; k < g->k; k++)
          acc += (float)ptl_load_f64(d, a, i * g->a_rs + k * g->a_cs) *
                 (float)ptl_load_f64(d, b, k * g->b_rs + j * g->b_cs);
        ptl_store_f64(d, c, ci, acc);
      } else {
        uint64_t acc = 0; /* integer overflow wraps, as torch */
        for (int64_t k = 0; k < g->k; k++)
          acc += (uint64_t)ptl_load_i64(d, a, i * g->a_rs + k * g->a_cs) *
                 (uint64_t)ptl_load_i64(d, b, k * g->b_rs + j * g->b_cs);
        switch (d) {
        case PTL_INT64: ((int64_t *)c)[ci] = (int64_t)acc; break;
        case PTL_INT32: ((int32_t *)c)[ci] = (int32_t)acc; break;
        case PTL_INT8: ((int8_t *)c)[ci] = (int8_t)acc; break;
        default: ((uint8_t *)c)[ci] = (uint8_t)acc; break;
        }
      }
    }
}

ptl_status ptl_matmul_ref(const ptl_call *call) {
  const ptl_tensor *a = call->in[0], *b = call->in[1];
  ptl_tensor *c = call->out[0];
  mm_geom g;
  PTL_CHECK(mm_geometry(a, b, c, &g));
  size_t isz = ptl_dtype_size(a->dtype);
  const char *ad = ptl_tensor_data(a), *bd = ptl_tensor_data(b);
  char *cd = ptl_tensor_data(c);
  for (int64_t bi = 0; bi < g.nbatch; bi++) {
    int64_t ao, bo, co;
    batch_offsets(&g, bi, &ao, &bo, &co);
    mm_ref_batch(a->dtype, &g, ad + ao * (int64_t)isz, bd + bo * (int64_t)isz,
                 cd + co * (int64_t)isz);
  }
  return PTL_OK;
}

/* ---- float32 GEMM ----------------------------------------------------------------- */

#define MR 6
#define NR 16
#define M_GROUP 8 /* micro-rows per task */
#define N_GROUP 4 /* panels per task */

typedef struct {
  int64_t m, n, k;
  const float *ap; /* packed A: [m/MR][k][MR] */
  const float *bp; /* packed B: [n/NR][k][NR] */
  float *c;
  int64_t c_rs, c_cs;
  int64_t m_groups, n_groups;
  bool avx2;
  /* epilogue (LINEAR): c = clamp(c + bias[j]) */
  const float *bias;
  int64_t bias_s;
  bool clamp;
  float lo, hi;
} gemm_ctx;

static void ukernel_c(int64_t k, const float *ap, const float *bp, float *tile) {
  float acc[MR][NR];
  memset(acc, 0, sizeof acc);
  for (int64_t p = 0; p < k; p++, ap += MR, bp += NR)
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NR; j++)
        acc[r][j] += ap[r] * bp[j];
  memcpy(tile, acc, sizeof acc);
}

#ifdef PTL_HAVE_AVX2_KERNEL
__attribute__((target("avx2,fma"))) static void ukernel_avx2(int64_t k, const float *ap,
                                                             const float *bp, float *tile) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t p = 0; p < k; p++, ap += MR, bp += NR) {
    __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8);
    __m256 a = _mm256_broadcast_ss(ap);
    c00 = _mm256_fmadd_ps(a, b0, c00);
    c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10);
    c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20);
    c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30);
    c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40);
    c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50);
    c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  _mm256_storeu_ps(tile + 0 * NR, c00);
  _mm256_storeu_ps(tile + 0 * NR + 8, c01);
  _mm256_storeu_ps(tile + 1 * NR, c10);
  _mm256_storeu_ps(tile + 1 * NR + 8, c11);
  _mm256_storeu_ps(tile + 2 * NR, c20);
  _mm256_storeu_ps(tile + 2 * NR + 8, c21);
  _mm256_storeu_ps(tile + 3 * NR, c30);
  _mm256_storeu_ps(tile + 3 * NR + 8, c31);
  _mm256_storeu_ps(tile + 4 * NR, c40);
  _mm256_storeu_ps(tile + 4 * NR + 8, c41);
  _mm256_storeu_ps(tile + 5 * NR, c50);
  _mm256_storeu_ps(tile + 5 * NR + 8, c51);
}
#endif

static void gemm_task(void *vctx, size_t t) {
  const gemm_ctx *g = vctx;
  int64_t mg = (int64_t)t / g->n_groups, ng = (int64_t)t % g->n_groups;
  int64_t mb_end = (g->m + MR - 1) / MR, nb_end = (g->n + NR - 1) / NR;
  float tile[MR * NR];
  for (int64_t mb = mg * M_GROUP; mb < (mg + 1) * M_GROUP && mb < mb_end; mb++) {
    for (int64_t nb = ng * N_GROUP; nb < (ng + 1) * N_GROUP && nb < nb_end; nb++) {
      const float *ap = g->ap + mb * g->k * MR, *bp = g->bp + nb * g->k * NR;
#ifdef PTL_HAVE_AVX2_KERNEL
      if (g->avx2)
        ukernel_avx2(g->k, ap, bp, tile);
      else
#endif
        ukernel_c(g->k, ap, bp, tile);
      int64_t i0 = mb * MR, j0 = nb * NR;
      int64_t mi = g->m - i0 < MR ? g->m - i0 : MR, nj = g->n - j0 < NR ? g->n - j0 : NR;
      if (g->bias || g->clamp)
        for (int64_t r = 0; r < mi; r++)
          for (int64_t j = 0; j < nj; j++) {
            float v = tile[r * NR + j] + (g->bias ? g->bias[(j0 + j) * g->bias_s] : 0.0f);
            tile[r * NR + j] = g->clamp ? (v < g->lo ? g->lo : v > g->hi ? g->hi : v) : v;
          }
      for (int64_t r = 0; r < mi; r++) {
        float *c = g->c + (i0 + r) * g->c_rs + j0 * g->c_cs;
        if (g->c_cs == 1)
          memcpy(c, tile + r * NR, sizeof(float) * (size_t)nj);
        else
          for (int64_t j = 0; j < nj; j++)
            c[j * g->c_cs] = tile[r * NR + j];
      }
    }
  }
}

/* Packs B[k, n] (any strides) as [panel][k][NR], zero padded. */
static void pack_b(const float *b, int64_t b_rs, int64_t b_cs, int64_t k, int64_t n, float *bp) {
  int64_t nbs = (n + NR - 1) / NR;
  for (int64_t nb = 0; nb < nbs; nb++)
    for (int64_t p = 0; p < k; p++) {
      float *dst = bp + (nb * k + p) * NR;
      const float *src = b + p * b_rs + nb * NR * b_cs;
      int64_t nj = n - nb * NR < NR ? n - nb * NR : NR;
      if (b_cs == 1 && nj == NR) {
        memcpy(dst, src, sizeof(float) * NR);
      } else {
        for (int64_t j = 0; j < NR; j++)
          dst[j] = j < nj ? src[j * b_cs] : 0.0f;
      }
    }
}

static size_t packed_b_floats(int64_t k, int64_t n) {
  return (size_t)((n + NR - 1) / NR * NR * (k > 0 ? k : 1));
}

/* Runs ctx (B already packed, epilogue set): packs A[m, k] and spreads tiles. */
static ptl_status gemm_run(gemm_ctx *ctx, const float *a, int64_t a_rs, int64_t a_cs,
                           bool threaded) {
  int64_t m = ctx->m, k = ctx->k;
  int64_t mbs = (m + MR - 1) / MR, nbs = (ctx->n + NR - 1) / NR;
  float *ap = malloc(sizeof(float) * (size_t)(mbs * MR * (k > 0 ? k : 1)));
  if (!ap)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "matmul: out of memory packing operands");
  for (int64_t mb = 0; mb < mbs; mb++)
    for (int64_t p = 0; p < k; p++)
      for (int r = 0; r < MR; r++) {
        int64_t i = mb * MR + r;
        ap[(mb * k + p) * MR + r] = i < m ? a[i * a_rs + p * a_cs] : 0.0f;
      }
  ctx->ap = ap;
  ctx->m_groups = (mbs + M_GROUP - 1) / M_GROUP;
  ctx->n_groups = (nbs + N_GROUP - 1) / N_GROUP;
  ctx->avx2 = ptl_cpu_has_avx2_fma();
  size_t tasks = (size_t)(ctx->m_groups * ctx->n_groups);
  if (threaded && tasks > 1 && m * ctx->n * k >= 65536)
    ptl_parallel_for(gemm_task, ctx, tasks);
  else
    for (size_t t = 0; t < tasks; t++)
      gemm_task(ctx, t);
  free(ap);
  return PTL_OK;
}

/* C[m,n] = A[m,k] @ B[k,n], any strides; `threaded` spreads tiles over the pool. */
static ptl_status gemm_f32(const mm_geom *g, const float *a, const float *b, float *c,
                           bool threaded) {
  float *bp = malloc(sizeof(float) * packed_b_floats(g->k, g->n));
  if (!bp)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "matmul: out of memory packing operands");
  pack_b(b, g->b_rs, g->b_cs, g->k, g->n, bp);
  gemm_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.m = g->m;
  ctx.n = g->n;
  ctx.k = g->k;
  ctx.bp = bp;
  ctx.c = c;
  ctx.c_rs = g->c_rs;
  ctx.c_cs = g->c_cs;
  ptl_status s = gemm_run(&ctx, a, g->a_rs, g->a_cs, threaded);
  free(bp);
  return s;
}

typedef struct {
  const mm_geom *g;
  const float *a, *b;
  float *c;
  ptl_status status;
} batch_ctx;

static void batch_task(void *vctx, size_t bi) {
  batch_ctx *bc = vctx;
  int64_t ao, bo, co;
  batch_offsets(bc->g, (int64_t)bi, &ao, &bo, &co);
  if (gemm_f32(bc->g, bc->a + ao, bc->b + bo, bc->c + co, false) != PTL_OK)
    bc->status = PTL_ERR_OUT_OF_MEMORY; /* benign race: every writer stores the same value */
}

ptl_status ptl_matmul_fast(const ptl_call *call) {
  const ptl_tensor *a = call->in[0], *b = call->in[1];
  ptl_tensor *c = call->out[0];
  if (a->dtype != PTL_FLOAT32)
    return PTL_ERR_UNSUPPORTED;
  mm_geom g;
  PTL_CHECK(mm_geometry(a, b, c, &g));
  if (g.nbatch == 0 || g.m == 0 || g.n == 0)
    return PTL_OK;
  if (g.k == 0 || (g.m == 1 && g.n == 1))
    return PTL_ERR_UNSUPPORTED; /* zeros or a dot product: the reference loop is as good */
  const float *ad = ptl_tensor_data(a), *bd = ptl_tensor_data(b);
  float *cd = ptl_tensor_data(c);
  if (g.nbatch > 1 && g.m * g.n * g.k < (1 << 18)) {
    /* many small products: one thread per batch entry */
    batch_ctx bc = {&g, ad, bd, cd, PTL_OK};
    ptl_parallel_for(batch_task, &bc, (size_t)g.nbatch);
    return bc.status == PTL_OK ? PTL_OK : ptl_error(PTL_ERR_OUT_OF_MEMORY, "matmul: out of memory");
  }
  for (int64_t bi = 0; bi < g.nbatch; bi++) {
    int64_t ao, bo, co;
    batch_offsets(&g, bi, &ao, &bo, &co);
    PTL_CHECK(gemm_f32(&g, ad + ao, bd + bo, cd + co, true));
  }
  return PTL_OK;
}

/* ---- LINEAR ------------------------------------------------------------------------- */

ptl_status ptl_linear_infer(const ptl_call *call, ptl_tensor_desc *out) {
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  char b1[PTL_SHAPE_BUF], b2[PTL_SHAPE_BUF];
  if (x->ndim == 0)
    return ptl_error(PTL_ERR_SHAPE, "linear: input must be at least 1-d, got a 0-d tensor");
  if (w->ndim != 2)
    return ptl_error(PTL_ERR_SHAPE,
                     "linear: weight must be 2-d [out_features, in_features], "
                     "got %s",
                     ptl_shape_str(w, b1, sizeof b1));
  int64_t in = x->shape[x->ndim - 1], rows = ptl_numel_of(x->ndim - 1, x->shape);
  if (in != w->shape[1])
    return ptl_error(PTL_ERR_SHAPE,
                     "linear: mat1 and mat2 shapes cannot be multiplied (%lldx%lld and "
                     "%lldx%lld); input %s, weight %s",
                     (long long)rows, (long long)in, (long long)w->shape[1], (long long)w->shape[0],
                     ptl_shape_str(x, b1, sizeof b1), ptl_shape_str(w, b2, sizeof b2));
  PTL_CHECK(check_dtypes("linear", x, w));
  out->dtype = x->dtype;
  out->ndim = x->ndim;
  memcpy(out->shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
  out->shape[x->ndim - 1] = w->shape[0];
  if (bias) {
    if (bias->dtype != x->dtype)
      return ptl_error(PTL_ERR_DTYPE,
                       "linear: expected bias to have the same dtype as the input, but got: "
                       "%s != %s",
                       ptl_torch_cpp_name(bias->dtype), ptl_torch_cpp_name(x->dtype));
    int64_t bn = bias->ndim == 1 ? bias->shape[0] : ptl_tensor_numel(bias);
    if (bias->ndim > 1 || (bn != w->shape[0] && bn != 1))
      return ptl_error(PTL_ERR_SHAPE,
                       "linear: The expanded size of the tensor (%lld) must match the existing "
                       "size (%lld) at non-singleton dimension %d.  Target sizes: %s.  Tensor "
                       "sizes: %s",
                       (long long)w->shape[0], (long long)bn, out->ndim - 1,
                       ptl_dims_str(out->ndim, out->shape, b1, sizeof b1),
                       ptl_shape_str(bias, b2, sizeof b2));
  }
  return PTL_OK;
}

static void clamp_range(const ptl_call *call, bool *on, float *lo, float *hi) {
  const ptl_attrs *a = call->attrs;
  *on = a->n_ints > 0 && a->ints[0] == 1;
  *lo = *on && a->n_floats > 0 ? (float)a->floats[0] : -INFINITY;
  *hi = *on && a->n_floats > 1 ? (float)a->floats[1] : INFINITY;
}

ptl_status ptl_linear_ref(const ptl_call *call) {
  const ptl_tensor *x = call->in[0], *w = call->in[1];
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  ptl_tensor *y = call->out[0];
  bool clamp;
  float lo, hi;
  clamp_range(call, &clamp, &lo, &hi);
  int nd = x->ndim;
  int64_t in = x->shape[nd - 1], out = w->shape[0];
  int64_t rows = ptl_numel_of(nd - 1, x->shape);
  ptl_dtype d = x->dtype;
  const char *xd = ptl_tensor_data(x), *wd = ptl_tensor_data(w);
  const char *bd = bias ? ptl_tensor_data(bias) : NULL;
  int64_t bs = bias && bias->ndim == 1 && bias->shape[0] != 1 ? bias->strides[0] : 0;
  char *yd = ptl_tensor_data(y);
  int64_t xs = x->strides[nd - 1], ys = y->strides[nd - 1];
  for (int64_t r = 0; r < rows; r++) {
    /* offsets of row r in x and y (leading dims, row-major) */
    int64_t xo = 0, yo = 0, q = r;
    for (int i = nd - 2; i >= 0; i--) {
      int64_t idx = q % x->shape[i];
      q /= x->shape[i];
      xo += idx * x->strides[i];
      yo += idx * y->strides[i];
    }
    for (int64_t o = 0; o < out; o++) {
      int64_t yi = yo + o * ys;
      if (d == PTL_FLOAT32 || d == PTL_FLOAT16) {
        float acc = 0.0f;
        for (int64_t k = 0; k < in; k++)
          acc += (float)ptl_load_f64(d, xd, xo + k * xs) *
                 (float)ptl_load_f64(d, wd, o * w->strides[0] + k * w->strides[1]);
        if (bd)
          acc += (float)ptl_load_f64(d, bd, o * bs);
        if (clamp)
          acc = acc < lo ? lo : acc > hi ? hi : acc;
        ptl_store_f64(d, yd, yi, acc);
      } else {
        uint64_t acc = 0;
        for (int64_t k = 0; k < in; k++)
          acc += (uint64_t)ptl_load_i64(d, xd, xo + k * xs) *
                 (uint64_t)ptl_load_i64(d, wd, o * w->strides[0] + k * w->strides[1]);
        if (bd)
          acc += (uint64_t)ptl_load_i64(d, bd, o * bs);
        double v = (double)(int64_t)acc;
        if (clamp)
          v = v < lo ? ceil(lo) : v > hi ? floor(hi) : v;
        ptl_store_f64(d, yd, yi, v);
      }
    }
  }
  return PTL_OK;
}

static void destroy_xnn_op(void *op) {
  xnn_delete_operator((xnn_operator_t)op);
}

static uint64_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

/* Rows from which LINEAR runs on the packed GEMM instead of XNNPACK. Measured on
 * an AVX2 machine (1 thread, in=out=1024): XNNPACK (Debian 2022 build) is faster
 * for one row (82 vs 129 us, a GEMV) but 2-2.6x slower from 2 rows on (64 rows:
 * 3741 vs 1428 us; torch 1707 us). Both keep their packed weights cached. */
#define LINEAR_GEMM_MIN_ROWS 2

/* y = x @ w.T (+ bias, clamp) on the GEMM, w packed once and cached on it. */
static ptl_status linear_gemm(const ptl_tensor *x, ptl_tensor *w, const ptl_tensor *bias,
                              ptl_tensor *y, bool clamp, float lo, float hi) {
  int64_t in = w->shape[1], out = w->shape[0], rows = ptl_numel_of(x->ndim - 1, x->shape);
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = 0x47454d4du; /* "GEMM": this path's packed weights */
  key[2] = (uint64_t)in;
  key[3] = (uint64_t)out;
  key[4] = (uint64_t)(uintptr_t)ptl_tensor_data(w);
  key[5] = (uint64_t)w->strides[0];
  key[6] = (uint64_t)w->strides[1];
  float *bp = ptl_packed_find(w, key);
  if (!bp) {
    bp = malloc(sizeof(float) * packed_b_floats(in, out));
    if (!bp)
      return ptl_error(PTL_ERR_OUT_OF_MEMORY, "linear: out of memory packing the weight");
    /* B[k, n] = w[n, k] */
    pack_b(ptl_tensor_data(w), w->strides[1], w->strides[0], in, out, bp);
    PTL_CHECK(ptl_packed_add(w, key, bp, free));
  }
  ptl_tensor *xc = NULL;
  PTL_CHECK(ptl_tensor_contiguous((ptl_tensor *)x, &xc));
  gemm_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.m = rows;
  ctx.n = out;
  ctx.k = in;
  ctx.bp = bp;
  ctx.c = ptl_tensor_data(y);
  ctx.c_rs = out;
  ctx.c_cs = 1;
  ctx.bias = bias ? ptl_tensor_data(bias) : NULL;
  ctx.bias_s = bias ? bias->strides[0] : 0;
  ctx.clamp = clamp;
  ctx.lo = lo;
  ctx.hi = hi;
  ptl_status s = gemm_run(&ctx, ptl_tensor_data(xc), in, 1, true);
  ptl_tensor_release(xc);
  return s;
}

ptl_status ptl_linear_fast(const ptl_call *call) {
  const ptl_tensor *x = call->in[0];
  ptl_tensor *w = call->in[1];
  const ptl_tensor *bias = call->n_in > 2 ? call->in[2] : NULL;
  ptl_tensor *y = call->out[0];
  if (x->dtype != PTL_FLOAT32 || !ptl_tensor_is_contiguous(y))
    return PTL_ERR_UNSUPPORTED;
  int64_t in = w->shape[1], out = w->shape[0];
  int64_t rows = ptl_numel_of(x->ndim - 1, x->shape);
  if (in == 0 || out == 0)
    return PTL_ERR_UNSUPPORTED;
  if (rows == 0)
    return PTL_OK;
  /* a bias broadcast from one element is rare: leave it to the reference */
  if (bias && (bias->ndim != 1 || bias->shape[0] != out))
    return PTL_ERR_UNSUPPORTED;
  bool clamp;
  float lo, hi;
  clamp_range(call, &clamp, &lo, &hi);
  /* XNNPACK's output clamp turns NaN into its lower bound even for (-inf, inf),
   * where torch keeps NaN: without a fused clamp, one row takes the GEMM too */
  if (rows >= LINEAR_GEMM_MIN_ROWS || !clamp || ptl_xnn_init() != PTL_OK)
    return linear_gemm(x, w, bias, y, clamp, lo, hi);
  uint64_t key[PTL_PACKED_KEY_WORDS] = {0};
  key[0] = ptl_tensor_version(w);
  key[1] = 0x4c494e45u; /* "LINE": this op's entries */
  key[2] = (uint64_t)in;
  key[3] = (uint64_t)out;
  key[4] = (uint64_t)(uintptr_t)ptl_tensor_data(w);
  key[5] = (uint64_t)w->strides[0];
  key[6] = (uint64_t)w->strides[1];
  key[7] = bias ? (uint64_t)(uintptr_t)ptl_tensor_data(bias) : 0;
  key[8] = bias ? ptl_tensor_version(bias) : 0;
  key[9] = bias ? (uint64_t)bias->strides[0] : 0;
  key[10] = float_bits(lo);
  key[11] = float_bits(hi);
  key[12] = bias != NULL;
  xnn_operator_t op = ptl_packed_find(w, key);
  if (!op) {
    ptl_tensor *wc = NULL, *bc = NULL;
    PTL_CHECK(ptl_tensor_contiguous(w, &wc));
    ptl_status s = bias ? ptl_tensor_contiguous((ptl_tensor *)bias, &bc) : PTL_OK;
    if (s != PTL_OK) {
      ptl_tensor_release(wc);
      return s;
    }
    enum xnn_status xs = xnn_create_fully_connected_nc_f32(
        (size_t)in, (size_t)out, (size_t)in, (size_t)out, ptl_tensor_data(wc),
        bc ? ptl_tensor_data(bc) : NULL, lo, hi, 0, &op);
    ptl_tensor_release(wc);
    ptl_tensor_release(bc);
    if (xs != xnn_status_success)
      return PTL_ERR_UNSUPPORTED;
    PTL_CHECK(ptl_packed_add(w, key, op, destroy_xnn_op));
  }
  ptl_tensor *xc = NULL;
  PTL_CHECK(ptl_tensor_contiguous((ptl_tensor *)x, &xc));
  enum xnn_status xs = xnn_setup_fully_connected_nc_f32(
      op, (size_t)rows, ptl_tensor_data(xc), ptl_tensor_data(y), (pthreadpool_t)ptl_threadpool());
  if (xs == xnn_status_success)
    xs = xnn_run_operator(op, (pthreadpool_t)ptl_threadpool());
  ptl_tensor_release(xc);
  if (xs != xnn_status_success)
    return ptl_error(PTL_ERR_INTERNAL, "linear: XNNPACK fully-connected failed (status %d)",
                     (int)xs);
  return PTL_OK;
}
