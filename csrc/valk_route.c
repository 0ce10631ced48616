/*
 * valk_route.c: static route table. See valk_route.h for thread and memory rules.
 */
#include "valk_route.h"

#include <stdlib.h>
#include <string.h>

#include "valk_common.h"

static char *valk__strndup(const char *s, size_t n) {
  char *copy = malloc(n + 1);
  if (copy == NULL) return NULL;
  memcpy(copy, s, n);
  copy[n] = '\0';
  return copy;
}

static void valk__nv_set(nghttp2_nv *nv, const char *name, const char *value) {
  nv->name = (uint8_t *)name;
  nv->namelen = strlen(name);
  nv->value = (uint8_t *)value;
  nv->valuelen = strlen(value);
  nv->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
}

static int valk__header_name_ok(const char *name, char *err, size_t err_len) {
  static const char *const forbidden[] = {"connection", "keep-alive", "proxy-connection",
                                          "transfer-encoding", "upgrade", "content-length"};
  size_t i;
  const char *p;

  if (*name == '\0' || *name == ':') {
    snprintf(err, err_len, "header name '%s' is empty or a pseudo-header", name);
    return 0;
  }
  for (p = name; *p; p++) {
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("!#$%&'*+-.^_`|~", *p))) {
      snprintf(err, err_len, "header name '%s' must be a lower-case token", name);
      return 0;
    }
  }
  for (i = 0; i < VALK_ARRAY_SIZE(forbidden); i++) {
    if (strcmp(name, forbidden[i]) == 0) {
      snprintf(err, err_len, "header '%s' is set by the server or not allowed in HTTP/2", name);
      return 0;
    }
  }
  return 1;
}

static int valk__header_value_ok(const char *name, const char *value, char *err, size_t err_len) {
  if (strpbrk(value, "\r\n") != NULL) {
    snprintf(err, err_len, "header '%s' has a CR or LF in its value", name);
    return 0;
  }
  return 1;
}

static void valk__route_free(valk_route_t *route) {
  size_t i;
  if (route == NULL) return;
  for (i = 2; i < route->nvlen; i++) {
    free(route->nva[i].name);
    free(route->nva[i].value);
  }
  free(route->path);
  if (route->body != NULL) free(route->body - VALK_ROUTE_HEADROOM);
  free(route);
}

static valk_route_t *valk__route_new(const char *path, int status, const uint8_t *body,
                                     size_t body_len) {
  valk_route_t *route = calloc(1, sizeof(*route));
  if (route == NULL) return NULL;
  route->path_len = strlen(path);
  route->path = valk__strndup(path, route->path_len);
  route->body = malloc(VALK_ROUTE_HEADROOM + body_len);
  if (route->body != NULL) route->body += VALK_ROUTE_HEADROOM;
  if (route->path == NULL || route->body == NULL) {
    valk__route_free(route);
    return NULL;
  }
  if (body_len) memcpy(route->body, body, body_len);
  route->body_len = body_len;
  route->status = status;
  route->index = -1;
  snprintf(route->status_str, sizeof(route->status_str), "%03d", status);
  snprintf(route->length_str, sizeof(route->length_str), "%zu", body_len);
  valk__nv_set(&route->nva[0], ":status", route->status_str);
  valk__nv_set(&route->nva[1], "content-length", route->length_str);
  route->nvlen = 2;
  return route;
}

static int valk__route_add_header(valk_route_t *route, const char *name, const char *value) {
  char *n, *v;
  if (route->nvlen >= VALK_ARRAY_SIZE(route->nva)) return VALK_ELIMIT;
  n = valk__strndup(name, strlen(name));
  v = valk__strndup(value, strlen(value));
  if (n == NULL || v == NULL) {
    free(n);
    free(v);
    return VALK_ENOMEM;
  }
  valk__nv_set(&route->nva[route->nvlen++], n, v);
  return 0;
}

static valk_route_t *valk__builtin_route(int status, const uint8_t *body, size_t len,
                                         const char *type, const char *extra_name,
                                         const char *extra_value) {
  valk_route_t *route = valk__route_new("", status, body, len);
  if (route == NULL) return NULL;
  if (valk__route_add_header(route, "content-type", type) != 0 ||
      (extra_name && valk__route_add_header(route, extra_name, extra_value) != 0)) {
    valk__route_free(route);
    return NULL;
  }
  return route;
}

static valk_route_t *valk__text_route(int status, const char *body, const char *extra_name,
                                      const char *extra_value) {
  return valk__builtin_route(status, (const uint8_t *)body, strlen(body),
                             "text/plain; charset=utf-8", extra_name, extra_value);
}

static valk_route_t *valk__overload_route(const uint8_t *body, size_t len) {
  int json = len > 0 && (body[0] == '{' || body[0] == '[');
  return valk__builtin_route(503, body, len,
                             json ? "application/json" : "text/plain; charset=utf-8",
                             "retry-after", VALK_RETRY_AFTER);
}

