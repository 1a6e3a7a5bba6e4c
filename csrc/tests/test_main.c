/* test_main.c - runs the C engine's tests; prints "N passed, N failed". */
#include "test_util.h"

int g_test_failures;
int g_test_checks;

int main(void) {
  test_core();
  test_eltwise();
  test_activation();
  test_reduce();
  test_shape();
  test_linear();
  test_conv();
  test_pool();
  test_norm();
  test_model();
  test_model_concurrency();
  test_passes_fuse();
  test_passes_fold();
  test_quant();
  test_observer();
  test_qdynamic();
  test_qconv();
  test_qeltwise();
  test_qgemm();
  printf("c-tests: %d passed, %d failed\n", g_test_checks - g_test_failures, g_test_failures);
  return g_test_failures ? 1 : 0;
}
