/* test_pool.c - C tests of kernels/pool.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_pool(void) {}
