/* test_linear.c - C tests of kernels/linear.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_linear(void) {}
