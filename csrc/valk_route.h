/*
 * valk_route.h: static routes, path -> (status, headers, body), answered
 * entirely on the AIO thread. Each route's response header block is built
 * once (":status", "content-length", then the user's headers) so a response
 * is one nghttp2_submit_response with NO_COPY name/value pairs.
 *
 * Thread: a table is built by the owner thread before the LISTEN op, then
 * belongs to the AIO thread, which only reads it until the server is freed.
 * Memory: every string is copied into the table; freed by valk_route_table_free.
 */
#ifndef VALK_ROUTE_H
#define VALK_ROUTE_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_MAX_ROUTES 256
#define VALK_MAX_ROUTE_HEADERS 32

/* The largest response header block the server submits, counted as RFC 9113
 * counts a header list (name + value + 32 per field): nghttp2 refuses blocks
 * over 64 KiB once encoded, and a refusal while encoding ends the connection.
 * Routes past it are refused at listen; a handler's answer past it gets a 500
 * (lib/handler.ts checks the same bound). */
#define VALK_RESP_HEADERS_MAX (60u * 1024)
/* What :status and content-length take of it (3 and at most 20 digits). */
#define VALK_RESP_FIXED_HEADERS_BYTES (7u + 3u + 32u + 14u + 20u + 32u)

/* Bytes before every route body for a frame header (docs/design.md §4). */
#define VALK_ROUTE_HEADROOM 16u

typedef struct valk_route {
  char *path;
  size_t path_len;
  int index;          /* position in the table; -1 for the 404/405 routes */
  int status;
  nghttp2_nv nva[VALK_MAX_ROUTE_HEADERS + 2];
  size_t nvlen;
  uint8_t *body;      /* VALK_ROUTE_HEADROOM writable bytes precede it (the AIO thread's
                       * scratch: a DATA frame's header goes there while the frame is
                       * written, valk_conn_write_framed); no other thread reads the body
                       * while the server runs */
  size_t body_len;
  char status_str[4];
  char length_str[24];
} valk_route_t;

typedef struct valk_route_table {
  valk_route_t *routes[VALK_MAX_ROUTES];
  uint32_t count;
  valk_route_t *not_found;      /* 404 */
  valk_route_t *not_allowed;    /* 405, allow: GET, HEAD */
  valk_route_t *too_large;      /* 413: request body over maxRequestBodySize */
  valk_route_t *timed_out;      /* 408: request not received within bodyTimeoutMs / requestTimeoutMs */
  valk_route_t *headers_too_large; /* 431: request header list over maxHeaderListSize / maxHeaderPairs */
  valk_route_t *internal_error; /* 500: a JavaScript answer that cannot be sent */
  valk_route_t *overloaded;     /* 503 + retry-after: the server's error503Body */
} valk_route_table_t;

/* Seconds a 503 overload response asks the client to wait (retry-after). */
#define VALK_RETRY_AFTER "1"

/* An empty table with its 404, 405, 408, 413, 431, 500 and (default body) 503 routes. 0 or VALK_ENOMEM. */
int valk_route_table_init(valk_route_table_t *table);
void valk_route_table_free(valk_route_table_t *table);

/* A route's status meaning "answered by JavaScript" (the debug routes): the
 * request goes to the server's handler like a path without a route. */
#define VALK_ROUTE_JS 0
/* ... and "the memory diagnostics stream" (valk_sse.h): answered on the AIO thread. */
#define VALK_ROUTE_SSE 1

/*
 * Adds path -> response (status VALK_ROUTE_JS: path -> JavaScript). headers is [name0, value0, name1, value1, ...] with
 * nheaders pairs. Names must be lower-case tokens and not pseudo-headers,
 * connection-specific headers or content-length (set by the server); values
 * must not contain CR, LF or NUL. Returns 0, VALK_EINVAL (reason in err),
 * VALK_ELIMIT (too many routes or headers) or VALK_ENOMEM.
 */
int valk_route_table_add(valk_route_table_t *table, const char *path, int status,
                         const char *const *headers, size_t nheaders,
                         const uint8_t *body, size_t body_len, char *err, size_t err_len);

/*
 * Replaces the 503 route's body (the server's error503Body). Its content-type
 * is application/json when the body starts with '{' or '[', else text/plain.
 * 0 or VALK_ENOMEM (the old 503 route stays).
 */
int valk_route_table_set_overload_body(valk_route_table_t *table, const uint8_t *body, size_t len);

/* The route for a request path (the part before '?'), or NULL. */
const valk_route_t *valk_route_lookup(const valk_route_table_t *table, const uint8_t *path,
                                      size_t len);

#ifdef __cplusplus
}
#endif
#endif /* VALK_ROUTE_H */
