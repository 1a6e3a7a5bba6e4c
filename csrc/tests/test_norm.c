/* test_norm.c - C tests of kernels/norm.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_norm(void) {}
