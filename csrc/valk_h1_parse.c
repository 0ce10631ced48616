/*
 * valk_h1_parse.c: HTTP/1.x requests over llhttp; see valk_h1_parse.h.
 * Thread: the connection's owner (the AIO thread); no state is shared.
 */
#include "valk_h1_parse.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "valk_common.h"

/* What HTTP/2 counts per field on top of name and value (maxHeaderListSize). */
#define VALK__H1_FIELD_OVERHEAD 32u

static valk_h1_parser_t *valk__parser(llhttp_t *http) {
  return VALK_CONTAINER_OF(http, valk_h1_parser_t, http);
}

/* Fails p with status (first reason wins) and returns llhttp's user error. */
static int valk__fail(valk_h1_parser_t *p, uint16_t status, const char *reason) {
  valk_h1_fail(p, status, reason);
  return HPE_USER;
}

void valk_h1_fail(valk_h1_parser_t *p, uint16_t status, const char *reason) {
  if (p->error_status != 0) return;
  p->error_status = status;
  p->error_reason = reason;
}

/* Appends at[0 .. n) to the head buffer (lower-cased when lower). 0, or the buffer is full. */
static int valk__append(valk_h1_parser_t *p, const char *at, size_t n, int lower) {
  size_t i;
  if (n > p->cap - p->len) return -1;
  if (lower) {
    for (i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)at[i];
      p->buf[p->len + i] = (uint8_t)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
    }
  } else {
    memcpy(p->buf + p->len, at, n);
  }
  p->len += (uint32_t)n;
  return 0;
}

static int valk__on_message_begin(llhttp_t *http) {
  valk_h1_parser_t *p = valk__parser(http);
  p->len = 0;
  p->header_bytes = 0;
  p->hosts = 0;
  p->in_value = 0;
  memset(&p->head, 0, sizeof(p->head));
  p->head.content_length = -1;
  p->head.fields = p->fields;
  return 0;
}

static int valk__on_url(llhttp_t *http, const char *at, size_t n) {
  valk_h1_parser_t *p = valk__parser(http);
  if (p->head.target_len == 0) p->head.target = p->len;
  if (n > p->limits->max_target - p->head.target_len)
    return valk__fail(p, 414, "request target over the limit");
  if (valk__append(p, at, n, 0) != 0) return valk__fail(p, 431, "request head over the limit");
  p->head.target_len += (uint32_t)n;
  return 0;
}

/* Counts n more bytes of header section against the limit. */
static int valk__count(valk_h1_parser_t *p, size_t n) {
  if (n > p->limits->max_header_bytes - p->header_bytes) return -1;
  p->header_bytes += (uint32_t)n;
  return 0;
}

static int valk__on_header_field(llhttp_t *http, const char *at, size_t n) {
  valk_h1_parser_t *p = valk__parser(http);
  valk_h1_field_t *f;
  if (p->head.nfields == 0 || p->in_value) { /* a new field */
    if (p->head.nfields >= p->limits->max_fields) return valk__fail(p, 431, "too many header fields");
    if (valk__count(p, VALK__H1_FIELD_OVERHEAD) != 0) return valk__fail(p, 431, "header section over the limit");
    f = &p->fields[p->head.nfields++];
    f->name = p->len;
    f->name_len = 0;
    f->value = p->len;
    f->value_len = 0;
    p->in_value = 0;
  }
  f = &p->fields[p->head.nfields - 1];
  if (valk__count(p, n) != 0) return valk__fail(p, 431, "header section over the limit");
  if (valk__append(p, at, n, 1) != 0) return valk__fail(p, 431, "request head over the limit");
  f->name_len += (uint32_t)n;
  f->value = p->len;
  return 0;
}

static int valk__on_header_value(llhttp_t *http, const char *at, size_t n) {
  valk_h1_parser_t *p = valk__parser(http);
  valk_h1_field_t *f;
  assert(p->head.nfields > 0);
  f = &p->fields[p->head.nfields - 1];
  p->in_value = 1;
  if (valk__count(p, n) != 0) return valk__fail(p, 431, "header section over the limit");
  if (valk__append(p, at, n, 0) != 0) return valk__fail(p, 431, "request head over the limit");
  f->value_len += (uint32_t)n;
  return 0;
}

