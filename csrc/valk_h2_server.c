/*
 * valk_h2_server.c: HTTP/2 over TLS servers on the AIO thread: listeners,
 * admission, a connection's lifetime, the sweep. See valk_h2_server.h. The
 * top of the server's three files (docs/architecture.md): one connection's
 * session is valk_h2_session.c, its streams valk_h2_stream.c.
 *
 * Admission (docs/design.md §3): a new connection is refused, with its reason counted,
 * when the connection slab is empty (limit), when TCP buffers are past the
 * watermarks (load), or when its client IP holds maxConnectionsPerIp (per-ip).
 * A refusal is an RST before any TLS work, or in goaway mode a TLS handshake,
 * SETTINGS and GOAWAY(last-stream-id 0) from a small separate slab. A
 * connection that finds no TCP buffer stops reading and waits in the
 * backpressure heap; it resumes by priority once enough buffers are free.
 *
 * Hostile clients (docs/RELIABILITY.md): every byte and every second a client
 * can make a connection hold is bounded. Header lists are counted while they
 * are decoded (431 past maxHeaderListSize / maxHeaderPairs); nghttp2 and the
 * server's per-stream state draw on the connection's budget
 * (maxSessionMemory); a connection whose output backs up stops reading;
 * RST_STREAM frames either way and control frames have a rate; every state a
 * stream or connection can wait in has a timeout; frames are checked against
 * RFC 9113 §5.1 before nghttp2 sees them (valk_h2_rules.h); a stream takes an
 * arena only when it needs one, and a connection only its share of them.
 *
 * Thread: every function here runs on the AIO thread that owns the server's
 * system, except valk_server_opts_new/free (owner thread, before LISTEN).
 */
#include "valk_h2_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "valk_events.h"
#include "valk_common.h"
#include "valk_h1_server.h"
#include "valk_h2_session.h"
#include "valk_owner.h"

static void valk__server_maybe_done(valk_server_t *srv);
static const valk_conn_ops_t valk__conn_ops;

/* ---- options (owner thread) ---------------------------------------------- */

valk_server_opts_t *valk_server_opts_new(void) {
  valk_server_opts_t *opts = calloc(1, sizeof(*opts));
  if (opts == NULL) return NULL;
  if (valk_route_table_init(&opts->routes) != 0) {
    free(opts);
    return NULL;
  }
  return opts;
}

void valk_server_opts_free(valk_server_opts_t *opts) {
  if (opts == NULL) return;
  SSL_CTX_free(opts->ssl_ctx);
  valk_route_table_free(&opts->routes);
  free(opts->error_503_body);
  free(opts);
}

/* ---- connection lifetime ------------------------------------------------ */

/* The slab c came from: the connection slab, the goaway-mode refusals' or the admin listener's. */
static valk_slab_t *valk__conn_slab_of(const valk_srv_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  if (c->io.flags & VALK_SRV_F_GRACEFUL) return sys->graceful;
  if (c->io.flags & VALK_SRV_F_ADMIN) return sys->admin_slab;
  return sys->conn_slab;
}

/* ops->closed: the socket is closed; everything goes, then the slot. */
static void valk__on_conn_closed(valk_conn_t *io) {
  valk_srv_conn_t *c = valk_h2_sc(io);
  valk_server_t *srv = c->srv;
  valk_system_t *sys = srv->sys;

  while (c->streams != NULL) valk_h2_stream_free(c->streams);
  valk_h1_free(c);
  if (c->io.session != NULL) nghttp2_session_del(c->io.session);
  assert(c->io.budget.used == 0); /* everything the connection's HTTP/2 state held is back */
  SSL_free(c->io.ssl);
  if (c->prev) c->prev->next = c->next;
  else srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  assert(srv->nconns > 0);
  srv->nconns--;
  if (c->io.flags & VALK_SRV_F_IP_COUNTED)
    valk_ip_table_release(&sys->ips, (const struct sockaddr *)&c->peer);
  c->io.state = VALK_CONN_FREE;
  if (c->io.flags & VALK_SRV_F_ACCEPTED) {
    uint64_t now = uv_now(&sys->loop), age = now > c->io.accepted_ms ? now - c->io.accepted_ms : 0;
    VALK_SRV_ADD(srv, connections_closed, 1);
    VALK_SRV_ADD(srv, connections_active, -1);
    if (c->io.flags & VALK_CONN_F_PEER_CLOSED) valk_h2_close_cause(c, VALK_EVR_peer); /* its close_notify */
    valk_h2_event_why(c, VALK_EV_conn_closed, (valk_event_reason_t)c->close_reason,
                      age > UINT32_MAX ? UINT32_MAX : (uint32_t)age, c->io.bytes_sent);
  }
  valk_slab_release(valk__conn_slab_of(c), c);
  if (srv->closing) valk__server_maybe_done(srv);
  else valk_h2_retry_accepts(sys);
}

