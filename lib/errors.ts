// The codes valk-aio's errors carry as err.code: the addon's VALK_E* codes
// (declared once in csrc/valk_common.h's VALK_ERRNO_MAP; lib/error-codes.ts is
// generated from it), or libuv's name of a system error ('EADDRINUSE',
// 'ECONNREFUSED', ...). Code in lib/ and cli/ decides by the code, never by
// the message text.
//
// Thread: pure functions on Node's main thread.
import { VALK_ERROR_CODES, ValkErrorCode } from './error-codes';

export { VALK_ERROR_CODES, ValkErrorCode };

/** An error from valk-aio: `code` is a VALK_E* name or libuv's name of a system error. */
export interface ValkError extends Error {
  code: string;
}

/** err.code when err is an Error with a string code, else undefined. */
export function errorCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Whether err carries the VALK_E* code `code`. */
export function hasCode(err: unknown, code: ValkErrorCode): boolean {
  return errorCode(err) === code;
}

/**
 * A new Error with message and a VALK_E* code: for the failures lib/ finds
 * before C would, with the code C gives the same failure (a request on a
 * closed client: VALK_ESTOPPED, as valk_h2_client.c gives it).
 */
export function valkError(code: ValkErrorCode, message: string): ValkError {
  return Object.assign(new Error(message), { code });
}
