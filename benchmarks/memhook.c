/*
 * memhook.c - peak heap bytes, for comparing runtimes' activation memory.
 *
 * Built by benchmarks/lite.py into a temporary directory and loaded with
 * LD_PRELOAD into a fresh process per runtime. It wraps the C allocator and
 * tracks the bytes currently allocated and their peak since the last reset:
 *   memhook_reset()  starts a measurement at the current level
 *   memhook_peak()   bytes allocated above that level at the peak
 * so "reset, run one inference, peak" is the heap that inference needed
 * (activations and scratch), whatever allocator path the runtime takes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

static void *(*real_malloc)(size_t);
static void (*real_free)(void *);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

static atomic_llong current, peak, base;
static char bootstrap[4096]; /* dlsym may call calloc before we know the real one */
static size_t bootstrap_used;

static void init(void) {
  if (real_malloc)
    return;
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_free = dlsym(RTLD_NEXT, "free");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
  real_memalign = dlsym(RTLD_NEXT, "memalign");
}

static void *track(void *p) {
  if (p) {
    long long now = atomic_fetch_add(&current, (long long)malloc_usable_size(p)) +
                    (long long)malloc_usable_size(p);
    long long old = atomic_load(&peak);
    while (now > old && !atomic_compare_exchange_weak(&peak, &old, now)) {
    }
  }
  return p;
}

static int is_bootstrap(void *p) {
  return (char *)p >= bootstrap && (char *)p < bootstrap + sizeof bootstrap;
}

void *malloc(size_t n) {
  init();
  return track(real_malloc(n));
}

void *calloc(size_t a, size_t b) {
  if (!real_calloc) {
    /* dlsym's own allocation while we look the real calloc up */
    size_t n = (a * b + 15) & ~(size_t)15;
    void *p = bootstrap + bootstrap_used;
    bootstrap_used += n;
    memset(p, 0, n);
    return p;
  }
  return track(real_calloc(a, b));
}

void free(void *p) {
  if (!p || is_bootstrap(p))
    return;
  init();
  atomic_fetch_sub(&current, (long long)malloc_usable_size(p));
  real_free(p);
}

void *realloc(void *p, size_t n) {
  init();
  if (p && !is_bootstrap(p))
    atomic_fetch_sub(&current, (long long)malloc_usable_size(p));
  return track(real_realloc(p, n));
}

int posix_memalign(void **out, size_t align, size_t n) {
  init();
  int r = real_posix_memalign(out, align, n);
  if (r == 0)
    track(*out);
  return r;
}

void *aligned_alloc(size_t align, size_t n) {
  init();
  return track(real_aligned_alloc(align, n));
}

void *memalign(size_t align, size_t n) {
  init();
  return track(real_memalign(align, n));
}

void memhook_reset(void) {
  atomic_store(&base, atomic_load(&current));
  atomic_store(&peak, atomic_load(&current));
}

long long memhook_peak(void) { return atomic_load(&peak) - atomic_load(&base); }
