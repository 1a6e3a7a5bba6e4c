/*
 * internal.h - definitions shared by the runtime's C files. Not installed.
 */
#ifndef PTLITE_INTERNAL_H
#define PTLITE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../include/ptlite.h"

typedef enum ptl_op_kind { PTL_KIND_COMPUTE = 0, PTL_KIND_VIEW = 1 } ptl_op_kind;

/* Refcounted memory block shared by a tensor and its views. */
typedef struct ptl_storage {
  atomic_int refcount;
  void *data;
  size_t nbytes;
  void (*release)(void *ctx); /* borrowed memory: called (if set) instead of free */
  void *release_ctx;
  bool borrowed;                /* data belongs to someone else: never freed here */
  atomic_uint_fast64_t version; /* bumped by every write through an op */
} ptl_storage;

/* Quantization parameters (per tensor or per channel). Owned by the tensor. */
typedef enum ptl_qscheme {
  PTL_QSCHEME_NONE = 0,
  PTL_QSCHEME_PER_TENSOR_AFFINE = 1,
  PTL_QSCHEME_PER_CHANNEL_AFFINE = 2,
  PTL_QSCHEME_PER_TENSOR_SYMMETRIC = 3,
  PTL_QSCHEME_PER_CHANNEL_SYMMETRIC = 4,
} ptl_qscheme;

typedef struct ptl_qparams {
  ptl_qscheme scheme;
  int32_t axis;
  int64_t count; /* 1 for per-tensor */
  float *scale;
  int32_t *zero_point;
} ptl_qparams;

/* A weight-derived object cached on the tensor (e.g. an XNNPACK operator with
 * packed weights). `key` describes everything the object was built from
 * (op params, bias identity and versions); a mismatch rebuilds it. */
#define PTL_PACKED_KEY_WORDS 24
typedef struct ptl_packed {
  uint64_t key[PTL_PACKED_KEY_WORDS];
  void *object;
  void (*destroy)(void *object);
  struct ptl_packed *next; /* one weight may serve several configurations */
} ptl_packed;

struct ptl_tensor {
  atomic_int refcount;
  ptl_dtype dtype;
  int32_t ndim;
  int64_t shape[PTL_MAX_DIMS];
  int64_t strides[PTL_MAX_DIMS]; /* elements */
  int64_t offset;                /* elements */
  ptl_storage *storage;
  ptl_qparams *qparams;
  ptl_packed *packed;
  bool wrapped_number; /* a Python scalar: takes part in type promotion by category only */
};

/* Output description produced by an op's INFER. */
typedef struct ptl_tensor_desc {
  ptl_dtype dtype;
  int32_t ndim;
  int64_t shape[PTL_MAX_DIMS];
  bool has_strides; /* false: contiguous */
  int64_t strides[PTL_MAX_DIMS];
} ptl_tensor_desc;

/* One operator invocation. */
typedef struct ptl_call {
  ptl_op_id op;
  const ptl_attrs *attrs;
  ptl_tensor *const *in;
  int n_in;
  ptl_tensor **out;
  int n_out;
  ptl_backend backend; /* effective backend for this call */
} ptl_call;

typedef ptl_status (*ptl_infer_fn)(const ptl_call *call, ptl_tensor_desc *out);
typedef ptl_status (*ptl_kernel_fn)(const ptl_call *call);

typedef struct ptl_op_def {
  ptl_op_id id;
  const char *name;
  int version;
  ptl_op_kind kind;
  int min_in, max_in, n_out;
  ptl_infer_fn infer;
  ptl_kernel_fn ref;
  ptl_kernel_fn fast;
} ptl_op_def;

const ptl_op_def *ptl_op_lookup(ptl_op_id op);

/* Kernel prototypes, from the op table. An op without a fast path names
 * ptl_no_fast, which returns PTL_ERR_UNSUPPORTED. */
#define PTL_OP(ENUM, ID, NAME, VERSION, KIND, MIN_IN, MAX_IN, N_OUT, INFER, REF, FAST)             \
  ptl_status INFER(const ptl_call *call, ptl_tensor_desc *out);                                    \
  ptl_status REF(const ptl_call *call);                                                            \
  ptl_status FAST(const ptl_call *call);
