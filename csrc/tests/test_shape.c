/* test_shape.c - C tests of kernels/shape.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_shape(void) {}
