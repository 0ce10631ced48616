// The browser dashboard (dashboard/): static files served as routes on the
// AIO thread when a server listens with debug on. Read once, at first use.
//
// Thread: Node's main thread (reading the files); the routes are answered in C.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RouteSpec } from './routes';

/** Where the dashboard is served. */
export const DASHBOARD_PATH = '/debug/';

/**
 * The dashboard/ folder of the package: from dist/lib/ (compiled) it is two
 * levels up, from lib/ (the TypeScript run directly, as vitest does) one.
 */
function dashboardDir(): string {
  const candidates = [path.join(__dirname, '..', '..', 'dashboard'), path.join(__dirname, '..', 'dashboard')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? candidates[0];
}
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

/**
 * The page loads only its own files and talks only to its own origin
 * (/debug/metrics, the SSE stream): nothing from a CDN, no inline script.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function headersFor(file: string, type: string): Record<string, string> {
  const h: Record<string, string> = { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
  if (file.endsWith('.html')) h['content-security-policy'] = CSP;
  return h;
}

let cached: Record<string, RouteSpec> | undefined;

/** path -> static response for every dashboard file ('/debug/' and '/debug' serve index.html). */
export function dashboardRoutes(): Record<string, RouteSpec> {
  if (cached) return cached;
  const routes: Record<string, RouteSpec> = {};
  const dir = dashboardDir();
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  for (const f of files) {
    const type = TYPES[path.extname(f)];
    if (!type) continue;
    const spec: RouteSpec = { status: 200, headers: headersFor(f, type), body: fs.readFileSync(path.join(dir, f)) };
    routes[`${DASHBOARD_PATH}${f}`] = spec;
    if (f === 'index.html') {
      routes[DASHBOARD_PATH] = spec;
      routes[DASHBOARD_PATH.slice(0, -1)] = spec;
    }
  }
  if (routes[DASHBOARD_PATH]) cached = routes; // an install without dashboard/ looks again next time
  return routes;
}
