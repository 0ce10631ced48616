// The admin listener (issue #5 §1b): the dashboard stays reachable while the
// server sheds load. Its own connection slab (adminMaxConnections), outside
// maxConnections and the load-shedding checks, loopback only, debug routes
// only; its connections are their own owner in the snapshot.
import * as http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { AioSystem, startWithConfig } from '../lib/system';
import type { SystemConfig } from '../lib/config';
import { CLEAN_STOP, attempt, connect, get, keyPair, waitFor } from './helpers';

const systems: AioSystem[] = [];
const sessions: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

async function serve(cfg: SystemConfig = {}) {
  const sys = startWithConfig(cfg);
  systems.push(sys);
  const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair(), routes: { '/': { body: 'hi\n' } } });
  const admin = await sys.listenAdmin({ port: 0, ...keyPair() });
  return { sys, srv, admin };
}

async function hold(port: number): Promise<http2.ClientHttp2Session> {
  const s = await connect(port);
  s.on('error', () => {});
  sessions.push(s);
  return s;
}

/** The first SSE event's JSON from the stream at port (the session is kept for cleanup). */
async function firstEvent(port: number): Promise<any> {
  const s = await hold(port);
  const req = s.request({ ':path': '/debug/diagnostics/memory' });
  req.setEncoding('utf8');
  let text = '';
  return new Promise((resolve, reject) => {
    req.on('data', (chunk: string) => {
      text += chunk;
      const line = text.split('\n').find((l) => l.startsWith('data: '));
      if (line && text.includes('\n\n')) resolve(JSON.parse(line.slice(6)));
    });
    req.on('error', reject);
  });
}

describe('the admin listener', () => {
  it('serves /health, /debug/metrics, the SSE stream and the dashboard while the main listener is full', async () => {
    const { sys, srv, admin } = await serve({ maxConnections: 2 });
    await hold(srv.port);
    await hold(srv.port);
    expect(await attempt(srv.port)).toBe('refused');
    const health = await get(admin.port, '/health');
    expect(health.status).toBe(200);
    const m = JSON.parse((await get(admin.port, '/debug/metrics')).body);
    expect(m.connections.active).toBe(2);
    expect(m.pools.admin_connections.total).toBe(16);
    const ev = await firstEvent(admin.port);
    const conns = ev.slabs.find((x: any) => x.name === 'connections');
    expect(conns.used).toBe(2); // the main slab: exactly the two held connections
    expect(ev.slabs.find((x: any) => x.name === 'admin_connections').used).toBe(1); // the stream's
    expect(ev.owner_map).toContain(`:${admin.port}`);
    expect(ev.owner_map).toContain(`:${srv.port}`);
    expect((await get(admin.port, '/debug/')).headers['content-type']).toMatch(/^text\/html/);
    expect(sys.metrics().system.connections_rejected).toBeGreaterThanOrEqual(1); // the main listener's refusal only
  });

  it('its own slab: adminMaxConnections at once, the next one refused; main connections unaffected', async () => {
    const { sys, srv, admin } = await serve({ maxConnections: 4, adminMaxConnections: 3 });
    for (let i = 0; i < 3; i++) await hold(admin.port);
    expect(await attempt(admin.port)).toBe('refused');
    expect(await attempt(srv.port)).toBe('ok');
    await waitFor(() => sys.metrics().connections.active === 0);
    const m = sys.metrics();
    expect(m.pools.admin_connections.used).toBe(3);
    expect(m.connections.active).toBe(0);
    const a = m.servers.find((s) => s.port === admin.port)!;
    expect(a.connections_rejected).toBe(1);
  });

  it('only the debug routes: / is 404; loopback hosts only', async () => {
    const { sys, admin } = await serve();
    expect((await get(admin.port, '/')).status).toBe(404);
    await expect(sys.listenAdmin({ host: '0.0.0.0', port: 0, ...keyPair() })).rejects.toThrow(/not a loopback address/);
    await expect(sys.listenAdmin({ host: '10.0.0.1', port: 0, ...keyPair() })).rejects.toThrow(/loopback/);
  });

  it('stop releases the admin slots (leakedAdminSlots 0) with connections still open', async () => {
    const { sys, admin } = await serve();
    await hold(admin.port);
    await hold(admin.port);
    await waitFor(() => sys.metrics().pools.admin_connections.used === 2);
    expect(await sys.stop()).toEqual(CLEAN_STOP);
  });
});
