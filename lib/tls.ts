// Key pairs for servers and tests, made by the addon with the process's own
// OpenSSL (no openssl binary needed). Thread: Node's main thread.
import { native } from './native';

export interface KeyPair {
  /** PEM private key (EC P-256). */
  key: string;
  /** PEM self-signed certificate with every host in subjectAltName. */
  cert: string;
}

/**
 * A self-signed certificate for hosts (DNS names or IP addresses; the first is
 * the subject CN), valid for days.
 */
export function generateSelfSigned(hosts: string[] = ['localhost', '127.0.0.1'], days = 30): KeyPair {
  if (!Array.isArray(hosts) || hosts.length === 0 || hosts.some((h) => typeof h !== 'string' || h === '')) {
    throw new TypeError('generateSelfSigned: hosts must be a non-empty array of host names or addresses');
  }
  if (!Number.isInteger(days) || days < 1 || days > 3650) {
    throw new RangeError(`generateSelfSigned: days must be an integer from 1 to 3650, got ${days}`);
  }
  return native().generateSelfSigned(hosts, days);
}
