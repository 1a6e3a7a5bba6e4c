/* test_eltwise.c - C tests of kernels/eltwise.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_eltwise(void) {}
