// The browser dashboard (dashboard/): static files served as routes on the
// AIO thread when a server listens with debug on. Read once, at first use.
//
// Thread: Node's main thread (reading the files); the routes are answered in C.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RouteSpec } from './system';

/** Where the dashboard is served. */
export const DASHBOARD_PATH = '/debug/';

const DIR = path.join(__dirname, '..', '..', 'dashboard');
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
};

let cached: Record<string, RouteSpec> | undefined;

/** path -> static response for every dashboard file ('/debug/' and '/debug' serve index.html). */
export function dashboardRoutes(): Record<string, RouteSpec> {
  if (cached) return cached;
  const routes: Record<string, RouteSpec> = {};
  const files = fs.existsSync(DIR) ? fs.readdirSync(DIR) : [];
  for (const f of files) {
    const type = TYPES[path.extname(f)];
    if (!type) continue;
    const spec: RouteSpec = { status: 200, headers: { 'content-type': type, 'cache-control': 'no-cache' }, body: fs.readFileSync(path.join(DIR, f)) };
    routes[`${DASHBOARD_PATH}${f}`] = spec;
    if (f === 'index.html') {
      routes[DASHBOARD_PATH] = spec;
      routes[DASHBOARD_PATH.slice(0, -1)] = spec;
    }
  }
  cached = routes;
  return routes;
}
