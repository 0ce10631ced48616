// Static routes: what listen({ routes }) takes (RouteSpec) and its conversion
// to what C's route table takes (NativeRoute): answered entirely on the AIO
// thread, each route's header block built once (csrc/valk_route.h).
//
// Thread: Node's main thread (the conversion); the routes are answered in C.
import { bodyBuffer } from './handler';
import type { NativeRoute } from './native';

/** A static response, answered entirely on the AIO thread. */
export interface RouteSpec {
  /** HTTP status, 200 to 599. Default 200. */
  status?: number;
  /** Response headers; names are lower-cased. content-length is set by the server. */
  headers?: Record<string, string | number>;
  /** Response body. Default empty. */
  body?: string | Buffer | Uint8Array;
}

/** A route as C's route table takes it; throws RangeError for a bad status or a body over limit. */
export function toNativeRoute(path: string, spec: RouteSpec, limit: number): NativeRoute {
  const status = spec.status ?? 200;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new RangeError(`valk-aio: route '${path}': status ${status} is not an integer from 200 to 599`);
  }
  const body = bodyBuffer(spec.body, `route '${path}'`);
  if (body.length > limit) {
    throw new RangeError(`valk-aio: route '${path}': body of ${body.length} bytes exceeds maxResponseBodySize (${limit})`);
  }
  const headers: string[] = [];
  let hasType = false;
  for (const [name, value] of Object.entries(spec.headers ?? {})) {
    const lower = name.toLowerCase();
    hasType ||= lower === 'content-type';
    headers.push(lower, String(value));
  }
  if (!hasType) {
    headers.push('content-type', typeof spec.body === 'string' || spec.body === undefined
      ? 'text/plain; charset=utf-8' : 'application/octet-stream');
  }
  return { path, status, headers, body };
}
