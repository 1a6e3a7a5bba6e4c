/*
 * run_model.c - runs a .ptl model with the ptlite C runtime (no Python).
 *
 *   cc -Icsrc/include examples/c/run_model.c build/libptlite_runtime.a \
 *      -lXNNPACK -lpthreadpool -lcpuinfo -lm -lpthread -o run_model
 *   ./run_model model.ptl [input.bin [output.bin]] [--threads N]
 *
 * input.bin holds input 0 as raw row-major bytes of its dtype; without it the
 * input is filled with a fixed pattern. output.bin receives output 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptlite.h"

static int fail(const char *what) {
  fprintf(stderr, "run_model: %s: %s\n", what, ptl_last_error_message());
  return 1;
}

static void print_info(const char *kind, int i, const char *name, ptl_dtype dtype, int ndim,
                       const int64_t *shape) {
  printf("%s %d '%s': %s [", kind, i, name, ptl_dtype_name(dtype));
  for (int d = 0; d < ndim; d++)
    printf(d ? ", %lld" : "%lld", (long long)shape[d]);
  printf("]\n");
}

static size_t byte_size(ptl_dtype dtype, int ndim, const int64_t *shape) {
  size_t n = ptl_dtype_size(dtype);
  for (int d = 0; d < ndim; d++)
    n *= (size_t)shape[d];
  return n;
}

int main(int argc, char **argv) {
  const char *paths[3] = {NULL, NULL, NULL};
  int n_paths = 0, threads = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
      threads = atoi(argv[++i]);
    else if (n_paths < 3)
      paths[n_paths++] = argv[i];
  }
  if (!paths[0]) {
    fprintf(stderr, "usage: run_model model.ptl [input.bin [output.bin]] [--threads N]\n");
    return 2;
  }
  ptl_model *model;
  if (ptl_model_load_file(paths[0], &model) != PTL_OK)
    return fail("load");
  printf("ptlite %s, %d nodes\n", ptl_version(), ptl_model_node_count(model));

  const char *name;
  ptl_dtype dtype;
  int ndim;
  const int64_t *shape;
  for (int i = 0; i < ptl_model_input_count(model); i++) {
    ptl_model_input_info(model, i, &name, &dtype, &ndim, &shape);
    print_info("input", i, name, dtype, ndim, shape);
  }
  for (int i = 0; i < ptl_model_output_count(model); i++) {
    ptl_model_output_info(model, i, &name, &dtype, &ndim, &shape);
    print_info("output", i, name, dtype, ndim, shape);
  }

  ptl_session_options options = {threads, PTL_BACKEND_AUTO};
  ptl_session *session;
  if (ptl_session_create(model, &options, &session) != PTL_OK)
    return fail("session");

  ptl_model_input_info(model, 0, &name, &dtype, &ndim, &shape);
  size_t in_size = byte_size(dtype, ndim, shape);
  unsigned char *input = malloc(in_size ? in_size : 1);
  if (!input)
    return 1;
  if (paths[1]) {
    FILE *f = fopen(paths[1], "rb");
    if (!f || fread(input, 1, in_size, f) != in_size) {
      fprintf(stderr, "run_model: cannot read %zu bytes from %s\n", in_size, paths[1]);
      return 1;
    }
    fclose(f);
  } else if (dtype == PTL_FLOAT32) {
    for (size_t i = 0; i < in_size / 4; i++)
      ((float *)input)[i] = (float)(i % 255) / 255.0f;
  } else {
    memset(input, 1, in_size);
  }
  if (ptl_session_set_input(session, 0, input, in_size) != PTL_OK)
    return fail("set_input");
  if (ptl_session_run(session) != PTL_OK)
    return fail("run");

  printf("activation arena: %zu bytes (planned when the session was created)\n",
         ptl_session_activation_bytes(session));
  if (ptl_session_run(session) != PTL_OK) /* a second run reuses the plan */
    return fail("run");
  const void *out;
  size_t out_size;
  if (ptl_session_get_output(session, 0, &out, &out_size) != PTL_OK)
    return fail("get_output");
  ptl_model_output_info(model, 0, &name, &dtype, &ndim, &shape);
  if (dtype == PTL_FLOAT32) {
    printf("output 0 first values:");
    for (size_t i = 0; i < out_size / 4 && i < 5; i++)
      printf(" %g", ((const float *)out)[i]);
    printf("\n");
  }
  if (paths[2]) {
    FILE *f = fopen(paths[2], "wb");
    if (!f || fwrite(out, 1, out_size, f) != out_size) {
      fprintf(stderr, "run_model: cannot write %s\n", paths[2]);
      return 1;
    }
    fclose(f);
  }
  free(input);
  ptl_session_destroy(session);
  ptl_model_destroy(model);
  return 0;
}
