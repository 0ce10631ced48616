// The standalone C unit tests (test/c/test_*.c), built with ASan+UBSan and run
// by test/c/run.sh: one vitest case per C program, so each failure is named.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const dir = path.join(__dirname, 'c');
const programs = fs.readdirSync(dir).filter((f) => /^test_.*\.c$/.test(f)).map((f) => f.slice(0, -2));

describe('C unit tests (test/c)', () => {
  it('finds the programs', () => {
    expect(programs.length).toBeGreaterThan(0);
  });
  for (const name of programs) {
    it(name, () => {
      const out = execFileSync('bash', [path.join(dir, 'run.sh'), name], { encoding: 'utf8', stdio: 'pipe' });
      expect(out).toContain(`ok ${name}`);
    }, 120_000);
  }
});
