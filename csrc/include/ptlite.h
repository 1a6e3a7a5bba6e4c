/*
 * ptlite.h - public C API of the ptlite engine.
 *
 * Conventions
 *  - Every public symbol starts with `ptl_`; functions are ptl_<thing>_<action>.
 *  - Calls that can fail return a ptl_status; results come back through `_out`
 *    pointers. On failure ptl_last_error_message() holds a thread-local message
 *    naming the op, the shapes and what was expected. Nothing aborts.
 *  - Handles are opaque and reference counted. A function that returns a new
 *    handle (`_create`, `_out` of an op) hands the caller one reference, which
 *    the caller releases with ptl_tensor_release(). Pointer parameters are
 *    borrowed for the duration of the call unless the comment says otherwise.
 *
 * Minimal use:
 *
 *   int64_t shape[2] = {2, 3};
 *   ptl_tensor *a = NULL, *out = NULL;
 *   if (ptl_tensor_create(PTL_FLOAT32, 2, shape, &a) != PTL_OK) { ... }
 *   ptl_tensor *in[1] = {a};
 *   ptl_attrs attrs = {0};
 *   if (ptl_op_run(PTL_OP_RELU, &attrs, in, 1, &out, 1) != PTL_OK)
 *     fprintf(stderr, "%s\n", ptl_last_error_message());
 *   ptl_tensor_release(out);
 *   ptl_tensor_release(a);
 */
#ifndef PTLITE_H
#define PTLITE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PTL_VERSION_MAJOR 0
#define PTL_VERSION_MINOR 1
#define PTL_VERSION_PATCH 0

#define PTL_MAX_DIMS 8
#define PTL_MAX_INT_ATTRS 32
#define PTL_MAX_FLOAT_ATTRS 8

/* Status codes, grouped by range. */
typedef enum ptl_status {
  PTL_OK = 0,
  /* 100-199: the caller passed something wrong */
  PTL_ERR_INVALID_ARGUMENT = 100,
  PTL_ERR_SHAPE = 101,
  PTL_ERR_DTYPE = 102,
  PTL_ERR_VALUE = 103,
  PTL_ERR_INDEX = 104,
  /* 200-299: valid, but not supported by this build */
  PTL_ERR_UNSUPPORTED = 200,
  /* 300-399: resources */
  PTL_ERR_OUT_OF_MEMORY = 300,
  /* 400-499: files */
  PTL_ERR_CORRUPT_FILE = 400,
  PTL_ERR_VERSION = 401,
  PTL_ERR_IO = 450,
  /* 500-599: a bug in ptlite */
  PTL_ERR_INTERNAL = 500,
} ptl_status;

/* Element types. Values are stored in files: append only. */
typedef enum ptl_dtype {
  PTL_FLOAT32 = 0,
  PTL_FLOAT16 = 1,
  PTL_INT8 = 2,
  PTL_UINT8 = 3,
  PTL_INT32 = 4,
  PTL_INT64 = 5,
  PTL_BOOL = 6,
  PTL_QUINT8 = 7, /* quantized: the tensor carries ptl_qparams */
  PTL_QINT8 = 8,
  PTL_QINT32 = 9,
  PTL_DTYPE_COUNT = 10,
} ptl_dtype;

/* Operator ids, generated from ops.def. Ids are append-only. */
typedef enum ptl_op_id {
#define PTL_OP(ENUM, ID, NAME, VERSION, KIND, MIN_IN, MAX_IN, N_OUT, INFER, REF, FAST)             \
  PTL_OP_##ENUM = ID,
#include "../runtime/ops.def"
#undef PTL_OP
  PTL_OP_ID_LIMIT
} ptl_op_id;

/* Backends. AUTO takes the fast path where one exists. */
typedef enum ptl_backend {
  PTL_BACKEND_AUTO = 0,
  PTL_BACKEND_REFERENCE = 1,
} ptl_backend;

/* Operator attributes: integers and floats, interpreted per op (ops.def). */
typedef struct ptl_attrs {
  int32_t n_ints;
  int32_t n_floats;
  int64_t ints[PTL_MAX_INT_ATTRS];
  double floats[PTL_MAX_FLOAT_ATTRS];
} ptl_attrs;

typedef struct ptl_tensor ptl_tensor;

/* ---- status ---------------------------------------------------------- */
const char *ptl_status_str(ptl_status status);
/* The message of the last failed call on this thread (never NULL). */
const char *ptl_last_error_message(void);
const char *ptl_version(void);
const char *ptl_dtype_name(ptl_dtype dtype);
size_t ptl_dtype_size(ptl_dtype dtype);

/* ---- tensors --------------------------------------------------------- */
/* New contiguous tensor, uninitialised memory (64-byte aligned). */
ptl_status ptl_tensor_create(ptl_dtype dtype, int ndim, const int64_t *shape, ptl_tensor **out);
/* Tensor over memory the caller owns. `data` must outlive the tensor and all
 * its views; `release(ctx)` is called (if non-NULL) when the last one dies.
 * `strides` in elements; NULL means contiguous. */
ptl_status ptl_tensor_create_borrowed(ptl_dtype dtype, int ndim, const int64_t *shape,
                                      const int64_t *strides, void *data,
                                      void (*release)(void *ctx), void *ctx, ptl_tensor **out);
