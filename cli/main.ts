#!/usr/bin/env node
// The `valk-aio` command. It parses flags and calls lib/: `config` shows what a
// set of flags resolves to, `start` runs a server. A bad flag or value prints
// one line on stderr naming the flag, the value and the allowed range, and
// exits 2 before anything starts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, resolveConfig } from '../lib/config';
import { configTableMarkdown } from '../lib/config-doc';
import { CliIO, EXIT_USAGE, UsageError, processIO } from './io';
import { addConfigOptions, collectConfigWithTrace, intOption, repeatable } from './options';
import { LOG_FORMATS, LogFormat, Logger, makeLogger } from './log';
import { buildReport, renderHuman, renderJson } from './report';

/** The package version, found by walking up to package.json ('0.0.0' if none). */
function packageVersion(): string {
  let dir = typeof __dirname === 'string' ? __dirname : process.cwd();
  for (let i = 0; i < 4; i += 1, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'valk-aio' && pkg.version) return pkg.version;
    } catch {
      // not here; go up
    }
  }
  return '0.0.0';
}

/** Commander's errors as one line: `valk-aio: unknown option '--foo' (Did you mean --body?)`. */
function oneLine(text: string): string {
  return `valk-aio: ${text.trim().replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')}\n`;
}

function configCommand(cmd: Command, io: CliIO, setCode: (code: number) => void): Command {
  cmd
    .description('print the resolved configuration, warnings and memory footprint; starts nothing')
    .option('--json', 'print { config, server, derived, warnings, footprint } as JSON')
    .option('--markdown', 'print the configuration table of docs/configuration.md')
    .option('--trace-config <file>', 'the trace* fields from a JSON file (then VALK_TRACE_* variables, then flags, win)');
  addConfigOptions(cmd, ['system', 'server']);
  return cmd.action((opts: Record<string, unknown>) => {
    if (opts.markdown) return io.out(configTableMarkdown());
    const { system, server, resolve } = collectConfigWithTrace(opts);
    const report = resolve(() => buildReport(system, server, io.footprintSizes));
    io.out(opts.json ? renderJson(report) : renderHuman(report));
    if (report.footprintError && opts.json) io.err(`valk-aio: footprint unavailable: ${report.footprintError}\n`);
    setCode(0);
  });
}

function startCommand(cmd: Command, io: CliIO, setCode: (code: number) => void): Command {
  cmd
    .description('start an HTTP/2 and HTTP/1.1 server (TLS, or cleartext with --no-tls); SIGINT or SIGTERM drains it (/ready 503, GOAWAY, requests in flight finish) and stops')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(new Option('--port <port>', 'port to listen on (0: any free port; default: 8443, 8080 with --no-tls)')
      .argParser(intOption('port', 0, 65535)))
    .option('--no-tls', 'cleartext instead of TLS: HTTP/1.1, and HTTP/2 with prior knowledge (h2c); the admin listener keeps TLS')
    .option('--cert <file>', 'PEM certificate (with --key; neither: a self-signed one for localhost)')
    .option('--key <file>', 'PEM private key (with --cert)')
    .option('--body <text>', "body of '/' (default: hello from valk-aio)")
    .option('--route <path=body>', 'another static text route (repeatable)', repeatable, [] as string[])
    .option('--debug', 'serve /debug/metrics, /debug/metrics/prometheus and /health (default: on when --host is loopback)')
    .option('--no-debug', 'do not serve the debug routes')
    .addOption(new Option('--admin-port <port>', 'admin listener on 127.0.0.1 (dashboard, metrics, health; outside --max-connections); default: --port + 1, 0 disables')
      .argParser(intOption('admin-port', 0, 65535)))
    .option('--log-events', 'print the lifecycle events (accepted, refused with the reason, closed, streams, GOAWAY, watermark) as JSON lines')
    .addOption(new Option('--log-format <format>', 'text, or json: every message a JSON line {time, level, event, msg, ...}')
      .choices(LOG_FORMATS).default('text'))
    .option('--trace-config <file>', 'the trace* fields from a JSON file (then VALK_TRACE_* variables, then flags, win)');
  addConfigOptions(cmd, ['system', 'server']);
  return cmd.action(async (opts: Record<string, unknown>) => {
    const { runStart } = await import('./start');
    const { system, server, resolve } = collectConfigWithTrace(opts);
    resolve(() => resolveConfig(system)); // a bad value from the environment or the file names its source
    const o = opts as { host: string; port?: number; tls: boolean; cert?: string; key?: string; body?: string; route: string[];
      debug?: boolean; adminPort?: number; logEvents?: boolean; logFormat?: LogFormat };
    setCode(await runStart({ ...o, routes: o.route, system, server }, io));
  });
}

/** The commander program, its output and exits routed through `io`. */
export function buildProgram(io: CliIO, setCode: (code: number) => void): Command {
  const program = new Command('valk-aio')
    .description('An HTTP/2 (TLS) server in C on its own libuv thread inside Node.js')
    .version(packageVersion())
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s),
      writeErr: (s) => io.err(s),
      outputError: (s, write) => write(oneLine(s)),
    });
  // .command() (unlike addCommand) copies exitOverride and the output settings.
  configCommand(program.command('config'), io, setCode);
  startCommand(program.command('start'), io, setCode);
  return program;
}

/** The exit code for an error thrown while parsing or running a command; the message through log. */
function exitCodeOf(err: unknown, log: Logger): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE; // already printed
  if (err instanceof ConfigError) {
    log.log('error', 'config_error', `valk-aio: ${err.cliMessage}`, { field: err.field, flag: err.flag, value: err.value, exit_code: EXIT_USAGE });
    return EXIT_USAGE;
  }
  if (err instanceof UsageError) {
    log.log('error', 'usage_error', `valk-aio: ${err.message}`, { exit_code: EXIT_USAGE });
    return EXIT_USAGE;
  }
  log.log('error', 'error', `valk-aio: ${err instanceof Error ? err.message : String(err)}`, { exit_code: 1 });
  return 1;
}

/** --log-format json anywhere on the command line (errors before parsing ends are logged in it too). */
function logFormatOf(argv: readonly string[]): LogFormat {
  const i = argv.indexOf('--log-format');
  return argv.includes('--log-format=json') || (i >= 0 && argv[i + 1] === 'json') ? 'json' : 'text';
}

/**
 * Runs the CLI on `argv` (the arguments after the script name) and resolves to
 * the exit code: 0 on success, 2 for a usage or configuration error, 1 when the
 * server fails at run time.
 */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    return exitCodeOf(err, makeLogger(logFormatOf(argv), io));
  }
}

if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
