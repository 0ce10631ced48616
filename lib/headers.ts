// The HTTP/2 header rules TypeScript checks before anything crosses into C:
// handler responses (lib/handler.ts) and client requests (lib/client.ts).
// Static routes are checked by the C route table (csrc/valk_route.c) with
// the same rules when a server starts listening.
//
// Thread: any; pure.

/** A lower-case header field name (RFC 9110 token; HTTP/2 wants lower case). */
export const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** An HTTP token in either case (methods). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** What a header value must not contain. */
export const BAD_VALUE = /[\r\n\0]/;

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2). */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade',
]);
