// csrc/valk_config.h, generated from lib/config.ts's options table: the C
// side of the configuration written from the same rows as the defaults, the
// ranges, the CLI flags and the docs (docs/design.md §10 Configuration).
// scripts/gen-config-header.js writes it; test/config.test.ts fails when the
// committed header differs from configHeader().
//
// Thread: pure functions on Node's main thread.
import { CField, CValue, FieldSpec, cFields } from './config';

type CRow = FieldSpec & { readonly c: CField };

/** A line of a multi-line macro: text padded to `width`, then the continuation backslash. */
function continued(text: string, width: number): string {
  return `${text.padEnd(width)} \\`;
}

/** A macro whose body is `lines`, each continued with a backslash aligned at column 79. */
function macro(head: string, lines: readonly string[]): string[] {
  const width = Math.max(78, head.length, ...lines.map((l) => l.length));
  return [continued(head, width), ...lines.map((l, i) => (i === lines.length - 1 ? l : continued(l, width)))];
}

/** The C enums the header declares (typedef enum { A = 0, B = 1 } name_t;). */
function enumTypedefs(rows: readonly CRow[]): string[] {
  return rows
    .filter((f) => f.c.enumType !== undefined && f.c.values !== undefined)
    .map((f) => {
      const values = Object.values(f.c.values as Readonly<Record<string, CValue>>);
      const items = values.map((v) => `${v.constant ?? v.value} = ${v.value}`).join(', ');
      return `typedef enum { ${items} } ${f.c.enumType};`;
    });
}

/** The text of csrc/valk_config.h for the current table. */
export function configHeader(): string {
  const rows = cFields() as readonly CRow[];
  const fieldLines = rows.map((f) => `  X(${f.c.type}, ${f.c.name}, "${f.name}")`);
  const enumLines: string[] = [];
  for (const f of rows) {
    for (const [text, v] of Object.entries((f.c.values ?? {}) as Readonly<Record<string, CValue>>)) {
      enumLines.push(`  V(${f.c.name}, "${text}", ${v.constant ?? v.value}, ${v.value})`);
    }
  }
  return [
    '/*',
    ' * valk_config.h: the resolved configuration as it crosses into C',
    ' * (docs/design.md §10 Configuration).',
    ' *',
    " * GENERATED from lib/config.ts's options table (CONFIG_FIELDS: each field's C",
    ' * member, C type and, for the enum fields, the number of each value) by',
    ' * scripts/gen-config-header.js. Do not edit: change the table, then run',
    ' * `npm run gen:config-header` and rebuild the addon. test/config.test.ts fails',
    ' * when this file and the table differ.',
    ' *',
    ' * Thread: the owner thread fills it (the binding, from lib/config.ts\'s',
    ' * resolved config) and hands a copy to valk_system_start; from then on it is',
    " * the AIO thread's, immutable.",
    ' */',
    '#ifndef VALK_CONFIG_H',
    '#define VALK_CONFIG_H',
    '',
    '#include <stdint.h>',
    '',
    '#ifdef __cplusplus',
    'extern "C" {',
    '#endif',
    '',
    ...enumTypedefs(rows),
    '',
    '/*',
    ' * Every field that crosses into C, in table order: X(C type, member, name in',
    " * lib/config.ts). The binding copies each from createSystem()'s argument",
    ' * (NativeSystemConfig: every value a number) with one loop over this list.',
    ' * Units, ranges and meaning: docs/configuration.md (from the same table).',
    ' */',
    ...macro('#define VALK_CONFIG_FIELDS(X)', fieldLines),
    '',
    '/*',
    ' * The enum fields\' values as numbers: V(member, value in lib/config.ts, C',
    ' * constant, number). The binding checks that each constant equals its number',
    ' * when it compiles.',
    ' */',
    ...macro('#define VALK_CONFIG_ENUM_VALUES(V)', enumLines),
    '',
    '/* The resolved configuration as it crosses into C (lib/config.ts resolves and',
    ' * validates it; valk_system_start re-checks only what would make C unsafe). */',
    'typedef struct valk_system_config {',
    '#define VALK__CONFIG_MEMBER(type, member, name) type member;',
    '  VALK_CONFIG_FIELDS(VALK__CONFIG_MEMBER)',
    '#undef VALK__CONFIG_MEMBER',
    '} valk_system_config_t;',
    '',
    '#ifdef __cplusplus',
    '}',
    '#endif',
    '#endif /* VALK_CONFIG_H */',
    '',
  ].join('\n');
}