/* ops->closing: c leaves the idle list (the layer took it out of the heap). */
static void valk__on_conn_closing(valk_conn_t *io) {
  valk_srv_conn_t *c = valk_h2_sc(io);
  valk_h2_set_state(c, VALK_CONN_CLOSING);
  valk_h2_idle_remove(c);
}

static const valk_conn_ops_t valk__conn_ops = {
    .input = valk_h2_conn_on_input,
    .no_buffer = valk_h2_conn_pause,
    .drained = valk_h2_conn_maybe_finish,
    .wrote = valk_h2_on_wrote,
    .error = valk_h2_on_io_error,
    .closing = valk__on_conn_closing,
    .closed = valk__on_conn_closed,
};

/* Takes c (zeroed here) into srv's list, accepted from listener. */
static int valk__conn_start(valk_srv_conn_t *c, valk_server_t *srv, uv_stream_t *listener,
                            uint32_t flags) {
  valk_system_t *sys = srv->sys;
  memset(c, 0, sizeof(*c));
  valk_conn_init(&c->io, &sys->io, &valk__conn_ops, flags);
  c->srv = srv;
  c->io.stats = srv->stats;
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  c->io.uid = ++sys->next_conn_uid;
  c->io.state = VALK_CONN_FREE; /* valk_h2_set_state records the change */
  valk_h2_set_state(c, VALK_CONN_CONNECTING);
  return uv_accept(listener, (uv_stream_t *)&c->io.tcp);
}

/* Starts TLS on an accepted connection (or, on a cleartext listener, the
 * plain pipeline); closes it on failure. */
static void valk__conn_begin_tls(valk_srv_conn_t *c) {
  SSL_CTX *ctx = c->srv->opts->ssl_ctx;
  if ((ctx != NULL ? valk_conn_start_tls(&c->io, ctx) : valk_conn_start_plain(&c->io)) != 0) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_failed, 1);
    valk_h2_conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->io.tcp, 1);
}

/* ---- admission (docs/design.md §3: limits, load, per-IP, soft limit) ---- */

typedef enum { VALK_REFUSE_LIMIT, VALK_REFUSE_LOAD, VALK_REFUSE_PER_IP } valk_refuse_t;

static void valk__count_refusal(valk_server_t *srv, valk_refuse_t why) {
  valk_event_reason_t reason = VALK_EVR_limit;
  switch (why) {
  case VALK_REFUSE_LIMIT: VALK_SRV_ADD(srv, connections_rejected, 1); break;
  case VALK_REFUSE_LOAD:
    VALK_SRV_ADD(srv, connections_rejected_load, 1);
    reason = VALK_EVR_load;
    break;
  case VALK_REFUSE_PER_IP:
    VALK_SRV_ADD(srv, connections_rejected_per_ip, 1);
    reason = VALK_EVR_per_ip;
    break;
  }
  valk_event_emit(&srv->sys->events, uv_now(&srv->sys->loop), VALK_EV_conn_rejected, reason, 0, 0, 0);
}

static void valk__on_reject_closed(uv_handle_t *handle) {
  valk_reject_t *r = VALK_CONTAINER_OF(handle, valk_reject_t, tcp);
  valk_system_t *sys = r->sys;
  r->next = sys->reject_free;
  sys->reject_free = r;
  valk_h2_retry_accepts(sys);
}

/* Refuses the connection pending on listener with an RST, on one of the
 * system's reject handles. 0, or VALK_ELIMIT when none is free (the accept
 * stays pending). */
static int valk__reject(valk_system_t *sys, uv_stream_t *listener) {
  valk_reject_t *r = sys->reject_free;
  if (r == NULL) return VALK_ELIMIT;
  sys->reject_free = r->next;
  VALK_UV_CHECK(uv_tcp_init(&sys->loop, &r->tcp));
  if (uv_accept(listener, (uv_stream_t *)&r->tcp) == 0 &&
      uv_tcp_close_reset(&r->tcp, valk__on_reject_closed) == 0)
    return 0;
  uv_close((uv_handle_t *)&r->tcp, valk__on_reject_closed);
  return 0;
}

