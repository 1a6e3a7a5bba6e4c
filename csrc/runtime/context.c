/* context.c - engine-wide settings: threads, backend, XNNPACK init, RNG. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cpuinfo.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include "internal.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthreadpool_t g_pool;
static int g_threads; /* 0: not yet decided */
static int g_backend = -1;

int ptl_physical_core_count(void) {
  static int cores;
  if (!cores) {
    cores = 1;
    if (cpuinfo_initialize() && cpuinfo_get_cores_count() > 0)
      cores = (int)cpuinfo_get_cores_count();
  }
  return cores;
}

static void ensure_threads_locked(void) {
  if (g_threads)
    return;
  int n = ptl_physical_core_count();
  const char *env = getenv("PTLITE_NUM_THREADS");
  if (env && atoi(env) > 0)
    n = atoi(env);
  g_threads = n;
  g_pool = n > 1 ? pthreadpool_create((size_t)n) : NULL;
}

ptl_status ptl_set_num_threads(int n) {
  if (n < 1)
    return ptl_error(PTL_ERR_VALUE, "set_num_threads: expected a positive number, got %d", n);
  pthread_mutex_lock(&g_lock);
  if (g_pool)
    pthreadpool_destroy(g_pool);
  g_pool = n > 1 ? pthreadpool_create((size_t)n) : NULL;
  g_threads = n;
  pthread_mutex_unlock(&g_lock);
  if (n > 1 && !g_pool)
    return ptl_error(PTL_ERR_OUT_OF_MEMORY, "set_num_threads: could not create %d threads", n);
  return PTL_OK;
}

int ptl_get_num_threads(void) {
  pthread_mutex_lock(&g_lock);
  ensure_threads_locked();
  int n = g_threads;
  pthread_mutex_unlock(&g_lock);
  return n;
}

/* Session overrides for the calling thread (see ptl_context_enter). */
static _Thread_local ptl_context tls_ctx = {-1, NULL, false, NULL};

void ptl_packed_scope_set(ptl_packed_scope *scope);
ptl_packed_scope *ptl_packed_scope_get(void);

void ptl_context_enter(const ptl_context *ctx, ptl_context *saved) {
  *saved = tls_ctx;
  saved->scope = ptl_packed_scope_get();
  tls_ctx = *ctx;
  ptl_packed_scope_set(ctx->scope);
}

void ptl_context_leave(const ptl_context *saved) {
  tls_ctx = *saved;
  ptl_packed_scope_set(saved->scope);
}

void *ptl_threadpool(void) {
  if (tls_ctx.use_pool)
    return tls_ctx.threadpool;
  pthread_mutex_lock(&g_lock);
  ensure_threads_locked();
  pthreadpool_t p = g_pool;
  pthread_mutex_unlock(&g_lock);
  return p;
}

void ptl_parallel_for(void (*fn)(void *ctx, size_t i), void *ctx, size_t n) {
  pthreadpool_parallelize_1d((pthreadpool_t)ptl_threadpool(), fn, ctx, n, 0);
}

void ptl_set_backend(ptl_backend b) {
  g_backend = (int)b;
}

ptl_backend ptl_get_backend(void) {
  if (tls_ctx.backend >= 0)
    return (ptl_backend)tls_ctx.backend;
  if (g_backend < 0) {
    const char *env = getenv("PTLITE_BACKEND");
    g_backend = (env && strcmp(env, "reference") == 0) ? PTL_BACKEND_REFERENCE : PTL_BACKEND_AUTO;
  }
  return (ptl_backend)g_backend;
}

ptl_status ptl_xnn_init(void) {
  static atomic_int state; /* 0 untried, 1 ok, 2 failed */
  if (atomic_load(&state) == 0) {
    pthread_mutex_lock(&g_lock);
    if (atomic_load(&state) == 0)
      atomic_store(&state, xnn_initialize(NULL) == xnn_status_success ? 1 : 2);
    pthread_mutex_unlock(&g_lock);
  }
  if (atomic_load(&state) != 1)
    return ptl_error(PTL_ERR_UNSUPPORTED, "XNNPACK is not supported on this CPU");
  return PTL_OK;
}

/* ---- random numbers: xoshiro256** under a lock -------------------------- */
static uint64_t g_rng[4] = {0x9E3779B97F4A7C15ull, 0xBF58476D1CE4E5B9ull, 0x94D049BB133111EBull,
                            0x2545F4914F6CDD1Dull};

static uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void ptl_manual_seed(uint64_t seed) {
  pthread_mutex_lock(&g_lock);
  for (int i = 0; i < 4; i++)
    g_rng[i] = splitmix(&seed);
  pthread_mutex_unlock(&g_lock);
}

void ptl_random_fill_u64(uint64_t *out, size_t n) {
  pthread_mutex_lock(&g_lock);
  uint64_t *s = g_rng;
  for (size_t i = 0; i < n; i++) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    out[i] = r;
  }
  pthread_mutex_unlock(&g_lock);
}

uint64_t ptl_random_u64(void) {
  uint64_t r;
  ptl_random_fill_u64(&r, 1);
  return r;
}

double ptl_random_uniform(void) {
  return (double)(ptl_random_u64() >> 11) * 0x1.0p-53;
}

float ptl_random_uniform_f32(void) {
  return (float)(ptl_random_u64() >> 40) * 0x1.0p-24f;
}

double ptl_random_normal(void) {
  double u1 = ptl_random_uniform(), u2 = ptl_random_uniform();
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

bool ptl_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  static atomic_int state = -1;
  int v = atomic_load(&state);
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    atomic_store(&state, v);
  }
  return v == 1;
#else
  return false;
#endif
}
