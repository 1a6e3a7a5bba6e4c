/* test_util.h - tiny assertion helpers for the C tests (no Python). */
#ifndef PTLITE_TEST_UTIL_H
#define PTLITE_TEST_UTIL_H
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ptlite.h"

extern int g_test_failures;
extern int g_test_checks;

#define T_CHECK(cond)                                                                              \
  do {                                                                                             \
    g_test_checks++;                                                                               \
    if (!(cond)) {                                                                                 \
      g_test_failures++;                                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
    }                                                                                              \
  } while (0)

#define T_OK(expr)                                                                                 \
  do {                                                                                             \
    g_test_checks++;                                                                               \
    ptl_status t_s_ = (expr);                                                                      \
    if (t_s_ != PTL_OK) {                                                                          \
      g_test_failures++;                                                                           \
      fprintf(stderr, "%s:%d: %s failed: %s: %s\n", __FILE__, __LINE__, #expr,                     \
              ptl_status_str(t_s_), ptl_last_error_message());                                     \
    }                                                                                              \
  } while (0)

/* New float32 tensor filled from `values` (may be NULL: zeros). */
static inline ptl_tensor *t_f32(int ndim, const int64_t *shape, const float *values) {
  ptl_tensor *t = NULL;
  if (ptl_tensor_create(PTL_FLOAT32, ndim, shape, &t) != PTL_OK)
    return NULL;
  int64_t n = ptl_tensor_numel(t);
  float *d = (float *)ptl_tensor_data(t);
  for (int64_t i = 0; i < n; i++)
    d[i] = values ? values[i] : 0.0f;
  return t;
}

/* Family test entry points: each returns after recording its checks. */
void test_core(void);
void test_eltwise(void);
void test_activation(void);
void test_reduce(void);
void test_shape(void);
void test_linear(void);
void test_conv(void);
void test_pool(void);
void test_norm(void);
void test_model(void);
void test_model_concurrency(void);
void test_passes_fuse(void);
void test_passes_fold(void);
void test_quant(void);
void test_observer(void);
void test_qdynamic(void);
void test_qconv(void);
void test_qeltwise(void);
void test_qgemm(void);
#endif
