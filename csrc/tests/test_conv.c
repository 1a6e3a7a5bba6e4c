/* test_conv.c - C tests of kernels/conv.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_conv(void) {}