/*
 * Refuses the connection pending on listener. In goaway mode, while a
 * graceful slot is free, it gets TLS + SETTINGS + GOAWAY; otherwise an RST
 * before any TLS work. Returns 0, or VALK_ELIMIT when no reject handle is
 * free (the connection stays in the backlog; retried when one frees).
 */
static int valk__refuse(valk_server_t *srv, uv_stream_t *listener, valk_refuse_t why) {
  valk_system_t *sys = srv->sys;
  valk_srv_conn_t *g = sys->graceful != NULL ? valk_slab_acquire(sys->graceful) : NULL;

  if (g != NULL) {
    valk__count_refusal(srv, why);
    VALK_SRV_ADD(srv, connections_rejected_graceful, 1);
    if (valk__conn_start(g, srv, listener, VALK_SRV_F_GRACEFUL) != 0) valk_h2_conn_close(g);
    else valk__conn_begin_tls(g);
    return 0;
  }
  if (valk__reject(sys, listener) != 0) return VALK_ELIMIT;
  valk__count_refusal(srv, why);
  return 0;
}

/* Soft limit: at bufferHighWatermark of the connection slab, the longest-idle
 * connection (idle at least soft_limit_idle_ms) gets GOAWAY(NO_ERROR). */
static void valk__soft_limit(valk_system_t *sys) {
  valk_srv_conn_t *c = sys->idle_head;
  if (!sys->config.soft_limit || c == NULL ||
      valk_slab_used(sys->conn_slab) < sys->soft_limit_at ||
      uv_now(&sys->loop) - c->io.state_change_ms < sys->config.soft_limit_idle_ms)
    return;
  VALK_SRV_ADD(c->srv, connections_soft_closed, 1);
  valk_h2_close_cause(c, VALK_EVR_soft_limit);
  valk_h2_conn_goaway(c);
}

/* Per-IP limit: 0 admitted (and counted), else the connection is reset. */
static int valk__conn_check_ip(valk_srv_conn_t *c) {
  valk_system_t *sys = c->srv->sys;
  struct sockaddr_storage ss;
  int len = sizeof(ss);

  int rc;

  if (sys->config.max_connections_per_ip == 0) return 0;
  if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) != 0) {
    VALK_SRV_ADD(c->srv, connections_failed, 1); /* the peer is gone already */
    valk_h2_conn_close(c);
    return VALK_EINVAL;
  }
  rc = valk_ip_table_acquire(&sys->ips, (struct sockaddr *)&ss, sys->config.max_connections_per_ip);
  if (rc == 0) {
    memcpy(&c->peer, &ss, (size_t)len < sizeof(c->peer) ? (size_t)len : sizeof(c->peer));
    c->io.flags |= VALK_SRV_F_IP_COUNTED;
    return 0;
  }
  if (rc != VALK_ELIMIT) return 0; /* not an IP socket: not limited */
  valk__count_refusal(c->srv, VALK_REFUSE_PER_IP);
  valk_conn_close_reset(&c->io);
  return VALK_ELIMIT;
}

/* The admin listener's accept: its own slab, no watermark, per-IP or soft
 * limit, so an operator reaches the debug routes while the server sheds load. */
static void valk__on_admin_connection(valk_server_t *srv, uv_stream_t *listener) {
  valk_srv_conn_t *c = valk_slab_acquire(srv->sys->admin_slab);
  if (c == NULL) {
    if (valk__refuse(srv, listener, VALK_REFUSE_LIMIT) != 0) srv->accept_pending = 1;
    return;
  }
  if (valk__conn_start(c, srv, listener, VALK_SRV_F_ADMIN) != 0) {
    VALK_SRV_ADD(srv, connections_failed, 1);
    valk_h2_conn_close(c);
    return;
  }
  c->io.flags |= VALK_SRV_F_ACCEPTED;
  c->io.owner = srv->owner;
  VALK_SRV_ADD(srv, connections_total, 1);
  VALK_SRV_ADD(srv, connections_active, 1);
  valk_h2_event(c, VALK_EV_conn_accepted, 0, 0);
  valk__conn_begin_tls(c);
}

