// Error codes: declared once in csrc/valk_common.h (VALK_ERRNO_MAP); the
// binding sets err.code from it (valk_errname), and lib/error-codes.ts is
// generated from it. Real failures carrying these codes are tested where they
// happen (test/client.test.ts, test/system.test.ts) and below.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VALK_ERROR_CODES } from '../lib/error-codes';
import { errorCode, hasCode, valkError } from '../lib/errors';
import { native } from '../lib/native';
import { AioSystem, startWithConfig } from '../lib/system';
import { CLEAN_STOP, keyPair } from './helpers';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { errorCodesSource, errorList } = require('../scripts/gen-error-codes.js');

const ROOT = path.join(__dirname, '..');
const systems: AioSystem[] = [];

afterEach(async () => {
  for (const sys of systems.splice(0)) if (sys.running) expect(await sys.stop()).toEqual(CLEAN_STOP);
});

describe('error codes', () => {
  it('lib/error-codes.ts is exactly what scripts/gen-error-codes.js makes of csrc/valk_common.h', () => {
    expect(fs.readFileSync(path.join(ROOT, 'lib', 'error-codes.ts'), 'utf8')).toBe(errorCodesSource());
  });

  it('the freshness check fails for a changed list', () => {
    const header = fs.readFileSync(path.join(ROOT, 'csrc', 'valk_common.h'), 'utf8');
    const changed = header.replace('XX(NOMEM, -1001, "out of memory")', 'XX(NOMEM, -1001, "out of memory")                     \\\n  XX(EXTRA, -1099, "an extra code")');
    expect(changed).not.toBe(header);
    expect(errorList(changed).map((e: { name: string }) => e.name)).toContain('VALK_EEXTRA');
    expect(errorCodesSource(changed)).not.toBe(errorCodesSource(header));
  });

  it('the addon was built from the same list: every name and number', () => {
    const fromTs = Object.fromEntries(Object.entries(VALK_ERROR_CODES).map(([k, v]) => [k, v.value]));
    expect(native().constants.errorCodes).toEqual(fromTs);
    expect(Object.keys(fromTs)).toEqual(expect.arrayContaining(['VALK_ENOMEM', 'VALK_EFULL', 'VALK_ESTOPPED', 'VALK_ELIMIT']));
    for (const v of Object.values(fromTs)) expect(v).toBeLessThan(-1000); // never a UV_E* / errno value
  });

  it('an error from the addon carries its VALK_E* name and the message of the list', () => {
    expect(() => native().slabNew(0, 1)).toThrow(expect.objectContaining({ code: 'VALK_EINVAL', message: VALK_ERROR_CODES.VALK_EINVAL.message }));
    const slab = native().slabNew(8, 2);
    slab.free();
    expect(() => slab.acquire()).toThrow(expect.objectContaining({ code: 'VALK_EINVAL', message: 'slab is freed' }));
  });

  it('a system error carries libuv\'s name: a port in use is EADDRINUSE', async () => {
    const sys = startWithConfig();
    systems.push(sys);
    const srv = await sys.listen({ host: '127.0.0.1', port: 0, ...keyPair() });
    const err = await sys.listen({ host: '127.0.0.1', port: srv.port, ...keyPair() }).catch((e: unknown) => e);
    expect(errorCode(err)).toBe('EADDRINUSE');
  });

  it('a stopped system\'s calls fail with VALK_ESTOPPED', async () => {
    const sys = startWithConfig();
    await sys.stop();
    expect(() => sys.metrics()).toThrow(expect.objectContaining({ code: 'VALK_ESTOPPED' }));
    await expect(sys.connect({ port: 1 })).rejects.toMatchObject({ code: 'VALK_ESTOPPED' });
  });

  it('errorCode(), hasCode(), valkError()', () => {
    const e = valkError('VALK_EFULL', 'valk-aio: full');
    expect(e).toBeInstanceOf(Error);
    expect([e.message, errorCode(e), hasCode(e, 'VALK_EFULL'), hasCode(e, 'VALK_ESTOPPED')]).toEqual(['valk-aio: full', 'VALK_EFULL', true, false]);
    expect(errorCode(new Error('x'))).toBeUndefined();
    expect(errorCode('VALK_EFULL')).toBeUndefined();
    expect(errorCode(Object.assign(new Error('x'), { code: 7 }))).toBeUndefined();
  });
});