static int valk__name_is(const valk_h1_parser_t *p, const valk_h1_field_t *f, const char *name) {
  size_t n = strlen(name);
  return f->name_len == n && memcmp(p->buf + f->name, name, n) == 0;
}

/* The value of f equals lit, ignoring ASCII case. */
static int valk__value_is(const valk_h1_parser_t *p, const valk_h1_field_t *f, const char *lit) {
  size_t n = strlen(lit), i;
  if (f->value_len != n) return 0;
  for (i = 0; i < n; i++) {
    unsigned char ch = p->buf[f->value + i];
    if ((ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch) != (unsigned char)lit[i]) return 0;
  }
  return 1;
}

/* A field is complete: the ones the server acts on are noted. */
static int valk__on_header_value_complete(llhttp_t *http) {
  valk_h1_parser_t *p = valk__parser(http);
  const valk_h1_field_t *f = &p->fields[p->head.nfields - 1];
  p->in_value = 1; /* an empty value has no value callback: the next name is a new field */
  if (valk__name_is(p, f, "host")) {
    p->hosts++;
    p->head.host = f->value;
    p->head.host_len = f->value_len;
  } else if (valk__name_is(p, f, "expect") && valk__value_is(p, f, "100-continue")) {
    p->head.expect_continue = 1;
  }
  return 0;
}

static int valk__on_headers_complete(llhttp_t *http) {
  valk_h1_parser_t *p = valk__parser(http);
  if (http->http_major != 1 || http->http_minor > 1) return valk__fail(p, 505, "HTTP version not supported");
  if (http->http_minor == 1 && p->hosts != 1) return valk__fail(p, 400, "an HTTP/1.1 request needs exactly one Host");
  if (p->hosts > 1) return valk__fail(p, 400, "more than one Host");
  /* A request's last transfer coding must be chunked, or its length is unknowable (RFC 9112 §6.3). */
  if ((http->flags & F_TRANSFER_ENCODING) && !(http->flags & F_CHUNKED))
    return valk__fail(p, 400, "a transfer coding other than chunked last");
  p->head.method = http->method;
  p->head.version_minor = http->http_minor;
  p->head.chunked = (http->flags & F_CHUNKED) != 0;
  if (http->flags & F_CONTENT_LENGTH) {
    if (http->content_length > p->limits->max_body) return valk__fail(p, 413, "request body over the limit");
    p->head.content_length = (int64_t)http->content_length;
  }
  p->head.keep_alive = llhttp_should_keep_alive(http) != 0;
  http->upgrade = 0; /* Upgrade (h2c, websocket) is not offered: the request is served as it is */
  p->in_head = 0;
  return HPE_PAUSED;
}

static int valk__on_body(llhttp_t *http, const char *at, size_t n) {
  valk_h1_parser_t *p = valk__parser(http);
  if (p->on_body != NULL && p->on_body(p->ud, (const uint8_t *)at, n) != 0)
    return valk__fail(p, 400, "request body refused");
  return 0;
}

static int valk__on_message_complete(llhttp_t *http) {
  valk_h1_parser_t *p = valk__parser(http);
  p->done = 1;
  return HPE_PAUSED;
}

void valk_h1_parser_init(valk_h1_parser_t *p, const valk_h1_limits_t *limits, uint8_t *buf, uint32_t cap,
                         valk_h1_field_t *fields, valk_h1_body_fn on_body, void *ud) {
  memset(p, 0, sizeof(*p));
  llhttp_settings_init(&p->settings);
  p->settings.on_message_begin = valk__on_message_begin;
  p->settings.on_url = valk__on_url;
  p->settings.on_header_field = valk__on_header_field;
  p->settings.on_header_value = valk__on_header_value;
  p->settings.on_header_value_complete = valk__on_header_value_complete;
  p->settings.on_headers_complete = valk__on_headers_complete;
  p->settings.on_body = valk__on_body;
  p->settings.on_message_complete = valk__on_message_complete;
  llhttp_init(&p->http, HTTP_REQUEST, &p->settings);
  p->limits = limits;
  p->buf = buf;
  p->cap = cap;
  p->fields = fields;
  p->on_body = on_body;
  p->ud = ud;
  p->in_head = 1;
  p->line_start = 1;
  p->head.content_length = -1;
  p->head.fields = fields;
}

