// The configuration table of docs/configuration.md, generated from
// CONFIG_FIELDS (scripts/gen-config-table.js; a test keeps the file equal to
// it): one row a field, its CLI flag(s), default, range, unit and description.
import { CONFIG_FIELDS, FieldSpec, defaultConfig, flagOf, formatCount, formatDefault, formatRange } from './config';

function markdownCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultCell(spec: FieldSpec): string {
  if (spec.derive) {
    const example = spec.derive.compute(defaultConfig());
    return `derived: \`${spec.derive.formula}\` (${formatCount(example)} with the defaults)`;
  }
  if (typeof spec.default === 'string') return `\`${spec.default.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\``;
  return formatDefault(spec);
}

function rangeCell(spec: FieldSpec): string {
  if (spec.kind === 'bool') return '`true` or `false`';
  if (spec.kind === 'enum') return `one of ${(spec.values ?? []).map((v) => `\`${v}\``).join(', ')}`;
  return formatRange(spec);
}

/**
 * The configuration table of docs/configuration.md, generated from CONFIG_FIELDS
 * (scripts/gen-config-table.js; a test keeps the file equal to it). Derived
 * values are clamped into their range.
 */
export function configTableMarkdown(): string {
  const header = '| Field | Scope | CLI flag | Default | Range | Unit | Description |';
  const rule = '| --- | --- | --- | --- | --- | --- | --- |';
  const rows = CONFIG_FIELDS.map((f) =>
    [
      `\`${f.name}\``,
      f.scope === 'system' ? 'system (`startWithConfig`)' : 'server (`listen`)',
      f.kind === 'bool' ? `\`${flagOf(f.name)}\`, \`${flagOf(f.name).replace(/^--/, '--no-')}\`` : `\`${flagOf(f.name)}\``,
      defaultCell(f),
      rangeCell(f),
      f.unit,
      f.description,
    ].map(markdownCell).join(' | '),
  );
  return [header, rule, ...rows.map((r) => `| ${r} |`)].join('\n') + '\n';
}
