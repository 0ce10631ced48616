/*
 * valk_h1_parse.h: HTTP/1.x requests parsed with llhttp (the addon's own copy,
 * deps/llhttp), under the server's limits and with the request-smuggling
 * defences of docs/design.md §12.
 *
 * A leaf module: bytes in, a request head, body bytes and message ends out.
 * It allocates nothing: the head's bytes go into memory the caller gives
 * (valk_h1_parser_init), so what a peer can make it hold is bounded by that.
 *
 * Use: valk_h1_feed(p, data, len, &ev) consumes a prefix of data and says
 * what happened:
 *   VALK_H1_MORE   all of data was used; nothing else to report.
 *   VALK_H1_HEAD   a request head is complete (valk_h1_head): the bytes after
 *                  it (its body, or the next request) were not consumed yet.
 *   VALK_H1_END    a request is complete (its body bytes went to the on_body
 *                  callback during the feeds). Parsing stops here, so that
 *                  pipelined requests are answered one at a time, in order:
 *                  valk_h1_next starts the next one.
 *   VALK_H1_ERROR  the request is refused: valk_h1_error_status says with
 *                  what (400, 413, 414, 431, 501, 505) and valk_h1_error_reason
 *                  why. The parser stays failed; the connection must close
 *                  after the answer (nothing after the bad bytes is trusted).
 * Then feed the rest of data again.
 *
 * Defences, beyond llhttp's strict mode (no lenient flag is ever set):
 *   - Content-Length with Transfer-Encoding, two different Content-Lengths,
 *     a Transfer-Encoding whose last coding is not chunked: 400 (llhttp);
 *   - obs-fold (a header line starting with SP/HTAB), a bare CR or a bare LF
 *     anywhere in the head: 400 (checked here on the head's bytes);
 *   - no Host, or more than one, in an HTTP/1.1 request: 400;
 *   - a version other than HTTP/1.0 or HTTP/1.1: 505;
 *   - a request target over limits.max_target: 414; header fields over
 *     limits.max_fields, or over limits.max_header_bytes counted the HTTP/2
 *     way (name + value + 32 per field, like maxHeaderListSize): 431;
 *   - a declared Content-Length over limits.max_body: 413 (a chunked body is
 *     the caller's to count: on_body sees every byte).
 *
 * Thread: a parser belongs to the thread that owns its connection (the AIO
 * thread); nothing here is shared.
 */
#ifndef VALK_H1_PARSE_H
#define VALK_H1_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  VALK_H1_MORE = 0,
  VALK_H1_HEAD = 1,
  VALK_H1_END = 2,
  VALK_H1_ERROR = 3,
} valk_h1_event_t;

/* Limits a request must stay within. Owner: the server's options (fixed). */
typedef struct valk_h1_limits {
  uint32_t max_target;        /* request-target bytes: 414 past it */
  uint32_t max_fields;        /* header fields: 431 past it */
  uint32_t max_header_bytes;  /* sum of name + value + 32 over the fields: 431 past it */
  uint64_t max_body;          /* a declared Content-Length past it: 413 */
} valk_h1_limits_t;

/* One header field: offsets into the parser's head buffer; the name is lower-cased. */
typedef struct valk_h1_field {
  uint32_t name, name_len;
  uint32_t value, value_len;
} valk_h1_field_t;

/* A request head as valk_h1_head gives it. The offsets index the head buffer (valk_h1_bytes). */
typedef struct valk_h1_head {
  uint8_t method;             /* llhttp_method_t */
  uint8_t version_minor;      /* HTTP/1.<minor>: 0 or 1 */
  uint8_t keep_alive;         /* the connection may carry another request after this one */
  uint8_t expect_continue;    /* Expect: 100-continue */
  uint8_t chunked;            /* Transfer-Encoding: chunked */
  uint32_t target, target_len;
  uint32_t host, host_len;    /* the Host field's value (host_len 0: none) */
  int64_t content_length;     /* -1: none declared */
  uint32_t nfields;
  const valk_h1_field_t *fields;
} valk_h1_head_t;

typedef int (*valk_h1_body_fn)(void *ud, const uint8_t *data, size_t len);

/* Owner: the connection's thread. */
typedef struct valk_h1_parser {
  llhttp_t http;
  llhttp_settings_t settings;
  const valk_h1_limits_t *limits;
  uint8_t *buf;               /* the head's bytes: target, names, values */
  uint32_t cap, len;
  valk_h1_field_t *fields;    /* limits->max_fields entries, the caller's */
  valk_h1_head_t head;
  uint32_t header_bytes;      /* counted against max_header_bytes */
  uint32_t hosts;             /* Host fields seen */
  uint8_t in_head;            /* between a request's first byte and its head's end */
  uint8_t in_value;           /* the last head callback was a value (the next name is a new field) */
  uint8_t line_start;         /* the head's next byte starts a line (obs-fold check) */
  uint8_t prev;               /* the head's previous byte (bare CR/LF check) */
  uint8_t done;               /* VALK_H1_END reported: wait for valk_h1_next */
  uint16_t error_status;      /* 0, or the answer's status once failed */
  const char *error_reason;
  valk_h1_body_fn on_body;
  void *ud;
} valk_h1_parser_t;

/*
 * Sets p up to parse requests under limits (kept by pointer: must outlive p).
 * buf[0 .. cap) takes a head's bytes, fields[0 .. limits->max_fields) its
 * fields; both are the caller's and must outlive p. on_body gets the body
 * bytes (nonzero return: the parser fails with 400... or the caller's own
 * reason, see valk_h1_fail).
 */
void valk_h1_parser_init(valk_h1_parser_t *p, const valk_h1_limits_t *limits, uint8_t *buf, uint32_t cap,
                         valk_h1_field_t *fields, valk_h1_body_fn on_body, void *ud);

/* Feeds data[0 .. len): bytes consumed, *ev what happened (see the top of this file). */
size_t valk_h1_feed(valk_h1_parser_t *p, const uint8_t *data, size_t len, valk_h1_event_t *ev);

/* The peer closed its side: VALK_H1_ERROR when a request was cut short, else VALK_H1_MORE. */
valk_h1_event_t valk_h1_finish(valk_h1_parser_t *p);

/* After VALK_H1_END: the next request may begin (its head goes into the buffer from 0). */
void valk_h1_next(valk_h1_parser_t *p);

/* The current head (valid from VALK_H1_HEAD until valk_h1_next), and the bytes its offsets index. */
const valk_h1_head_t *valk_h1_head(const valk_h1_parser_t *p);
const uint8_t *valk_h1_bytes(const valk_h1_parser_t *p);

/* The head's method as text ("GET"; llhttp's name for it). */
const char *valk_h1_method_name(const valk_h1_head_t *head);

/* Fails p now (from on_body, say): status and a static reason. */
void valk_h1_fail(valk_h1_parser_t *p, uint16_t status, const char *reason);

uint16_t valk_h1_error_status(const valk_h1_parser_t *p);
const char *valk_h1_error_reason(const valk_h1_parser_t *p);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H1_PARSE_H */
