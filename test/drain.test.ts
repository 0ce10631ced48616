// Readiness and drain (docs/design.md §14): /ready for a load balancer, the two-step GOAWAY,
// and drain(): requests in flight finish, a client that keeps sending moves to another instance
// and loses nothing. Every listener is on 127.0.0.1.
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import type { DrainStep } from '../lib/readiness';
import { CLEAN_STOP, connect, keyPair, request, waitFor } from './helpers';

const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];
afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) if (sys.running) await sys.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A system with a JavaScript route /slow (answers after ?ms=) and /fast, and an admin listener. */
async function serve(cfg = {}) {
  const sys = startWithConfig({ maxConnections: 8, ...cfg });
  systems.push(sys);
  const srv = await sys.listen({
    host: '127.0.0.1', port: 0, ...keyPair(), debug: true,
    handler: async (req) => {
      if (req.path === '/slow') await sleep(Number(req.query.get('ms') ?? 300));
      return { status: 200, body: `ok ${req.path}\n` };
    },
  });
  const admin = await sys.listenAdmin({ port: 0, ...keyPair() });
  return { sys, srv, admin };
}

async function session(port: number): Promise<http2.ClientHttp2Session> {
  const s = await connect(port);
  s.on('error', () => {});
  sessions.push(s);
  return s;
}

async function ready(port: number): Promise<{ status: number; reasons: string[] }> {
  const s = await session(port);
  const r = await request(s, '/ready');
  s.close();
  return { status: r.status, reasons: JSON.parse(r.body).reasons };
}

