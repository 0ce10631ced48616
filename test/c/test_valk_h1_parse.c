// sources: valk_h1_parse.c valk_common.c
// deps: llhttp
/* HTTP/1.x requests (csrc/valk_h1_parse.c over the addon's llhttp): heads,
 * bodies (Content-Length, chunked), pipelining one request at a time, feeds
 * split anywhere, keep-alive, Expect, the limits (414, 431, 413) and the
 * request-smuggling defences (docs/design.md §12): Content-Length with
 * Transfer-Encoding, two Content-Lengths, a last coding other than chunked,
 * obs-fold, bare CR, bare LF, Host missing or repeated, versions (505). */
#include <stdio.h>
#include <string.h>

#include "valk_h1_parse.h"

#include "valk_test.h"

#define MAX_FIELDS 8

static const valk_h1_limits_t limits = {
    .max_target = 64, .max_fields = MAX_FIELDS, .max_header_bytes = 512, .max_body = 1000};

typedef struct fixture {
  valk_h1_parser_t p;
  uint8_t buf[1024];
  valk_h1_field_t fields[MAX_FIELDS];
  char body[2048];
  size_t body_len;
} fixture_t;

static int on_body(void *ud, const uint8_t *data, size_t len) {
  fixture_t *f = ud;
  CHECK(f->body_len + len <= sizeof(f->body));
  memcpy(f->body + f->body_len, data, len);
  f->body_len += len;
  return 0;
}

static void setup(fixture_t *f) {
  memset(f, 0, sizeof(*f));
  valk_h1_parser_init(&f->p, &limits, f->buf, sizeof(f->buf), f->fields, on_body, f);
}

/* Feeds s in pieces of step bytes (0: at once) until an event other than MORE
 * or the end of s; *used: bytes consumed. */
static valk_h1_event_t feed(fixture_t *f, const char **s, size_t step) {
  valk_h1_event_t ev = VALK_H1_MORE;
  while (**s != '\0') {
    size_t len = strlen(*s), n;
    if (step > 0 && step < len) len = step;
    n = valk_h1_feed(&f->p, (const uint8_t *)*s, len, &ev);
    *s += n;
    if (ev != VALK_H1_MORE) return ev;
    CHECK(n == len);
  }
  return ev;
}

/* The whole of s as one request: its status (0 when parsed to its end). */
static uint16_t refused(const char *s) {
  fixture_t f;
  valk_h1_event_t ev;
  setup(&f);
  do {
    ev = feed(&f, &s, 0);
    if (ev == VALK_H1_ERROR) return valk_h1_error_status(&f.p);
  } while (ev == VALK_H1_HEAD);
  return 0;
}

static int str_is(const fixture_t *f, uint32_t at, uint32_t len, const char *want) {
  return len == strlen(want) && memcmp(valk_h1_bytes(&f->p) + at, want, len) == 0;
}

static void test_get_and_split_feeds(void) {
  static const char req[] = "GET /a?b=1 HTTP/1.1\r\nHost: example\r\nUser-Agent: T/1\r\nX-Empty:\r\n\r\n";
  size_t step;
  for (step = 0; step <= 7; step++) {
    fixture_t f;
    const char *s = req;
    const valk_h1_head_t *h;
    setup(&f);
    CHECK(feed(&f, &s, step) == VALK_H1_HEAD);
    CHECK(*s == '\0'); /* the head ends the input: nothing after it consumed */
    h = valk_h1_head(&f.p);
    CHECK(h->method == HTTP_GET && h->version_minor == 1 && h->keep_alive && !h->chunked);
    CHECK(h->content_length == -1 && !h->expect_continue);
    CHECK(str_is(&f, h->target, h->target_len, "/a?b=1"));
    CHECK(str_is(&f, h->host, h->host_len, "example"));
    CHECK(h->nfields == 3);
    CHECK(str_is(&f, h->fields[1].name, h->fields[1].name_len, "user-agent")); /* names lower-cased */
    CHECK(str_is(&f, h->fields[1].value, h->fields[1].value_len, "T/1"));
    CHECK(str_is(&f, h->fields[2].name, h->fields[2].name_len, "x-empty") && h->fields[2].value_len == 0);
    CHECK(feed(&f, &s, step) == VALK_H1_MORE); /* no body: END comes with the next feed */
    {
      valk_h1_event_t ev;
      CHECK(valk_h1_feed(&f.p, (const uint8_t *)"", 0, &ev) == 0 && ev == VALK_H1_END);
    }
  }
}

static void test_bodies(void) {
  fixture_t f;
  const char *s = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  setup(&f);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD && valk_h1_head(&f.p)->content_length == 5);
  CHECK(feed(&f, &s, 0) == VALK_H1_END && *s == '\0');
  CHECK(f.body_len == 5 && memcmp(f.body, "hello", 5) == 0);

  s = "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
  setup(&f);
  CHECK(feed(&f, &s, 3) == VALK_H1_HEAD && valk_h1_head(&f.p)->chunked);
  CHECK(feed(&f, &s, 3) == VALK_H1_END && *s == '\0');
  CHECK(f.body_len == 11 && memcmp(f.body, "hello world", 11) == 0);
}