static void valk__on_connection(uv_stream_t *listener, int status) {
  valk_server_t *srv = listener->data;
  valk_system_t *sys = srv->sys;
  valk_srv_conn_t *c;
  valk_refuse_t why = VALK_REFUSE_LIMIT;

  if (status < 0) {
    VALK_WARN("accept on %s:%d: %s", srv->opts->host, srv->opts->port, uv_strerror(status));
    return;
  }
  if (srv->opts->admin) {
    valk__on_admin_connection(srv, listener);
    return;
  }
  valk__soft_limit(sys);
  c = valk_slab_acquire(sys->conn_slab); /* empty slab: at max_connections */
  if (c != NULL && !valk_watermark_admit(&sys->watermark, valk_slab_used(sys->tcp_bufs))) {
    valk_slab_release(sys->conn_slab, c);
    c = NULL;
    why = VALK_REFUSE_LOAD;
  }
  if (c == NULL) {
    if (valk__refuse(srv, listener, why) != 0) srv->accept_pending = 1;
    return;
  }
  if (valk__conn_start(c, srv, listener, 0) != 0) {
    VALK_SRV_ADD(srv, connections_failed, 1);
    valk_h2_conn_close(c);
    return;
  }
  if (valk__conn_check_ip(c) != 0) return;
  c->io.flags |= VALK_SRV_F_ACCEPTED;
  c->io.owner = srv->owner;
  VALK_SRV_ADD(srv, connections_total, 1);
  VALK_SRV_ADD(srv, connections_active, 1);
  valk_h2_event(c, VALK_EV_conn_accepted, 0, 0);
  valk__conn_begin_tls(c);
}

void valk_h2_retry_accepts(valk_system_t *sys) {
  uint32_t i;
  for (i = 0; i < VALK_MAX_SERVERS; i++) {
    valk_server_t *srv = sys->servers[i];
    if (srv == NULL || !srv->accept_pending || srv->closing) continue;
    srv->accept_pending = 0;
    valk__on_connection((uv_stream_t *)&srv->listener, 0);
  }
}

/* An idle connection gives its grown TLS buffers back after this long (not
 * between the requests of a busy one: they would be grown again at once). */
#define VALK_TRIM_IDLE_MS 1000

static void valk__conn_sweep(valk_srv_conn_t *c, uint64_t now, const valk_system_config_t *cfg) {
  uint64_t age = now - c->io.state_change_ms;
  if (c->io.flags & VALK_CONN_F_CLOSED) return;
  if (c->io.flags & VALK_CONN_F_LINGER) {
    if (age >= VALK_LINGER_MS) valk_h2_conn_close(c);
  } else if ((c->io.writes_in_flight > 0 || valk_bp_contains(&c->io.bp)) && now - c->io.progress_ms >= cfg->send_timeout_ms) {
    /* Stuck: its writes do not drain (a peer that stopped reading) or it has
     * waited for TCP buffers that long. It would pin buffers forever. */
    VALK_SRV_ADD(c->srv, connections_stalled, 1);
    valk_h2_close_cause(c, VALK_EVR_send_timeout);
    valk_h2_conn_close(c);
  } else if ((c->io.flags & (VALK_SRV_F_NOTICE | VALK_SRV_F_GOAWAY)) == VALK_SRV_F_NOTICE &&
             now - c->notice_ms >= VALK_NOTICE_MAX_MS) {
    valk_h2_conn_goaway_final(c); /* no ACK of the notice's PING: the final GOAWAY anyway */
    valk_h2_conn_flush(c);
  } else if (c->io.state == VALK_CONN_CONNECTING && age >= cfg->handshake_timeout_ms) {
    if (!(c->io.flags & VALK_SRV_F_GRACEFUL)) VALK_SRV_ADD(c->srv, connections_timed_out, 1);
    valk_h2_close_cause(c, VALK_EVR_handshake_timeout);
    valk_h2_conn_close(c);
  } else if (c->h1 != NULL && valk_h1_sweep(c, now, cfg)) {
    /* an HTTP/1.1 request in service, or a head arriving: its own bounds */
  } else if (c->io.session != NULL &&
             !(c->io.flags & (VALK_SRV_F_SETTINGS_ACKED | VALK_SRV_F_GRACEFUL | VALK_SRV_F_TERMINATED)) &&
             now - c->settings_ms >= cfg->settings_timeout_ms) {
    VALK_SRV_ADD(c->srv, connections_settings_timeout, 1);
    valk_h2_close_cause(c, VALK_EVR_settings_timeout);
    valk_h2_conn_terminate(c, NGHTTP2_SETTINGS_TIMEOUT, "SETTINGS not acknowledged");
    valk_h2_conn_flush(c);
  } else if (c->io.state == VALK_CONN_IDLE && cfg->idle_timeout_ms > 0 && age >= cfg->idle_timeout_ms) {
    VALK_SRV_ADD(c->srv, connections_timed_out, 1);
    valk_h2_close_cause(c, VALK_EVR_idle_timeout);
    valk_h2_conn_goaway(c);
  } else if (c->io.state == VALK_CONN_IDLE && age >= VALK_TRIM_IDLE_MS && c->io.writes_in_flight == 0) {
    int released = valk_conn_trim(&c->io);
    if (released > 0) VALK_SRV_ADD(c->srv, tls_buffers_released, (uint64_t)released);
  } else if (c->streams != NULL && c->io.session != NULL && !(c->io.flags & VALK_SRV_F_TERMINATED)) {
    valk_h2_streams_sweep(c, now, cfg);
    valk_h2_conn_flush(c);
  }
}