describe('readiness and drain', () => {
  it('test_ready: /ready is 200 when ready; 503 connections_full while the slab is full; /health stays 200', async () => {
    const { sys, srv, admin } = await serve({ maxConnections: 2, softLimit: false });
    expect(await ready(admin.port)).toEqual({ status: 200, reasons: [] });
    await session(srv.port); // the main listener's slab fills; the admin listener has its own
    await session(srv.port);
    await waitFor(() => sys.metrics().connections.available === 0);
    expect(await ready(admin.port)).toEqual({ status: 503, reasons: ['connections_full'] });
    const s = await session(admin.port);
    expect((await request(s, '/health')).status).toBe(200); // liveness is not readiness
  });

  it('test_two_step_goaway: a graceful close sends GOAWAY(2^31-1), then the final one with the last stream', async () => {
    const { sys, srv } = await serve();
    const s = await session(srv.port);
    const goaways: number[] = [];
    s.on('goaway', (_code: number, last: number) => goaways.push(last));
    const inFlight = request(s, '/slow?ms=400');
    await waitFor(() => sys.metrics().queue.pending_requests === 1);
    const closing = srv.close();
    const r = await inFlight;
    await closing;
    expect(r.status).toBe(200);
    expect(goaways[0]).toBe(2 ** 31 - 1);
    expect(goaways[goaways.length - 1]).toBe(1); // the request it served
    expect(sys.metrics().system.goaway_notices).toBe(1);
    expect(sys.metrics().system.connections_drain_forced).toBe(0);
  });

  it('test_drain_in_flight: drain() answers 503 on /ready at once, lets requests in flight finish, then stops', async () => {
    const { sys, srv, admin } = await serve({ drainDelayMs: 300 });
    const s = await session(srv.port);
    const inFlight = Array.from({ length: 5 }, () => request(s, '/slow?ms=500'));
    await waitFor(() => sys.metrics().queue.pending_requests === 5);
    const steps: DrainStep[] = [];
    expect(sys.metrics().ready).toEqual({ ready: 1, draining: 0 });
    const draining = sys.drain({ onStep: (st) => steps.push(st) });
    expect(sys.draining).toBe(true);
    expect(sys.metrics().ready).toEqual({ ready: 0, draining: 1 }); // JSON and Prometheus (valk_aio_ready, valk_aio_draining)
    expect(sys.prometheus()).toMatch(/^valk_aio_ready 0$/m);
    expect(await ready(admin.port)).toEqual({ status: 503, reasons: ['draining'] });
    expect((await request(s, '/fast')).status).toBe(200); // still serving during drainDelayMs
    const replies = await Promise.all(inFlight);
    const report = await draining;
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(steps.map((st) => st.step)).toEqual(['draining', 'closing', 'closed', 'stopped']);
    expect(steps[0].requests_in_flight).toBe(5);
    expect(report.forced).toBe(0);
    expect(report.notices).toBeGreaterThanOrEqual(1);
    expect(report.stop).toEqual(CLEAN_STOP);
    expect(sys.running).toBe(false);
    expect(sys.drain()).toBe(draining); // idempotent
  });

  it('a drain past drainTimeoutMs closes what is left by force, and says so', async () => {
    const { sys, srv } = await serve({ drainTimeoutMs: 200 });
    const s = await session(srv.port);
    const stuck = request(s, '/slow?ms=3000').catch((e: Error) => e);
    await waitFor(() => sys.metrics().queue.pending_requests === 1);
    const report = await sys.drain();
    expect(report.forced).toBe(1);
    expect(report.stop).toEqual(CLEAN_STOP);
    const r = await stuck;
    expect(r instanceof Error || r.status !== 200).toBe(true); // the one request drainTimeoutMs cut
  });

  it('test_rolling_restart: a client that keeps sending to two instances loses no request while one drains', async () => {
    const a = await serve({ drainDelayMs: 100 });
    const b = await serve();
    const ports = [a.srv.port, b.srv.port];
    const pool = new Map<number, http2.ClientHttp2Session>();
    const usable = (s?: http2.ClientHttp2Session) => s !== undefined && !s.closed && !s.destroyed && !(s as unknown as { goawayed?: boolean }).goawayed;
    const pick = async (i: number): Promise<http2.ClientHttp2Session> => {
      for (let k = 0; k < ports.length; k++) {
        const port = ports[(i + k) % ports.length];
        let s = pool.get(port);
        if (usable(s)) return s!;
        try {
          s = await session(port);
          s.on('goaway', () => { (s as unknown as { goawayed: boolean }).goawayed = true; });
          pool.set(port, s);
          return s;
        } catch { /* this instance stopped accepting: the other one */ }
      }
      throw new Error('no instance accepts');
    };
    let ok = 0, retried = 0;
    const lost: string[] = [];
    /** One request; refused before processing (REFUSED_STREAM, a GOAWAY'd session) is safe to retry elsewhere. */
    const send = async (i: number): Promise<void> => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const s = await pick(i + attempt);
        try {
          const r = await request(s, `/slow?ms=${20 + (i % 5) * 20}`);
          if (r.status === 200) { ok++; return; }
          lost.push(`status ${r.status}`);
          return;
        } catch (e) {
          const code = (e as { code?: string }).code ?? '';
          if (/GOAWAY|REFUSED|ERR_HTTP2_INVALID_SESSION|ERR_HTTP2_STREAM_CANCEL/.test(code) || /REFUSED_STREAM/.test(String(e))) { retried++; continue; }
          lost.push(`${code} ${String(e)}`);
          return;
        }
      }
      lost.push('5 attempts');
    };
    // The load runs until 500 ms after the drain ended (at most 3,000 requests, 20 s): counts, not
    // times, decide each step, so a slow build (the sanitizers) sees the same sequence.
    const limit = Date.now() + 20_000;
    let drainedAt = 0;
    let i = 0;
    const load = (async () => {
      const inflight = new Set<Promise<void>>();
      while ((drainedAt === 0 || Date.now() < drainedAt + 500) && Date.now() < limit && i < 3000) {
        const p = send(i++).finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= 16) await Promise.race(inflight);
      }
      await Promise.all(inflight);
    })();
    await waitFor(() => a.sys.metrics().system.requests_total >= 30 && b.sys.metrics().system.requests_total >= 30, 15_000);
    const report = await a.sys.drain();
    drainedAt = Date.now();
    const afterA = b.sys.metrics().system.requests_total;
    await load;
    expect(b.sys.metrics().system.requests_total).toBeGreaterThan(afterA + 5); // b took what came after the drain
    expect(lost).toEqual([]);
    expect(ok).toBe(i);
    expect(report.forced).toBe(0);
    expect(report.stop).toEqual(CLEAN_STOP);
    expect(retried).toBeGreaterThanOrEqual(0); // refused before processing and sent again: not lost
  });
});
