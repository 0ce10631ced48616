// What `valk-aio config` and `valk-aio start` print about a configuration:
// the resolved values (derived ones marked), warnings and the memory footprint.
import {
  ResolvedConfig,
  ResolvedServerConfig,
  ServerConfig,
  SystemConfig,
  configWarnings,
  derivedFields,
  fieldSpec,
  flagOf,
  formatBytes,
  formatFieldValue,
  resolveConfig,
  resolveServerConfig,
} from '../lib/config';
import { FOOTPRINT_LABELS, Footprint, FootprintSizes, estimateFootprint } from '../lib/footprint';

/** Everything `valk-aio config --json` prints. */
export interface ConfigReport {
  config: ResolvedConfig;
  server: ResolvedServerConfig;
  /** camelCase names of the fields that were derived rather than given. */
  derived: string[];
  warnings: string[];
  /** Null when the addon (which knows the sizes) cannot be loaded. */
  footprint: Footprint | null;
  /** Why footprint is null. */
  footprintError?: string;
}

function footprintOf(config: ResolvedConfig, sizes?: FootprintSizes): Pick<ConfigReport, 'footprint' | 'footprintError'> {
  try {
    return { footprint: estimateFootprint(config, sizes) };
  } catch (err) {
    return { footprint: null, footprintError: (err as Error).message.split('\n')[0] };
  }
}

/** Resolves both scopes (throws ConfigError) and gathers derived fields, warnings and footprint. */
export function buildReport(system: SystemConfig, server: ServerConfig, sizes?: FootprintSizes): ConfigReport {
  const config = resolveConfig(system);
  return reportFor(config, resolveServerConfig(server), derivedFields(system), sizes);
}

/** The report of an already resolved configuration (start prints the system's own). */
export function reportFor(
  config: ResolvedConfig,
  server: ResolvedServerConfig,
  derived: readonly string[],
  sizes?: FootprintSizes,
): ConfigReport {
  return { config, server, derived: [...derived], warnings: configWarnings(config), ...footprintOf(config, sizes) };
}

/** `{ config, server, derived, warnings, footprint }` as indented JSON. */
export function renderJson(r: ConfigReport): string {
  const { config, server, derived, warnings, footprint } = r;
  return `${JSON.stringify({ config, server, derived, warnings, footprint }, null, 2)}\n`;
}

/** Left-aligned columns, the widths taken over `rows` (so several sections line up). */
function columns(rows: readonly (readonly string[])[]): (row: readonly string[]) => string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  return (row) => `  ${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] + 2))).join('')}`.trimEnd();
}

function valueRows(values: Readonly<Record<string, number | string>>, derived: readonly string[]): string[][] {
  return Object.entries(values).map(([name, value]) => {
    const spec = fieldSpec(name);
    const text = spec ? formatFieldValue(spec, value) : String(value);
    return [flagOf(name), derived.includes(name) ? `${text}  (derived)` : text];
  });
}

function footprintLines(r: ConfigReport): string[] {
  if (!r.footprint) return [`  unavailable: ${r.footprintError ?? 'no sizes'}`];
  const fp = r.footprint;
  const rows = (Object.keys(FOOTPRINT_LABELS) as (keyof typeof FOOTPRINT_LABELS)[]).map((k) => [
    FOOTPRINT_LABELS[k],
    formatBytes(fp[k]).padStart(10),
  ]);
  const all = [...rows, ['total', formatBytes(fp.total).padStart(10)]];
  return all.map(columns(all));
}

/** The human-readable report: system and server values, warnings, footprint per pool and total. */
export function renderHuman(r: ConfigReport): string {
  const system = valueRows(r.config as unknown as Record<string, number>, r.derived);
  const server = valueRows(r.server as unknown as Record<string, number | string>, []);
  const line = columns([...system, ...server]);
  const lines = [
    'system (startWithConfig)',
    ...system.map(line),
    'server (listen)',
    ...server.map(line),
    'warnings',
    ...(r.warnings.length ? r.warnings.map((w) => `  ${w}`) : ['  none']),
    'memory footprint (ceiling)',
    ...footprintLines(r),
  ];
  return `${lines.join('\n')}\n`;
}
