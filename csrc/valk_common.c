/*
 * valk_common.c: error strings and names, logging, clock. Thread-safe; no
 * state beyond the log level read once from the environment.
 */
#include "valk_common.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

const char *valk_strerror(int err) {
  switch (err) {
#define XX(name, value, text)                                                  \
  case value:                                                                  \
    return text;
    VALK_ERRNO_MAP(XX)
#undef XX
  default:
    break;
  }
  if (err < 0 && err > -4096) return uv_strerror(err);
  return "unknown error";
}

const char *valk_errname(int err) {
  switch (err) {
#define XX(name, value, text)                                                  \
  case value:                                                                  \
    return "VALK_E" #name;
    VALK_ERRNO_MAP(XX)
#undef XX
#define XX(name, text)                                                         \
  case UV_##name:                                                              \
    return #name;
    UV_ERRNO_MAP(XX)
#undef XX
  default:
    break;
  }
  return "UNKNOWN";
}

static int valk__log_threshold(void) {
  static int threshold = -1;
  if (threshold < 0) {
    const char *env = getenv("VALK_AIO_LOG");
    if (env == NULL || *env == '\0') threshold = VALK_LOG_WARN;
    else if (strcmp(env, "debug") == 0) threshold = VALK_LOG_DEBUG;
    else if (strcmp(env, "info") == 0) threshold = VALK_LOG_INFO;
    else if (strcmp(env, "error") == 0 || strcmp(env, "quiet") == 0) threshold = VALK_LOG_ERROR;
    else threshold = VALK_LOG_WARN;
  }
  return threshold;
}

void valk_log(valk_log_level_t level, const char *fmt, ...) {
  static const char *names[] = {"debug", "info", "warn", "error"};
  char line[512];
  va_list ap;
  int n;

  if ((int)level < valk__log_threshold()) return;
  n = snprintf(line, sizeof(line), "valk-aio %s: ", names[level]);
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

uint64_t valk_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
