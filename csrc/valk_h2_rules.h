/*
 * valk_h2_rules.h: what a server checks of a client's frames before nghttp2
 * sees them: RFC 9113 §5.1 stream states that nghttp2 (which keeps no closed
 * streams here) cannot judge alone, and the frame counts the flood guards use
 * (docs/RELIABILITY.md).
 *
 *   - valk_frame_scan finds frame boundaries in the plaintext the client
 *     sends (after its 24-byte preface), so the server can look at each frame
 *     header before the session gets the header's last byte.
 *   - valk_closed_ring remembers the last streams that closed: the last
 *     VALK_CLOSED_RESETS reset ones (RST_STREAM either way, or refused), whose
 *     late frames must be ignored, and the last VALK_CLOSED_NORMALS that
 *     closed normally (END_STREAM both ways), on which a frame is an error.
 *   - valk_h2_frame_verdict applies §5.1 to one frame header.
 *
 * Pure functions over caller-owned structs: no allocation, no I/O. Thread:
 * whoever owns the structs (the AIO thread owning the connection).
 */
#ifndef VALK_H2_RULES_H
#define VALK_H2_RULES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VALK_FRAME_HEADER_LEN 9
#define VALK_CLIENT_PREFACE_LEN 24 /* "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" */
#define VALK_CLOSED_RESETS 64
#define VALK_CLOSED_NORMALS 16

enum { VALK_FRAME_DATA = 0x0, VALK_FRAME_HEADERS = 0x1, VALK_FRAME_PRIORITY = 0x2, VALK_FRAME_RST_STREAM = 0x3,
       VALK_FRAME_SETTINGS = 0x4, VALK_FRAME_PING = 0x6, VALK_FRAME_CONTINUATION = 0x9 };
enum { VALK_FLAG_END_STREAM = 0x1, VALK_FLAG_ACK = 0x1 };

typedef struct valk_frame_hd {
  uint32_t length;
  uint8_t type, flags;
  int32_t stream_id;
} valk_frame_hd_t;

/* Frame boundaries in one direction of a connection. */
typedef struct valk_frame_scan {
  uint32_t skip;                      /* bytes before the next frame header: preface, then payload */
  uint8_t hdr[VALK_FRAME_HEADER_LEN];
  uint8_t have;                       /* header bytes seen so far */
} valk_frame_scan_t;

/* A scanner whose first frame header follows skip bytes (the preface). */
void valk_frame_scan_init(valk_frame_scan_t *s, uint32_t skip);

/*
 * Scans p[0 .. n). Returns k <= n: when k < n, a frame header ends at p[k]
 * and *hd holds it; p[k] counts as scanned, so the next call starts at
 * p[k + 1]. When k == n, no frame header ends in p. The caller hands p[0 .. k)
 * to the session, decides about *hd, then hands on p[k].
 */
size_t valk_frame_scan(valk_frame_scan_t *s, const uint8_t *p, size_t n, valk_frame_hd_t *hd);

typedef enum { VALK_CLOSED_NONE = 0, VALK_CLOSED_NORMAL = 1, VALK_CLOSED_RESET = 2 } valk_closed_how_t;

/* A connection's recently closed streams (zeroed: empty). */
typedef struct valk_closed_ring {
  int32_t reset[VALK_CLOSED_RESETS];
  int32_t normal[VALK_CLOSED_NORMALS];
  uint32_t next_reset, next_normal;
} valk_closed_ring_t;

/* Records that stream id closed, how; the oldest record of that kind goes.
 * A reset is recorded even if the stream was recorded as normal. */
void valk_closed_add(valk_closed_ring_t *r, int32_t id, valk_closed_how_t how);

/* How stream id closed (RESET before NORMAL), or VALK_CLOSED_NONE when not (or no longer) recorded. */
valk_closed_how_t valk_closed_find(const valk_closed_ring_t *r, int32_t id);

typedef enum {
  VALK_VERDICT_PASS = 0,       /* the session may have it */
  VALK_VERDICT_STREAM_CLOSED,  /* stream error STREAM_CLOSED: the stream is half-closed (remote) */
  VALK_VERDICT_CONN_CLOSED,    /* connection error STREAM_CLOSED: a frame on a stream that closed normally */
  VALK_VERDICT_CONN_PROTOCOL   /* connection error PROTOCOL_ERROR: a new stream id lower than one used */
} valk_frame_verdict_t;

/*
 * RFC 9113 §5.1 for a frame a client sent a server. max_peer_id: the highest
 * stream id the client has opened; open: the stream is open now;
 * remote_closed: the client has sent END_STREAM on it. DATA or HEADERS on a
 * half-closed (remote) stream is a stream error; on a stream that closed
 * normally a connection error; on a stream the server or client reset they
 * are ignored (PASS: nghttp2 drops them). A HEADERS frame on an id at or
 * below max_peer_id that is neither open nor recorded opens a stream lower
 * than one already used: a connection error.
 */
valk_frame_verdict_t valk_h2_frame_verdict(const valk_closed_ring_t *r, int32_t max_peer_id,
                                           const valk_frame_hd_t *hd, int open, int remote_closed);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_RULES_H */
