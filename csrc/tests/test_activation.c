/* test_activation.c - C tests of kernels/activation.c. STUB: to be written with the kernels. */
#include "test_util.h"

void test_activation(void) {}