int valk_route_table_set_overload_body(valk_route_table_t *table, const uint8_t *body, size_t len) {
  valk_route_t *route = valk__overload_route(body, len);
  if (route == NULL) return VALK_ENOMEM;
  valk__route_free(table->overloaded);
  table->overloaded = route;
  return 0;
}

int valk_route_table_init(valk_route_table_t *table) {
  static const char overloaded[] = "{\"error\":\"service unavailable\"}\n";
  memset(table, 0, sizeof(*table));
  table->not_found = valk__text_route(404, "not found\n", NULL, NULL);
  table->not_allowed = valk__text_route(405, "method not allowed\n", "allow", "GET, HEAD");
  table->too_large = valk__text_route(413, "request body too large\n", NULL, NULL);
  table->timed_out = valk__text_route(408, "request timeout\n", NULL, NULL);
  table->headers_too_large = valk__text_route(431, "request header fields too large\n", NULL, NULL);
  table->internal_error = valk__text_route(500, "internal server error\n", NULL, NULL);
  table->overloaded = valk__overload_route((const uint8_t *)overloaded, sizeof(overloaded) - 1);
  if (table->not_found == NULL || table->not_allowed == NULL || table->too_large == NULL ||
      table->timed_out == NULL || table->headers_too_large == NULL ||
      table->internal_error == NULL || table->overloaded == NULL) {
    valk_route_table_free(table);
    return VALK_ENOMEM;
  }
  return 0;
}

void valk_route_table_free(valk_route_table_t *table) {
  uint32_t i;
  for (i = 0; i < table->count; i++) valk__route_free(table->routes[i]);
  valk__route_free(table->not_found);
  valk__route_free(table->not_allowed);
  valk__route_free(table->too_large);
  valk__route_free(table->timed_out);
  valk__route_free(table->headers_too_large);
  valk__route_free(table->internal_error);
  valk__route_free(table->overloaded);
  memset(table, 0, sizeof(*table));
}

int valk_route_table_add(valk_route_table_t *table, const char *path, int status,
                         const char *const *headers, size_t nheaders,
                         const uint8_t *body, size_t body_len, char *err, size_t err_len) {
  valk_route_t *route;
  size_t i, size = VALK_RESP_FIXED_HEADERS_BYTES;
  int rc;

  if (path[0] != '/' || strpbrk(path, "?# \r\n") != NULL) {
    snprintf(err, err_len, "route path '%s' must start with '/' and hold no '?', '#' or spaces", path);
    return VALK_EINVAL;
  }
  if (status != VALK_ROUTE_JS && status != VALK_ROUTE_SSE && (status < 200 || status > 599)) {
    snprintf(err, err_len, "route '%s': status %d is not between 200 and 599", path, status);
    return VALK_EINVAL;
  }
  if (table->count >= VALK_MAX_ROUTES || nheaders > VALK_MAX_ROUTE_HEADERS) {
    snprintf(err, err_len, "at most %d routes of %d headers each", VALK_MAX_ROUTES,
             VALK_MAX_ROUTE_HEADERS);
    return VALK_ELIMIT;
  }
  if (valk_route_lookup(table, (const uint8_t *)path, strlen(path)) != NULL) {
    snprintf(err, err_len, "route '%s' is defined twice", path);
    return VALK_EINVAL;
  }
  for (i = 0; i < nheaders; i++) {
    if (!valk__header_name_ok(headers[2 * i], err, err_len) ||
        !valk__header_value_ok(headers[2 * i], headers[2 * i + 1], err, err_len))
      return VALK_EINVAL;
    size += strlen(headers[2 * i]) + strlen(headers[2 * i + 1]) + 32;
  }
  if (size > VALK_RESP_HEADERS_MAX) {
    snprintf(err, err_len, "route '%s': headers of %zu bytes exceed %u (name + value + 32 per field)", path, size,
             VALK_RESP_HEADERS_MAX);
    return VALK_EINVAL;
  }
  route = valk__route_new(path, status, body, body_len);
  if (route == NULL) return VALK_ENOMEM;
  for (i = 0; i < nheaders; i++) {
    rc = valk__route_add_header(route, headers[2 * i], headers[2 * i + 1]);
    if (rc != 0) {
      valk__route_free(route);
      return rc;
    }
  }
  route->index = (int)table->count;
  table->routes[table->count++] = route;
  return 0;
}

const valk_route_t *valk_route_lookup(const valk_route_table_t *table, const uint8_t *path,
                                      size_t len) {
  const uint8_t *q = memchr(path, '?', len);
  uint32_t i;

  if (q != NULL) len = (size_t)(q - path);
  for (i = 0; i < table->count; i++) {
    const valk_route_t *r = table->routes[i];
    if (r->path_len == len && memcmp(r->path, path, len) == 0) return r;
  }
  return NULL;
}