void ptl_tensor_retain(ptl_tensor *t);
void ptl_tensor_release(ptl_tensor *t); /* NULL is ignored */
ptl_dtype ptl_tensor_dtype(const ptl_tensor *t);
int ptl_tensor_ndim(const ptl_tensor *t);
const int64_t *ptl_tensor_shape(const ptl_tensor *t);   /* borrowed */
const int64_t *ptl_tensor_strides(const ptl_tensor *t); /* in elements, borrowed */
int64_t ptl_tensor_numel(const ptl_tensor *t);
/* Pointer to element 0 (storage + offset). Borrowed. */
void *ptl_tensor_data(const ptl_tensor *t);
int ptl_tensor_is_contiguous(const ptl_tensor *t);

/* ---- ops ------------------------------------------------------------- */
/* Runs one operator. `inputs[i]` may be NULL for an absent optional input.
 * `outputs[i]` NULL on entry: a new tensor is returned (caller owns it);
 * non-NULL: the result is written into it (shape and dtype must match),
 * which is how in-place ops and planned memory work. */
ptl_status ptl_op_run(ptl_op_id op, const ptl_attrs *attrs, ptl_tensor *const *inputs, int n_inputs,
                      ptl_tensor **outputs, int n_outputs);
const char *ptl_op_name(ptl_op_id op); /* NULL for an unknown id */
int ptl_op_version(ptl_op_id op);

/* ---- models and sessions (the lite runtime) ---------------------------- */
/*
 * A model is a loaded .ptl file: immutable after loading, shareable across
 * threads. A session runs a model; each thread uses its own session.
 *
 *   ptl_model *model;
 *   ptl_session *session;
 *   if (ptl_model_load_file("model.ptl", &model) != PTL_OK) {
 *     fprintf(stderr, "%s\n", ptl_last_error_message());
 *     return 1;
 *   }
 *   ptl_session_create(model, NULL, &session);
 *   ptl_session_set_input(session, 0, pixels, sizeof pixels);   // copied in
 *   ptl_session_run(session);
 *   const float *scores; size_t nbytes;
 *   ptl_session_get_output(session, 0, (const void **)&scores, &nbytes);
 *   ptl_session_destroy(session);
 *   ptl_model_destroy(model);
 */
typedef struct ptl_model ptl_model;
typedef struct ptl_session ptl_session;

/* Reads the whole file into memory owned by the model. */
ptl_status ptl_model_load_file(const char *path, ptl_model **out);
/* Zero-copy: weights point into `data`, which must stay valid and unchanged
 * until ptl_model_destroy. Best with 64-byte aligned data. */
ptl_status ptl_model_load_buffer(const void *data, size_t size, ptl_model **out);
void ptl_model_destroy(ptl_model *model); /* NULL is ignored; sessions must be gone */
int ptl_model_input_count(const ptl_model *model);
int ptl_model_output_count(const ptl_model *model);
/* Name, dtype and shape of input/output i. `shape_out` is borrowed from the model. */
ptl_status ptl_model_input_info(const ptl_model *model, int i, const char **name_out,
                                ptl_dtype *dtype_out, int *ndim_out, const int64_t **shape_out);
ptl_status ptl_model_output_info(const ptl_model *model, int i, const char **name_out,
                                 ptl_dtype *dtype_out, int *ndim_out, const int64_t **shape_out);
/* Metadata value for `key` (borrowed from the model) or NULL; size in *size_out. */
const void *ptl_model_metadata(const ptl_model *model, const char *key, size_t *size_out);
int ptl_model_node_count(const ptl_model *model);

typedef struct ptl_session_options {
  int num_threads;     /* 0: the engine default (physical cores) */
  ptl_backend backend; /* PTL_BACKEND_AUTO or PTL_BACKEND_REFERENCE */
} ptl_session_options;

/* `model` must outlive the session. `options` may be NULL (defaults). Plans the
 * activation memory and packs the weights (one run of the graph on zeros). */
ptl_status ptl_session_create(const ptl_model *model, const ptl_session_options *options,
                              ptl_session **out);
void ptl_session_destroy(ptl_session *session); /* NULL is ignored */
/* Copies `size` bytes (exactly the input's dtype size times its element count,
 * row-major) into input i. */
ptl_status ptl_session_set_input(ptl_session *session, int i, const void *data, size_t size);
ptl_status ptl_session_run(ptl_session *session);
/* Bytes of the session's activation arena, planned by liveness when the session
 * is created (the planning run also packs the weights for the fast kernels).
 * Runs allocate nothing in the interpreter. */
size_t ptl_session_activation_bytes(const ptl_session *session);
/* Output i of the last run, row-major; borrowed until the next run or destroy. */
ptl_status ptl_session_get_output(ptl_session *session, int i, const void **data_out,
                                  size_t *size_out);

/* Quantization parameters of output i of the last run, when it is quantized
 * (PTL_QUINT8 / PTL_QINT8 / PTL_QINT32): real value = (q - zero_point[c]) * scale[c]
 * with c = 0 for a per-tensor output (*axis_out = -1, *count_out = 1), else c is
 * the index along dim *axis_out (*count_out = that dim's size). The arrays are
 * owned by the session: borrowed until the next run or ptl_session_destroy.
 * Any out pointer may be NULL. PTL_ERR_DTYPE for an output that is not quantized. */
ptl_status ptl_session_get_output_qparams(ptl_session *session, int i, int *axis_out,
                                          int64_t *count_out, const float **scales_out,
                                          const int32_t **zero_points_out);

/* ---- engine settings ------------------------------------------------- */
ptl_status ptl_set_num_threads(int n);
int ptl_get_num_threads(void);
/* Physical cores as reported by cpuinfo (>= 1). */
int ptl_physical_core_count(void);
void ptl_set_backend(ptl_backend backend);
ptl_backend ptl_get_backend(void);
/* Seeds the engine's random generator (rand, randn, dropout). */
void ptl_manual_seed(uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif /* PTLITE_H */
