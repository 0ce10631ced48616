/*
 * uv_stub.c: the few libuv calls csrc/ modules make outside the AIO loop
 * (errors, clock, mutexes, threads), for the standalone C tests only; the
 * addon gets the real libuv from node, which a plain program cannot link.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

const char *uv_strerror(int err) { return strerror(-err); }

uint64_t uv_hrtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int uv_mutex_init(uv_mutex_t *m) { return -pthread_mutex_init(m, NULL); }
void uv_mutex_destroy(uv_mutex_t *m) { pthread_mutex_destroy(m); }
void uv_mutex_lock(uv_mutex_t *m) { pthread_mutex_lock(m); }
void uv_mutex_unlock(uv_mutex_t *m) { pthread_mutex_unlock(m); }

typedef struct {
  uv_thread_cb cb;
  void *arg;
} stub_start_t;

static void *stub_thread_main(void *p) {
  stub_start_t s = *(stub_start_t *)p;
  free(p);
  s.cb(s.arg);
  return NULL;
}

int uv_thread_create(uv_thread_t *tid, uv_thread_cb entry, void *arg) {
  stub_start_t *s = malloc(sizeof(*s));
  if (s == NULL) return -12;
  s->cb = entry;
  s->arg = arg;
  return -pthread_create(tid, NULL, stub_thread_main, s);
}

int uv_thread_join(uv_thread_t *tid) { return -pthread_join(*tid, NULL); }