void valk_h2_sweep(valk_system_t *sys) {
  uint64_t now = uv_now(&sys->loop);
  uint32_t i;
  valk_srv_conn_t *c, *next;
  for (i = 0; i < VALK_MAX_SERVERS; i++) {
    if (sys->servers[i] == NULL) continue;
    for (c = sys->servers[i]->conns; c != NULL; c = next) {
      next = c->next;
      valk__conn_sweep(c, now, &sys->config);
    }
  }
}

/* ---- server lifetime ---------------------------------------------------- */

static void valk__on_server_handle_closed(uv_handle_t *handle) {
  valk_server_t *srv = handle->data;
  assert(srv->handles_open > 0);
  srv->handles_open--;
  valk__server_maybe_done(srv);
}

static void valk__server_maybe_done(valk_server_t *srv) {
  valk_system_t *sys = srv->sys;
  valk_op_t *op = srv->close_op;

  if (srv->nconns > 0) return;
  if (!srv->timer_closing) {
    srv->timer_closing = 1;
    valk_h2_notify_owner(srv); /* the check will not run again */
    uv_close((uv_handle_t *)&srv->drain_timer, valk__on_server_handle_closed);
    uv_close((uv_handle_t *)&srv->notify_check, valk__on_server_handle_closed);
  }
  if (srv->handles_open > 0) return;
  if (srv->callbacks) nghttp2_session_callbacks_del(srv->callbacks);
  if (srv->option) nghttp2_option_del(srv->option);
  valk_server_opts_free(srv->opts);
  if (srv->registered) {
    atomic_store(&srv->stats->id, 0);
    valk_owner_unregister(&sys->owners, srv->owner);
    sys->hooks.server_gone(sys, srv);
  }
  free(srv);
  if (op != NULL) {
    op->status = 0;
    valk_op_complete(sys, op);
  }
}

static void valk__on_drain_timeout(uv_timer_t *timer) {
  valk_server_t *srv = timer->data;
  valk_srv_conn_t *c;
  for (c = srv->conns; c != NULL; c = c->next) {
    if (!(c->io.flags & VALK_CONN_F_CLOSED)) VALK_SRV_ADD(srv, connections_drain_forced, 1);
    valk_h2_conn_close(c);
  }
}

void valk_h2_server_close(valk_server_t *srv, valk_op_t *op) {
  valk_srv_conn_t *c;

  if (srv->closing) {
    if (op != NULL) {
      op->status = VALK_EINVAL;
      snprintf(op->error, sizeof(op->error), "server is already closing");
      valk_op_complete(srv->sys, op);
    }
    return;
  }
  srv->closing = 1;
  srv->close_op = op;
  uv_close((uv_handle_t *)&srv->listener, valk__on_server_handle_closed);
  srv->sys->hooks.sse->end_server(srv->sys, srv); /* SSE streams never end by themselves: drain would wait */
  for (c = srv->conns; c != NULL; c = c->next) {
    valk_h2_close_cause(c, VALK_EVR_shutdown);
    valk_h2_conn_goaway(c);
  }
  if (srv->nconns > 0) {
    VALK_UV_CHECK(uv_timer_start(&srv->drain_timer, valk__on_drain_timeout, srv->sys->config.drain_timeout_ms, 0));
  }
  valk__server_maybe_done(srv);
}

