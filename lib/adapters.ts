// The handler of listen()'s options: `handler`, or a framework's own handler
// through its adapter (`fetch`: lib/fetch-adapter.ts, `requestListener`:
// lib/node-adapter.ts; docs/api.md).
//
// Thread: Node's main thread.
import type { Handler } from './handler';
import { FetchHandler, toHandler } from './fetch-adapter';
import { RequestListener, fromRequestListener } from './node-adapter';

export type { FetchHandler } from './fetch-adapter';
export type { RequestListener } from './node-adapter';

/** At most one of handler, fetch and requestListener, as a Handler (undefined for none); else a TypeError. */
export function oneHandler(handler?: Handler, fetch?: FetchHandler, requestListener?: RequestListener): Handler | undefined {
  const given = [handler, fetch, requestListener].filter((h) => h !== undefined).length;
  if (given > 1) throw new TypeError('valk-aio: listen: give one of handler, fetch and requestListener, not several');
  if (fetch !== undefined) {
    if (typeof fetch !== 'function') throw new TypeError('valk-aio: listen: fetch must be a function');
    return toHandler(fetch);
  }
  if (requestListener !== undefined) {
    if (typeof requestListener !== 'function') throw new TypeError('valk-aio: listen: requestListener must be a function');
    return fromRequestListener(requestListener);
  }
  return handler;
}
