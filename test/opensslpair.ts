// A key pair made with the openssl command, for the tests that must not load
// the addon (test/h2raw.test.ts, test/attacks.test.ts run against Node's own
// servers). Under the sanitizer run LD_PRELOAD holds libasan: not for openssl.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

export interface PemPair {
  key: string;
  cert: string;
}

/** An EC P-256 key and a self-signed certificate for localhost and 127.0.0.1, valid 2 days. */
export function opensslKeyPair(): PemPair {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'valk-pem-'));
  try {
    const k = path.join(tmp, 'key.pem');
    const c = path.join(tmp, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', k, '-out', c, '-days', '2',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
      { env: { ...process.env, LD_PRELOAD: '' }, stdio: 'pipe' },
    );
    return { key: fs.readFileSync(k, 'utf8'), cert: fs.readFileSync(c, 'utf8') };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