static int valk__server_setup(valk_server_t *srv, char *err, size_t err_len) {
  valk_server_opts_t *opts = srv->opts;
  struct sockaddr_storage addr;
  struct sockaddr_storage bound;
  int len = sizeof(bound), rc;

  if (uv_ip4_addr(opts->host, opts->port, (struct sockaddr_in *)&addr) != 0 &&
      uv_ip6_addr(opts->host, opts->port, (struct sockaddr_in6 *)&addr) != 0) {
    snprintf(err, err_len, "host '%s' is not an IPv4 or IPv6 address", opts->host);
    return VALK_EINVAL;
  }
  if (valk_h2_callbacks_new(&srv->callbacks) != 0 || nghttp2_option_new(&srv->option) != 0)
    return VALK_ENOMEM;
  nghttp2_option_set_no_closed_streams(srv->option, 1);
  /* Streaming bodies open the windows as JavaScript takes each chunk (valk_h2_body.h). */
  if (opts->stream_bodies) nghttp2_option_set_no_auto_window_update(srv->option, 1);
  /* The rapid-reset guard is the server's own (valk__frame_check and
   * valk__on_reset_sent: resets both ways, streamResetRate): nghttp2's counts
   * only the client's, and its default (33/s, burst 1000) closed a Go
   * client's connection every few seconds in bench/overload.sh. */
  nghttp2_option_set_stream_reset_rate_limit(srv->option, 1ull << 62, 1);
  srv->hdr_limits.max_list_size = srv->sys->config.max_header_list_size;
  srv->hdr_limits.max_pairs = srv->sys->config.max_header_pairs;
  srv->arenas = opts->admin ? &srv->sys->admin_arenas : &srv->sys->arenas;
  rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&srv->listener, 511, valk__on_connection);
  if (rc == 0) rc = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &len);
  if (rc != 0) {
    snprintf(err, err_len, "listen %s:%d: %s (%s)", opts->host, opts->port, uv_strerror(rc),
             uv_err_name(rc));
    return rc;
  }
  opts->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  return 0;
}

static int valk__server_slot(valk_system_t *sys) {
  int i;
  for (i = 0; i < VALK_MAX_SERVERS; i++)
    if (sys->servers[i] == NULL) return i;
  return -1;
}

void valk_h2_server_listen(valk_system_t *sys, valk_op_t *op) {
  valk_server_opts_t *opts = op->u.listen.opts;
  valk_server_t *srv;
  int slot = valk__server_slot(sys);

  op->u.listen.opts = NULL; /* ours now, freed with the server or below */
  if (atomic_load(&sys->state) != VALK_SYS_RUNNING || slot < 0) {
    op->status = slot < 0 ? VALK_ELIMIT : VALK_ESTOPPED;
    snprintf(op->error, sizeof(op->error), "%s",
             slot < 0 ? "at most 16 servers per system" : "system is stopping");
    valk_server_opts_free(opts);
    valk_op_complete(sys, op);
    return;
  }
  srv = calloc(1, sizeof(*srv));
  if (srv == NULL) {
    op->status = VALK_ENOMEM;
    snprintf(op->error, sizeof(op->error), "out of memory");
    valk_server_opts_free(opts);
    valk_op_complete(sys, op);
    return;
  }
  srv->sys = sys;
  srv->opts = opts;
  srv->stats = &sys->server_stats[slot];
  VALK_UV_CHECK(uv_tcp_init(&sys->loop, &srv->listener));
  VALK_UV_CHECK(uv_timer_init(&sys->loop, &srv->drain_timer));
  VALK_UV_CHECK(uv_check_init(&sys->loop, &srv->notify_check));
  VALK_UV_CHECK(uv_check_start(&srv->notify_check, valk_h2_on_notify_check));
  uv_unref((uv_handle_t *)&srv->notify_check);
  srv->listener.data = srv->drain_timer.data = srv->notify_check.data = srv;
  srv->handles_open = 3;
  op->status = valk__server_setup(srv, op->error, sizeof(op->error));
  if (op->status != 0) {
    srv->closing = 1;
    uv_close((uv_handle_t *)&srv->listener, valk__on_server_handle_closed);
    valk__server_maybe_done(srv);
    valk_op_complete(sys, op);
    return;
  }
  srv->id = ++sys->next_server_id;
  srv->registered = 1;
  {
    char name[16];
    snprintf(name, sizeof(name), ":%d", opts->port);
    srv->owner = valk_owner_register(&sys->owners, name, VALK_OWNER_SERVER);
  }
  valk_server_stats_reset(srv->stats, srv->id, opts->port);
  sys->servers[slot] = srv;
  atomic_fetch_add(&sys->server_count, 1);
  op->u.listen.server_id = srv->id;
  op->u.listen.port = opts->port;
  valk_op_complete(sys, op);
}

