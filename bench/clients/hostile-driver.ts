// Driver of bench/hostile.sh: runs one attack of test/attacks.ts, or the
// probes, and prints the result as one JSON line on stdout. TypeScript:
// bench/hostile.sh compiles it with test/h2raw.ts and test/attacks.ts into a
// temporary directory (never into the repository) and runs the output.
//
//   node hostile-driver.js attack <name> '<JSON options>' ['<JSON options>' ...]
//       -> {"attack":"...", ...AttackResult}   (the option objects are merged, later ones win)
//   node hostile-driver.js probe '<JSON {"durationMs":N,"intervalMs":N,"timeoutMs":N,
//                                  "targets":[{"name":"main /","port":P,"path":"/"},...]}>'
//       -> {"probes":{"<name>":ProbeResult,...}}
// The probes run until durationMs or SIGTERM, whichever comes first.
// Every connection goes to 127.0.0.1 unless an option says otherwise.
import { AttackName, ProbeResult, attacks, startProbe } from '../../test/attacks';

function usage(msg: string): never {
  process.stderr.write(`hostile-driver: ${msg}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const [mode, a] = process.argv.slice(2);
  if (mode === 'attack') {
    if (!a || !(a in attacks)) usage(`unknown attack '${a}' (known: ${Object.keys(attacks).join(', ')})`);
    const opts = Object.assign({}, ...process.argv.slice(4).map((j) => (j.trim() ? JSON.parse(j) : {})));
    const fn = attacks[a as AttackName] as (o: unknown) => Promise<unknown>;
    const result = await fn(opts);
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  if (mode === 'probe') {
    const o = JSON.parse(a ?? '{}') as {
      durationMs: number;
      intervalMs?: number;
      timeoutMs?: number;
      host?: string;
      targets: { name: string; port: number; path: string }[];
    };
    if (!Array.isArray(o.targets) || !(o.durationMs > 0)) usage('probe needs targets[] and durationMs > 0');
    const probes = o.targets.map((t) => ({
      name: t.name,
      p: startProbe({ host: o.host, port: t.port, path: t.path, intervalMs: o.intervalMs, timeoutMs: o.timeoutMs }),
    }));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.durationMs);
      process.once('SIGTERM', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    const out: Record<string, ProbeResult> = {};
    for (const { name, p } of probes) out[name] = await p.stop();
    process.stdout.write(JSON.stringify({ probes: out }) + '\n');
    return;
  }
  usage('usage: hostile-driver.js attack <name> <json> | probe <json>');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`hostile-driver: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
