/*
 * valk_h2_body.h: request bodies that stream to JavaScript (the server
 * option requestBodies: 'stream', docs/design.md §7).
 *
 * Such a request is handed to JavaScript at the end of its headers; its body
 * follows one chunk at a time. What arrived since the last hand-over waits in
 * the stream's fill (malloc'd, grown as needed); when JavaScript has no chunk,
 * the fill becomes the next chunk (valk_dispatch.h says who owns it when). The
 * session's flow-control windows are consumed by hand (the server's
 * nghttp2_option has no automatic WINDOW_UPDATE) as JavaScript takes each
 * chunk, so a stream holds at most its window (streamWindowSize) and a
 * connection at most connectionWindowSize: flow control is the backpressure,
 * and a handler that reads slowly slows its client down.
 *
 * With the option, every DATA byte the session delivers is consumed by hand:
 * at once when nobody waits for it (valk_h2_consume), and nghttp2 consumes
 * what it drops itself (padding, closed streams).
 *
 * The lowest of the server's files: it calls the session, the rings and
 * nothing of the server above it.
 *
 * Thread: the AIO thread that owns the server's system.
 */
#ifndef VALK_H2_BODY_H
#define VALK_H2_BODY_H

#include "valk_h2_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/* n bytes of stream id on c are not wanted: the windows open for them (a
 * server whose windows open by themselves needs nothing). */
void valk_h2_consume(valk_srv_conn_t *c, int32_t id, size_t n);

/* DATA for st's streaming body: held for JavaScript (handed over at once if
 * it has no chunk), or consumed and dropped (VALK_STREAM_F_BODY_DROP).
 * 0, or -1 when no memory was left (the stream is reset). */
int valk_h2_body_hold(valk_stream_t *st, const uint8_t *data, size_t len);

/* st's request (req) is on the request ring: JavaScript knows its token from
 * now on, and what st holds goes to it. */
void valk_h2_body_dispatched(valk_stream_t *st, valk_js_request_t *req);

/* st's request ended (END_STREAM): the end goes with its last chunk. */
void valk_h2_body_end(valk_stream_t *st);

/* Nobody reads the rest of st's body (it was answered, or never reached
 * JavaScript): what it holds is dropped and consumed, and so is what comes. */
void valk_h2_body_drop(valk_stream_t *st);

/* st dies: what it holds is freed, and the connection's window opened for it;
 * a chunk the owner is copying stays until its take (or the answer) comes. */
void valk_h2_body_stream_gone(valk_stream_t *st);

/* req's answer came (or the final chunk of its streaming answer): the owner
 * takes nothing after it, so its chunk (if any) is freed and its body done with. */
void valk_h2_body_close(valk_system_t *sys, valk_js_request_t *req);

/* A take came back from the owner (a token, | VALK_TAKE_DISCARD): the chunk is
 * freed and its bytes consumed, the next one handed over. Stale: dropped.
 * The connection goes on *flush. */
void valk_h2_js_take(valk_system_t *sys, uint64_t msg, valk_srv_conn_t **flush);

/* The end of a loop iteration (before the owner is woken): the streams that
 * took bytes in it hand them over, as one chunk each, if JavaScript has none. */
void valk_h2_body_offers(valk_server_t *srv);

/* After the loop ended: frees the chunks still registered. */
void valk_h2_body_discard_all(valk_system_t *sys);

/* Frees the block cache (after valk_h2_body_discard_all). */
void valk_h2_body_blocks_free(valk_system_t *sys);

#ifdef __cplusplus
}
#endif
#endif /* VALK_H2_BODY_H */
