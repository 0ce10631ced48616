// The addon's build facts: one OpenSSL in the process, its own nghttp2 copy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { addonFile, native } from '../lib/native';

// build/Release/valk_aio.node, or a prebuild (prebuilds/linux-x64/valk-aio.abiN.glibc.node).
const addon = fs.realpathSync(addonFile());

describe('native addon', () => {
  it('is this checkout\'s build (build/Release, ahead of any prebuilds/), or the file VALK_AIO_ADDON names', () => {
    const want = process.env.VALK_AIO_ADDON ?? path.join(__dirname, '..', 'build', 'Release', 'valk_aio.node');
    expect(addon).toBe(fs.realpathSync(want));
  });

  it('nghttp2 session calls run on the addon\'s own copy, not the one node exports', () => {
    const origin = native().diagNghttp2Origin();
    // dladdr on nghttp2_session_mem_recv as the addon calls it: inside the .node file.
    expect(fs.realpathSync(origin.file)).toBe(addon);
    // node exports its own nghttp2 (1.61): a global lookup finds that one, elsewhere.
    expect(origin.nodeExported).not.toBeNull();
    expect(origin.nodeExported).not.toBe(addon);
    expect(origin.nodeExportedAddress).not.toBe(origin.symbolAddress);
  });

  it('llhttp calls run on the addon\'s own copy, not the one node exports', () => {
    const origin = native().diagLlhttpOrigin();
    // dladdr on llhttp_execute as the addon calls it: inside the .node file.
    expect(fs.realpathSync(origin.file)).toBe(addon);
    // node exports its own llhttp_* (it parses HTTP/1 with it): elsewhere.
    expect(origin.nodeExported).not.toBeNull();
    expect(origin.nodeExported).not.toBe(addon);
    expect(origin.nodeExportedAddress).not.toBe(origin.symbolAddress);
    // Debian's node-llhttp sources, fetched by deps/llhttp.sh.
    const debian = fs.readFileSync(`${__dirname}/../deps/llhttp/DEBIAN_VERSION`, 'utf8').trim();
    expect(debian.startsWith(native().constants.llhttpVersion)).toBe(true);
  });

  it('nghttp2 is the version Debian\'s source carries, not node\'s', () => {
    const { nghttp2Version } = native().constants;
    expect(nghttp2Version).toMatch(/^\d+\.\d+\.\d+$/);
    const debian = fs.readFileSync(`${__dirname}/../deps/nghttp2/DEBIAN_VERSION`, 'utf8').trim();
    expect(debian.startsWith(nghttp2Version)).toBe(true);
    expect(nghttp2Version).not.toBe(process.versions.nghttp2);
  });

  it('OpenSSL_version() equals process.versions.openssl: one OpenSSL in the process', () => {
    expect(native().constants.opensslVersion).toBe(process.versions.openssl);
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    expect(maps).toContain(addon);
    expect(maps).not.toMatch(/libssl\.so|libcrypto\.so/);
  });

  it('a TCP buffer is 2 * SSL3_RT_MAX_PACKET_SIZE (fixed, at least 32 KB)', () => {
    const { tcpBufferSize, tcpBufferSlotSize } = native().constants;
    // SSL3_RT_MAX_PACKET_SIZE = 5-byte header + 16384 plaintext + 320 encryption overhead, plus
    // 1024 compression overhead where Node's OpenSSL headers leave compression on (Node 24's).
    expect([2 * (5 + 16384 + 320), 2 * (5 + 16384 + 1024 + 320)]).toContain(tcpBufferSize);
    expect(tcpBufferSlotSize).toBeGreaterThan(tcpBufferSize);
    expect(tcpBufferSlotSize).toBeLessThan(tcpBufferSize + 256);
  });
});