#include "ops.def"
#undef PTL_OP

/* ---- errors -------------------------------------------------------------- */
/* Sets the thread-local message (printf style) and returns `status`. */
ptl_status ptl_error(ptl_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Formats "[2, 3, 4]" into buf (at least 96 bytes); returns buf. */
const char *ptl_shape_str(const ptl_tensor *t, char *buf, size_t size);
const char *ptl_dims_str(int ndim, const int64_t *dims, char *buf, size_t size);
#define PTL_SHAPE_BUF 128
/* A dtype as torch names it in messages: its ScalarType ("Float", "Long") and
 * its C++ type ("float", "long int"), so our errors read like torch's. */
const char *ptl_torch_scalar_name(ptl_dtype d);
const char *ptl_torch_cpp_name(ptl_dtype d);

#define PTL_CHECK(expr)                                                                            \
  do {                                                                                             \
    ptl_status ptl_check_s_ = (expr);                                                              \
    if (ptl_check_s_ != PTL_OK)                                                                    \
      return ptl_check_s_;                                                                         \
  } while (0)

/* ---- tensors ------------------------------------------------------------- */
/* Gives `dst` its own copy of src's quantization parameters (if src has any). */
ptl_status ptl_qparams_copy(ptl_tensor *dst, const ptl_tensor *src);
/* Replaces whatever qparams `t` has (a planned or preset output is reused
 * across runs with possibly different parameters); copies scale/zp. */
ptl_status ptl_qparams_set(ptl_tensor *t, ptl_qscheme scheme, int32_t axis, int64_t count,
                           const float *scale, const int32_t *zp);
ptl_status ptl_qparams_set_per_tensor(ptl_tensor *t, float scale, int32_t zero_point);
/* DYNAMIC_LINEAR fast-path runs served by an integer kernel ("c", "avx2", "neon",
 * "neondot"; kernels/qdynamic.c): tests check that the SIMD kernel they compare ran. */
uint64_t ptl_dynamic_linear_kernel_runs(const char *kernel);

/* True when the CPU runs AVX2 and FMA (x86-64 with GCC/Clang; false elsewhere): the
 * gate of every own AVX2 kernel, which are compiled with target attributes. */
bool ptl_cpu_has_avx2_fma(void);
ptl_status ptl_tensor_from_desc(const ptl_tensor_desc *desc, ptl_tensor **out);
/* New tensor object sharing `base`'s storage with the given geometry. */
ptl_status ptl_tensor_view(const ptl_tensor *base, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset, ptl_tensor **out);
/* Contiguous version: `t` itself retained if already contiguous, else a copy. */
ptl_status ptl_tensor_contiguous(ptl_tensor *t, ptl_tensor **out);
void ptl_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* NCHW logical shape, NHWC memory ("channels_last"). ndim must be 4. */
void ptl_channels_last_strides(const int64_t *shape, int64_t *strides);
bool ptl_tensor_is_channels_last(const ptl_tensor *t);
/* Elements are packed with no gaps or overlaps in some order of dims. */
bool ptl_tensor_is_dense(const ptl_tensor *t);
/* x and y both dense and laid out alike (same shape, strides equal wherever a dim has
 * extent > 1): element i sits at flat offset i of both, so they can be walked as one
 * flat array. */
bool ptl_tensor_same_dense_layout(const ptl_tensor *x, const ptl_tensor *y);
/* NHWC pixel stride of a 4-d tensor whose pixels are evenly spaced with the channels
 * dense inside each pixel (channels-last, or a channel slice of one); 0 otherwise. */
int64_t ptl_tensor_nhwc_pixel_stride(const ptl_tensor *t);
void ptl_tensor_bump_version(ptl_tensor *t);
uint64_t ptl_tensor_version(const ptl_tensor *t);
bool ptl_dtype_is_float(ptl_dtype d);
bool ptl_dtype_is_quantized(ptl_dtype d);
int64_t ptl_numel_of(int ndim, const int64_t *shape);
/* Reads element `i` (flat offset in elements from data) as double / writes. */
double ptl_load_f64(ptl_dtype d, const void *base, int64_t i);
void ptl_store_f64(ptl_dtype d, void *base, int64_t i, double v);
int64_t ptl_load_i64(ptl_dtype d, const void *base, int64_t i);
float ptl_half_to_float(uint16_t h);
uint16_t ptl_float_to_half(float f);

/* Runs a float32 kernel for a float16 call: input 0 and the output go through
 * float32 copies (kernels/copy.c). */
ptl_status ptl_run_as_float32(const ptl_call *call, ptl_kernel_fn kernel);

/* Broadcast shapes a and b into out (torch rules). */
ptl_status ptl_broadcast_shapes(const char *op, int na, const int64_t *sa, int nb,
                                const int64_t *sb, int *nout, int64_t *sout);
/* Strides of `t` viewed at broadcast shape (ndim, shape): 0 on expanded dims. */
void ptl_broadcast_strides(const ptl_tensor *t, int ndim, const int64_t *shape, int64_t *strides);
/* Iteration over strided operands. The shape is walked in row-major order with
 * adjacent dims merged where every operand allows; fn gets the element offset of
 * each operand at the start of a row, the row length and each operand's stride
 * along the row. Up to PTL_ITER_MAX_OPS operands; strides in elements. */
#define PTL_ITER_MAX_OPS 4
typedef void (*ptl_row_fn)(void *ctx, const int64_t *offsets, const int64_t *row_strides,
                           int64_t n);
void ptl_for_each_row(int ndim, const int64_t *shape, int n_ops,
                      const int64_t (*strides)[PTL_MAX_DIMS], ptl_row_fn fn, void *ctx);

/* Checks a dim against ndim and wraps negatives; error names the op. */
ptl_status ptl_wrap_dim(const char *op, int64_t dim, int ndim, int *out);

/* Looks up the cached packed object for `key` on weight `w`; NULL if none. */
void *ptl_packed_find(const ptl_tensor *w, const uint64_t *key);
/* Caches `object` on `w` under `key` (takes ownership). */
ptl_status ptl_packed_add(ptl_tensor *w, const uint64_t *key, void *object,
                          void (*destroy)(void *));

/* A packed-object cache owned by one session: while installed on a thread,
 * ptl_packed_find/ptl_packed_add use it instead of the weight tensor's own
 * cache, so sessions sharing one immutable model never share XNNPACK operators
 * (which are not safe to set up concurrently). */
typedef struct ptl_packed_scope ptl_packed_scope;
ptl_status ptl_packed_scope_create(ptl_packed_scope **out);
void ptl_packed_scope_destroy(ptl_packed_scope *scope);

/* Per-thread execution context used by sessions: backend, threadpool and
 * packed cache. ptl_context_enter saves the current one in *saved. */
typedef struct ptl_context {
  int backend;      /* -1: the engine default */
  void *threadpool; /* pthreadpool_t; NULL with use_pool: single threaded */
  bool use_pool;
  ptl_packed_scope *scope;
} ptl_context;
void ptl_context_enter(const ptl_context *ctx, ptl_context *saved);
void ptl_context_leave(const ptl_context *saved);

/* ---- engine context ------------------------------------------------------ */
/* pthreadpool_t of the engine (NULL when single threaded). */
void *ptl_threadpool(void);
/* Initialises XNNPACK once; PTL_ERR_UNSUPPORTED if the CPU lacks support. */
ptl_status ptl_xnn_init(void);
/* Engine random generator (thread-safe). */
uint64_t ptl_random_u64(void);
double ptl_random_uniform(void); /* [0, 1) */
double ptl_random_normal(void);
float ptl_random_uniform_f32(void);
/* n raw draws under one lock (the same stream as n calls of ptl_random_u64). */
void ptl_random_fill_u64(uint64_t *out, size_t n);

/* Runs fn(ctx, i) for i in [0, n) on the engine threadpool. */
void ptl_parallel_for(void (*fn)(void *ctx, size_t i), void *ctx, size_t n);

#endif /* PTLITE_INTERNAL_H */
