// Response trailers (docs/design.md §7): the fields a handler sends after the
// body (gRPC's grpc-status), checked and encoded for the binding's final chunk
// ("name\0value\0" ..., csrc/valk_dispatch.h VALK_CHUNK_TRAILERS).
//
// Thread: Node's main thread.
import { BAD_VALUE, CONNECTION_SPECIFIC, HEADER_NAME } from './headers';

/** Trailer fields: names in any case; an array value sends the field once per element. */
export type Trailers = Record<string, string | number | readonly string[]>;

/** Most trailer fields and bytes (names + values + 2 NULs each): the AIO thread's bounds. */
export const TRAILERS_MAX = 64;
export const TRAILERS_MAX_BYTES = 16 * 1024;

/** Fields a trailer must not carry (RFC 9110 §6.5.1: framing, routing, the connection's). */
const NOT_IN_TRAILERS: ReadonlySet<string> = new Set([
  ...CONNECTION_SPECIFIC, 'content-length', 'content-type', 'content-encoding', 'host', 'authorization', 'set-cookie',
  'cache-control', 'expect', 'range', 'te', 'trailer', 'transfer-encoding',
]);

/** trailers as the binding's Buffer, or a TypeError / RangeError naming the field. */
export function encodeTrailers(trailers: Trailers): Buffer {
  if (typeof trailers !== 'object' || trailers === null) throw new TypeError('valk-aio: trailers must be an object of fields');
  const parts: string[] = [];
  for (const name of Object.keys(trailers)) {
    const lower = name.toLowerCase();
    if (!HEADER_NAME.test(lower) || NOT_IN_TRAILERS.has(lower)) throw new TypeError(`valk-aio: trailer field '${name}' is not allowed`);
    const value = trailers[name];
    for (const v of Array.isArray(value) ? value : [value]) {
      const s = String(v);
      if (BAD_VALUE.test(s)) throw new TypeError(`valk-aio: trailer field '${name}' has CR, LF or NUL in its value`);
      parts.push(lower, s);
    }
  }
  if (parts.length / 2 > TRAILERS_MAX) throw new RangeError(`valk-aio: ${parts.length / 2} trailer fields exceed ${TRAILERS_MAX}`);
  const buf = Buffer.from(parts.map((p) => `${p}\0`).join(''), 'utf8');
  if (buf.length > TRAILERS_MAX_BYTES) throw new RangeError(`valk-aio: trailers of ${buf.length} bytes exceed ${TRAILERS_MAX_BYTES}`);
  return buf;
}