static void test_pipelining_in_order(void) {
  fixture_t f;
  const char *s = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET /3 HTTP/1.0\r\n\r\n";
  valk_h1_event_t ev;
  setup(&f);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD);
  CHECK(str_is(&f, valk_h1_head(&f.p)->target, valk_h1_head(&f.p)->target_len, "/1"));
  CHECK(feed(&f, &s, 0) == VALK_H1_END);
  CHECK(strncmp(s, "POST /2", 7) == 0); /* the next request waits, unparsed */
  CHECK(valk_h1_feed(&f.p, (const uint8_t *)s, strlen(s), &ev) == 0 && ev == VALK_H1_END); /* until next */
  valk_h1_next(&f.p);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD);
  CHECK(str_is(&f, valk_h1_head(&f.p)->target, valk_h1_head(&f.p)->target_len, "/2"));
  CHECK(feed(&f, &s, 0) == VALK_H1_END && f.body_len == 2);
  valk_h1_next(&f.p);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD);
  CHECK(valk_h1_head(&f.p)->version_minor == 0 && !valk_h1_head(&f.p)->keep_alive); /* HTTP/1.0: closes */
  CHECK(valk_h1_head(&f.p)->host_len == 0); /* HTTP/1.0 needs no Host */
}

static void test_keep_alive_and_expect(void) {
  fixture_t f;
  const char *s = "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  setup(&f);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD && !valk_h1_head(&f.p)->keep_alive);
  s = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  setup(&f);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD && valk_h1_head(&f.p)->keep_alive);
  s = "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  setup(&f);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD && valk_h1_head(&f.p)->expect_continue);
  s = "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nGET /n HTTP/1.1\r\nHost: h\r\n\r\n";
  setup(&f); /* Upgrade is not offered: served as a plain request, and the next one follows */
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD && feed(&f, &s, 0) == VALK_H1_END);
  valk_h1_next(&f.p);
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD);
  CHECK(str_is(&f, valk_h1_head(&f.p)->target, valk_h1_head(&f.p)->target_len, "/n"));
}

static void test_smuggling_defences(void) {
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n") == 400);
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd") == 400);
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd") == 400);
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") == 400);
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc") == 400); /* llhttp reads it to the close */
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n") == 400);
  CHECK(refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n") == 400);          /* obs-fold */
  CHECK(refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n") == 400);
  CHECK(refused("GET / HTTP/1.1\nHost: h\n\n") == 400);                                   /* bare LF */
  CHECK(refused("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\nX-B: b\r\n\r\n") == 400);
  CHECK(refused("GET / HTTP/1.1\r\nHost: h\rX-B: b\r\n\r\n") == 400);                     /* bare CR */
  CHECK(refused("GET / HTTP/1.1\r\n\r\n") == 400);                                        /* no Host */
  CHECK(refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);                  /* two */
  CHECK(refused("GET / HTTP/1.1\r\nHost : h\r\n\r\n") == 400);               /* space before the colon */
  CHECK(refused("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(refused("G@T / HTTP/1.1\r\nHost: h\r\n\r\n") == 400);
  CHECK(refused("GET / HTTP/1.1\r\nHost: h\r\n\r\n") == 0);                  /* and the clean one parses */
}

static void test_versions(void) {
  CHECK(refused("GET / HTTP/1.2\r\nHost: h\r\n\r\n") == 505);
  CHECK(refused("GET / HTTP/2.0\r\nHost: h\r\n\r\n") == 505);
  CHECK(refused("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 505); /* an HTTP/2 preface here: not this parser's */
  CHECK(refused("GET / HTTP/1.0\r\n\r\n") == 0);
}

static void test_limits(void) {
  char big[2048];
  int i, n;
  /* The target: 64 bytes pass, 65 are 414. */
  n = snprintf(big, sizeof(big), "GET /%063d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
  CHECK(n > 0 && refused(big) == 0);
  snprintf(big, sizeof(big), "GET /%064d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
  CHECK(refused(big) == 414);
  /* Fields: 8 pass, 9 are 431. */
  n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\n");
  for (i = 0; i < 7; i++) n += snprintf(big + n, sizeof(big) - (size_t)n, "X-%d: v\r\n", i);
  snprintf(big + n, sizeof(big) - (size_t)n, "\r\n");
  CHECK(refused(big) == 0);
  snprintf(big + n, sizeof(big) - (size_t)n, "X-8: v\r\n\r\n");
  CHECK(refused(big) == 431);
  /* Bytes, counted name + value + 32: one value of 400 bytes fits 512 with Host, 480 does not. */
  n = snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: h\r\nX: ");
  memset(big + n, 'v', 400);
  snprintf(big + n + 400, sizeof(big) - (size_t)n - 400, "\r\n\r\n");
  CHECK(refused(big) == 0);
  memset(big + n, 'v', 480);
  snprintf(big + n + 480, sizeof(big) - (size_t)n - 480, "\r\n\r\n");
  CHECK(refused(big) == 431);
  /* A declared body over max_body: 413 before a byte of it is read. */
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n") == 413);
  CHECK(refused("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n") == 400);
}

static void test_finish(void) {
  fixture_t f;
  const char *s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhel";
  setup(&f);
  CHECK(valk_h1_finish(&f.p) == VALK_H1_MORE); /* closed between requests: fine */
  CHECK(feed(&f, &s, 0) == VALK_H1_HEAD && feed(&f, &s, 0) == VALK_H1_MORE);
  CHECK(valk_h1_finish(&f.p) == VALK_H1_ERROR && valk_h1_error_status(&f.p) == 400); /* cut short */
  CHECK(strlen(valk_h1_error_reason(&f.p)) > 0);
}

int main(void) {
  test_get_and_split_feeds();
  test_bodies();
  test_pipelining_in_order();
  test_keep_alive_and_expect();
  test_smuggling_defences();
  test_versions();
  test_limits();
  test_finish();
  printf("test_valk_h1_parse: 8 passed\n");
  return 0;
}