/*
 * The head's bytes must end every line with CRLF, with no CR elsewhere and no
 * line that starts with whitespace (obs-fold): llhttp 8 takes a bare LF as a
 * line end, which a proxy in front may not (docs/design.md §12). 0, or p failed.
 */
static int valk__scan_head(valk_h1_parser_t *p, const uint8_t *data, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    uint8_t ch = data[i];
    if (p->prev == '\r' && ch != '\n') return valk__fail(p, 400, "bare CR in the request head");
    if (ch == '\n' && p->prev != '\r') return valk__fail(p, 400, "bare LF in the request head");
    if (p->line_start && (ch == ' ' || ch == '\t')) return valk__fail(p, 400, "obs-fold or leading whitespace in the request head");
    p->line_start = ch == '\n';
    p->prev = ch;
  }
  return 0;
}

/* llhttp's own refusals: which status answers them (a version llhttp does not
 * know, such as HTTP/1.2, and an HTTP/2 preface: 505; the rest: 400). */
static uint16_t valk__status_of(llhttp_errno_t err) {
  return err == HPE_PAUSED_H2_UPGRADE || err == HPE_INVALID_VERSION ? 505 : 400;
}

size_t valk_h1_feed(valk_h1_parser_t *p, const uint8_t *data, size_t len, valk_h1_event_t *ev) {
  llhttp_errno_t err;
  size_t used;
  int was_head = p->in_head;

  if (p->error_status != 0) {
    *ev = VALK_H1_ERROR;
    return 0;
  }
  if (p->done) {
    *ev = VALK_H1_END;
    return 0;
  }
  if (llhttp_get_errno(&p->http) == HPE_PAUSED) llhttp_resume(&p->http);
  err = llhttp_execute(&p->http, (const char *)data, len);
  used = err == HPE_OK ? len : (size_t)((const uint8_t *)llhttp_get_error_pos(&p->http) - data);
  assert(used <= len);
  if (was_head && p->error_status == 0) (void)valk__scan_head(p, data, used);
  if (p->error_status != 0 || (err != HPE_OK && err != HPE_PAUSED)) {
    if (p->error_status == 0) valk_h1_fail(p, valk__status_of(err), llhttp_get_error_reason(&p->http));
    *ev = VALK_H1_ERROR;
    return used;
  }
  if (p->done) *ev = VALK_H1_END;
  else if (was_head && !p->in_head) *ev = VALK_H1_HEAD;
  else *ev = VALK_H1_MORE;
  return used;
}

valk_h1_event_t valk_h1_finish(valk_h1_parser_t *p) {
  if (p->error_status != 0) return VALK_H1_ERROR;
  if (p->done) return VALK_H1_MORE;
  if (llhttp_get_errno(&p->http) == HPE_PAUSED) llhttp_resume(&p->http);
  if (llhttp_finish(&p->http) != HPE_OK) {
    valk_h1_fail(p, 400, "the connection closed mid-request");
    return VALK_H1_ERROR;
  }
  return VALK_H1_MORE;
}

void valk_h1_next(valk_h1_parser_t *p) {
  assert(p->done && p->error_status == 0);
  p->done = 0;
  p->in_head = 1;
  p->line_start = 1;
  p->prev = 0;
  p->len = 0;
}

const valk_h1_head_t *valk_h1_head(const valk_h1_parser_t *p) {
  return &p->head;
}

const char *valk_h1_method_name(const valk_h1_head_t *head) {
  return llhttp_method_name((llhttp_method_t)head->method);
}

const uint8_t *valk_h1_bytes(const valk_h1_parser_t *p) {
  return p->buf;
}

uint16_t valk_h1_error_status(const valk_h1_parser_t *p) {
  return p->error_status;
}

const char *valk_h1_error_reason(const valk_h1_parser_t *p) {
  return p->error_reason;
}
