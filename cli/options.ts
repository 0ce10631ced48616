// Commander options generated from lib/config's CONFIG_FIELDS: one flag per
// field, parsed by parseFieldText() (so a bad value throws a ConfigError that
// main() prints as one line and exit code 2).
import { Command, Option } from 'commander';
import {
  CONFIG_FIELDS,
  ConfigError,
  FieldKind,
  FieldScope,
  FieldSpec,
  ServerConfig,
  SystemConfig,
  flagOf,
  formatDefault,
  formatRange,
  parseFieldText,
} from '../lib/config';
import { TraceSources, traceConfigFromEnv, traceConfigFromFile, withSource } from '../lib/trace-config';

const PLACEHOLDER: Readonly<Record<FieldKind, string>> = {
  int: '<n>',
  float: '<ratio>',
  bytes: '<size>',
  string: '<text>',
  enum: '<value>',
  bool: '',
};

/** A field's flags: one taking a value, or for a 'bool' field the pair --name and --no-name. */
function configOptions(spec: FieldSpec): Option[] {
  if (spec.kind === 'bool') {
    const flag = flagOf(spec.name);
    return [
      new Option(flag, `${spec.description} (default ${spec.default ? 'on' : 'off'}; ${flag.replace(/^--/, '--no-')} turns it off)`),
      new Option(flag.replace(/^--/, '--no-'), `turn ${flag} off`),
    ];
  }
  return [configOption(spec)];
}

function configOption(spec: FieldSpec): Option {
  const help = `${spec.description} (default ${formatDefault(spec)}; allowed ${formatRange(spec)})`;
  return new Option(`${flagOf(spec.name)} ${PLACEHOLDER[spec.kind]}`, help).argParser((text: string) =>
    parseFieldText(spec, text),
  );
}

/** Adds a flag for every field of the given scopes (no commander defaults: absent = derive). */
export function addConfigOptions(cmd: Command, scopes: readonly FieldScope[]): Command {
  for (const spec of CONFIG_FIELDS) {
    if (scopes.includes(spec.scope)) for (const o of configOptions(spec)) cmd.addOption(o);
  }
  return cmd;
}

/** The config fields present in commander's parsed options, split by scope. */
export function collectConfig(opts: Readonly<Record<string, unknown>>): { system: SystemConfig; server: ServerConfig } {
  const system: Record<string, unknown> = {};
  const server: Record<string, unknown> = {};
  for (const spec of CONFIG_FIELDS) {
    const value = opts[new Option(flagOf(spec.name)).attributeName()];
    if (value !== undefined) (spec.scope === 'system' ? system : server)[spec.name] = value;
  }
  return { system: system as SystemConfig, server: server as ServerConfig };
}

/** A parser for an integer CLI-only option (such as --port) with a range. */
export function intOption(name: string, min: number, max: number): (text: string) => number {
  return (text: string) => {
    const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    const what = Number.isNaN(n) ? 'is not an integer' : 'is out of range';
    throw new ConfigError(name, text, `${JSON.stringify(text)} ${what} (allowed ${min} to ${max})`);
  };
}

/** Collects a repeatable option into an array. */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * collectConfig() plus the trace fields from the environment (VALK_TRACE_*) and
 * --trace-config FILE: flags win over the environment, the environment over the file.
 * `resolve` runs what resolves the result, its ConfigError naming where a value came from.
 */
export function collectConfigWithTrace(opts: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv = process.env): {
  system: SystemConfig;
  server: ServerConfig;
  resolve<T>(fn: () => T): T;
} {
  const { system, server } = collectConfig(opts);
  const sources: TraceSources = {};
  const file = typeof opts.traceConfig === 'string' ? traceConfigFromFile(opts.traceConfig, sources) : {};
  const fromEnv = traceConfigFromEnv(env, sources);
  for (const key of Object.keys(system)) delete sources[key];
  return {
    system: { ...file, ...fromEnv, ...system } as SystemConfig,
    server,
    resolve<T>(fn: () => T): T {
      try {
        return fn();
      } catch (err) {
        throw withSource(err, sources);
      }
    },
  };
}
