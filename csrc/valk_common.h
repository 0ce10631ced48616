/*
 * valk_common.h: things every csrc/ module shares: the error list, small
 * macros, logging. Thread: none of its own; everything here is safe from any
 * thread.
 */
#ifndef VALK_COMMON_H
#define VALK_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Atomics shared by C (the core) and C++ (the binding reads counters): the
 * same layout on GCC and Clang for the integer types used here.
 */
#ifdef __cplusplus
#include <atomic>
#define VALK_ATOMIC(T) std::atomic<T>
#define VALK_LOAD_RELAXED(p) std::atomic_load_explicit((p), std::memory_order_relaxed)
#else
#include <stdatomic.h>
#define VALK_ATOMIC(T) _Atomic(T)
#define VALK_LOAD_RELAXED(p) atomic_load_explicit((p), memory_order_relaxed)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every fallible function returns 0 or a negative VALK_E* code. The list is
 * declared once (name, value, message), the way libuv's UV_ERRNO_MAP is:
 * the valk_errno_t enum, valk_strerror(), valk_errname() and the codes
 * JavaScript sees come from it (the binding sets err.code to valk_errname();
 * lib/error-codes.ts is generated from this list by
 * scripts/gen-error-codes.js). Values below -1000 so they never collide with
 * negative errno/UV_E* codes, which functions may also pass through unchanged.
 */
#define VALK_ERRNO_MAP(XX)                                                     \
  XX(NOMEM, -1001, "out of memory")                                            \
  XX(INVAL, -1002, "invalid argument")                                         \
  XX(FULL, -1003, "queue is full")                                             \
  XX(STOPPED, -1004, "system is stopped")                                      \
  XX(TLS, -1005, "TLS setup failed")                                           \
  XX(H2, -1006, "HTTP/2 session error")                                        \
  XX(LIMIT, -1007, "a fixed limit was reached")                                \
  XX(NOTFOUND, -1008, "no such object")                                        \
  XX(DOUBLEFREE, -1009, "slab item released twice")

typedef enum {
#define XX(name, value, text) VALK_E##name = value,
  VALK_ERRNO_MAP(XX)
#undef XX
} valk_errno_t;

/* Message for a VALK_E* code, a UV_E* code or a negative errno. Never NULL;
 * static storage. */
const char *valk_strerror(int err);

/* Name of a VALK_E* code ("VALK_ELIMIT"), or of a UV_E* code / negative errno
 * as libuv names it ("EADDRINUSE", "ECONNREFUSED"); "UNKNOWN" for anything
 * else. Never NULL; static storage (unlike uv_err_name, it never allocates). */
const char *valk_errname(int err);

#define VALK_CONTAINER_OF(ptr, type, field)                                    \
  ((type *)((char *)(ptr) - offsetof(type, field)))

#define VALK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define VALK_ALIGN_UP(n, a) (((n) + ((a) - 1)) & ~((size_t)(a) - 1))

#define VALK_LIKELY(x) __builtin_expect(!!(x), 1)
#define VALK_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Log to stderr. Quiet unless VALK_AIO_LOG is set (or level is WARN+). */
typedef enum { VALK_LOG_DEBUG, VALK_LOG_INFO, VALK_LOG_WARN, VALK_LOG_ERROR } valk_log_level_t;
void valk_log(valk_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define VALK_DEBUG(...) valk_log(VALK_LOG_DEBUG, __VA_ARGS__)
#define VALK_INFO(...) valk_log(VALK_LOG_INFO, __VA_ARGS__)
#define VALK_WARN(...) valk_log(VALK_LOG_WARN, __VA_ARGS__)
#define VALK_ERROR(...) valk_log(VALK_LOG_ERROR, __VA_ARGS__)

/* Milliseconds from a monotonic clock. */
uint64_t valk_now_ms(void);

#ifdef __cplusplus
}
#endif
#endif /* VALK_COMMON_H */
