/* test_reduce.c - C tests of kernels/reduce.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_reduce(void) {}
