// The event ring's fields (the config table's trace* rows, docs/design.md §13) from the
// environment (VALK_TRACE_*) and from a JSON file (valk-aio start --trace-config FILE):
// parsed like the CLI's flags, checked like every field, every error naming where the value
// came from. Precedence (cli/start.ts): flags, then the environment, then the file.
import * as fs from 'node:fs';
import { CONFIG_FIELDS, ConfigError, FieldSpec, SystemConfig, checkField, parseFieldText } from './config';

/** The trace fields of the table. */
export const TRACE_FIELDS: readonly FieldSpec[] = CONFIG_FIELDS.filter((f) => f.scope === 'system' && f.name.startsWith('trace'));

/** traceRingCapacity -> VALK_TRACE_RING_CAPACITY. */
export function traceEnvName(field: string): string {
  return `VALK_TRACE_${field.slice('trace'.length).replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/** Where each value came from, for the errors resolveConfig() throws later. */
export type TraceSources = Record<string, string>;

/** The trace fields set in env, parsed and checked; `sources` gets each one's variable name. */
export function traceConfigFromEnv(env: NodeJS.ProcessEnv, sources: TraceSources = {}): SystemConfig {
  const out: Record<string, number | string | boolean> = {};
  for (const spec of TRACE_FIELDS) {
    const name = traceEnvName(spec.name);
    const text = env[name];
    if (text === undefined || text === '') continue;
    out[spec.name] = checked(spec, () => parseFieldText(spec, text), name);
    sources[spec.name] = name;
  }
  for (const key of Object.keys(env)) {
    if (key.startsWith('VALK_TRACE_') && !TRACE_FIELDS.some((f) => traceEnvName(f.name) === key)) {
      throw new ConfigError(key, env[key], `is not a trace setting (known: ${TRACE_FIELDS.map((f) => traceEnvName(f.name)).join(', ')})`);
    }
  }
  return out as SystemConfig;
}

/** The trace fields of a JSON file ({"traceRingCapacity": 8192, ...}), parsed and checked. */
export function traceConfigFromFile(path: string, sources: TraceSources = {}): SystemConfig {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('traceConfig', path, `cannot read it as JSON: ${(err as Error).message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError('traceConfig', path, 'must hold a JSON object of trace* fields');
  }
  const out: Record<string, number | string | boolean> = {};
  for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
    const spec = TRACE_FIELDS.find((f) => f.name === key);
    if (!spec) throw new ConfigError(key, value, `is not a trace setting in ${path} (known: ${TRACE_FIELDS.map((f) => f.name).join(', ')})`);
    const where = `${path}: ${key}`;
    out[key] = checked(spec, () => (typeof value === 'string' ? parseFieldText(spec, value) : (value as number)), where);
    sources[key] = where;
  }
  return out as SystemConfig;
}

/** A ConfigError thrown while resolving, with the value's source named when it came from env or a file. */
export function withSource(err: unknown, sources: TraceSources): unknown {
  if (!(err instanceof ConfigError) || sources[err.field] === undefined) return err;
  return new ConfigError(err.field, err.value, `${err.detail()} (set by ${sources[err.field]})`);
}

function checked(spec: FieldSpec, parse: () => number | string | boolean, where: string): number | string | boolean {
  try {
    const v = parse();
    const problem = checkField(spec, v);
    if (problem) throw problem;
    return v;
  } catch (err) {
    throw withSource(err, { [spec.name]: where });
  }
}
