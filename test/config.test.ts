// Configuration (docs/design.md §10 Configuration): the T1–T5 cases and
// test_watermark_config of test/CONFORMANCE.md, the ConfigError contract,
// warnings, footprint arithmetic, byte parsing, the table of
// docs/configuration.md and what crosses into C (csrc/valk_config.h).
// (T6–T9, T12, T13 start systems: test/system.test.ts.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_FIELDS,
  ConfigError,
  ResolvedConfig,
  SystemConfig,
  cFields,
  configWarnings,
  defaultConfig,
  derivedFields,
  fieldSpec,
  fieldsOf,
  flagOf,
  formatBytes,
  parseBytes,
  parseFieldText,
  resolveConfig,
  resolveServerConfig,
  toNativeConfig,
  validateConfig,
} from '../lib/config';
import { configHeader } from '../lib/config-header';
import { configTableMarkdown } from '../lib/config-doc';
import { FOOTPRINT_LABELS, FootprintSizes, IP_TABLE_ENTRY_SIZE_FALLBACK, estimateFootprint } from '../lib/footprint';
import { native } from '../lib/native';
import { startWithConfig } from '../lib/system';

const KiB = 1024;
const MiB = 1024 * 1024;

/** A resolved config with some fields replaced, unchecked: validateConfig() gets it directly. */
function mutate(patch: Partial<Record<keyof ResolvedConfig, number | string>>): ResolvedConfig {
  return { ...resolveConfig(), ...patch } as ResolvedConfig;
}

/** The ConfigError resolveConfig(partial) throws (fails the test when none). */
function errorOf(partial: unknown): ConfigError {
  try {
    resolveConfig(partial as SystemConfig);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`resolveConfig(${JSON.stringify(partial)}) did not throw`);
}

describe('seed 002 configuration', () => {
  it('T1 test_config_defaults', () => {
    const cfg = resolveConfig();
    expect(cfg.maxConnections).toBe(100);
    expect(cfg.maxConcurrentStreams).toBe(100);
    expect(cfg.tcpBufferPoolSize).toBe(1450);
    expect(cfg.arenaPoolSize).toBe(200);
    expect(cfg.arenaSize).toBe(64 * MiB);
    expect(cfg.queueCapacity).toBe(200);
    expect(cfg.maxRequestBodySize).toBe(8 * MiB);
    expect(cfg.bufferHighWatermark).toBe(0.85);
    expect(cfg.bufferCriticalWatermark).toBe(0.95);
    expect(cfg.minBuffersPerConn).toBe(4);
    expect(cfg.drainTimeoutMs).toBe(5000);
    expect(defaultConfig()).toEqual(cfg);
    expect(resolveConfig({})).toEqual(cfg);
    expect(resolveConfig(null)).toEqual(cfg);
  });

  it('T2 test_config_derivation_streams', () => {
    const cfg = resolveConfig({ maxConnections: 500, maxConcurrentStreams: 50 });
    expect(cfg.tcpBufferPoolSize).toBe(4125);
    expect(cfg.arenaPoolSize).toBe(1000);
    expect(cfg.queueCapacity).toBe(1000);
    expect(resolveConfig({ maxConnections: 50, maxConcurrentStreams: 50 }).tcpBufferPoolSize).toBe(412);
  });

  it('T3 test_config_override', () => {
    const cfg = resolveConfig({ maxConnections: 100, tcpBufferPoolSize: 500 });
    expect(cfg.tcpBufferPoolSize).toBe(500);
    expect(cfg.arenaPoolSize).toBe(200);
  });

  it('T4 test_config_validation_limits', () => {
    expect(validateConfig(mutate({ maxConnections: 0 }))).toMatch(/maxConnections/);
    expect(validateConfig(mutate({ maxConnections: 100001 }))).toMatch(/maxConnections: 100001 is out of range/);
    expect(validateConfig(mutate({ maxConnections: 100 }))).toBeNull();
    expect(validateConfig(resolveConfig())).toBeNull();
  });

  it('T4 every hard limit: min and max pass, one step outside fails', () => {
    for (const spec of CONFIG_FIELDS.filter((f) => f.scope === 'system' && f.kind !== 'float' && f.kind !== 'enum' && f.kind !== 'bool')) {
      // The event ring's percentages relate to tracePressurePct: it sits where each bound of the other two is allowed.
      const trace = { tracePressurePct: spec.name === 'traceRecoveryPct' ? 99 : 1, traceDroppingPct: 100, traceRecoveryPct: 0 };
      const base = { ...resolveConfig({ maxConnections: 1, tcpBufferPoolSize: 1_000_000, arenaPoolSize: 10_000, arenaSize: 256 * 1024 * 1024, maxRequestBodySize: 1024, maxSessionMemory: 1024 ** 3, ...trace }) };
      const at = (v: number) => validateConfig({ ...base, [spec.name]: v } as ResolvedConfig);
      expect(at(spec.min - 1), spec.name).toMatch(new RegExp(`^${spec.name}: `));
      expect(at(spec.max + 1), spec.name).toMatch(new RegExp(`^${spec.name}: `));
      if (spec.name !== 'maxConnections') expect(at(spec.min), spec.name).toBeNull();
      expect(at(spec.max), spec.name).toBeNull();
    }
  });

  it('T5 test_config_validation_relationships', () => {
    const bad = validateConfig(mutate({ maxConnections: 100, tcpBufferPoolSize: 50 }));
    expect(bad).toMatch(/^tcpBufferPoolSize: 50 must be at least maxConnections/);
    expect(validateConfig(mutate({ maxConnections: 100, tcpBufferPoolSize: 100 }))).toBeNull();
  });

  it('T5 arenaPoolSize >= floor(maxConnections / 10)', () => {
    expect(validateConfig(mutate({ maxConnections: 100, arenaPoolSize: 9 }))).toMatch(/^arenaPoolSize: 9 /);
    expect(validateConfig(mutate({ maxConnections: 100, arenaPoolSize: 10 }))).toBeNull();
    expect(validateConfig(mutate({ maxConnections: 109, arenaPoolSize: 10 }))).toBeNull();
  });

  it('maxRequestBodySize <= arenaSize: a request body is kept whole in one arena', () => {
    const err = validateConfig(mutate({ arenaSize: 2 * 1024 * 1024, maxRequestBodySize: 4 * 1024 * 1024 }));
    expect(err).toMatch(/^maxRequestBodySize: .* must be at most arenaSize .*allowed 1 KiB to 2 MiB/);
    expect(validateConfig(mutate({ arenaSize: 2 * 1024 * 1024, maxRequestBodySize: 2 * 1024 * 1024 }))).toBeNull();
  });

  it('resolveConfig throws the relationship failure with field = the field the rule is about', () => {
    const err = errorOf({ maxConnections: 100, tcpBufferPoolSize: 50 });
    expect(err.field).toBe('tcpBufferPoolSize');
    expect(err.value).toBe(50);
    expect(err.message).toContain('allowed 100 to 1,000,000');
    expect(err.cliMessage).toBe(
      '--tcp-buffer-pool-size: 50 must be at least --max-connections (allowed 100 to 1,000,000)',
    );
  });

  it('derived values are clamped into their range; explicit ones are not', () => {
    const one = resolveConfig({ maxConnections: 1, maxConcurrentStreams: 1 });
    expect(one.tcpBufferPoolSize).toBe(16);
    expect(one.queueCapacity).toBe(16);
    expect(one.arenaPoolSize).toBe(2);
    const big = resolveConfig({ maxConnections: 100_000 });
    expect(big.tcpBufferPoolSize).toBe(1_000_000);
    expect(big.arenaPoolSize).toBe(10_000);
    expect(big.queueCapacity).toBe(100_000);
    expect(errorOf({ maxConnections: 1, queueCapacity: 2 }).field).toBe('queueCapacity');
  });

  it('derivedFields names the derived fields left undefined', () => {
    expect(derivedFields()).toEqual(['tcpBufferPoolSize', 'arenaPoolSize', 'queueCapacity', 'smallArenaPoolSize', 'maxSessionMemory']);
    expect(derivedFields({ tcpBufferPoolSize: 500, queueCapacity: undefined, maxSessionMemory: 1 << 20, smallArenaPoolSize: 64 }))
      .toEqual(['arenaPoolSize', 'queueCapacity']);
  });

  it('the result is frozen', () => {
    const cfg = resolveConfig({ maxConnections: 10 });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(defaultConfig())).toBe(true);
    expect(Object.isFrozen(resolveServerConfig())).toBe(true);
    expect(() => {
      (cfg as { maxConnections: number }).maxConnections = 5;
    }).toThrow(TypeError);
  });
});

describe('seed 000 phase 2 watermarks', () => {
  it('test_watermark_config', () => {
    const ok = resolveConfig({ bufferHighWatermark: 0.7, bufferCriticalWatermark: 0.9 });
    expect(ok.bufferHighWatermark).toBe(0.7);
    expect(ok.bufferCriticalWatermark).toBe(0.9);
    const err = errorOf({ bufferHighWatermark: 0.95, bufferCriticalWatermark: 0.9 });
    expect(err.field).toBe('bufferHighWatermark');
    expect(err.message).toMatch(/0\.95 must be less than bufferCriticalWatermark/);
    expect(validateConfig(mutate({ bufferHighWatermark: 0.9, bufferCriticalWatermark: 0.9 }))).not.toBeNull();
  });

  it('watermark bounds: high in (0, 1), critical in (0, 1]', () => {
    expect(resolveConfig({ bufferHighWatermark: 0.5, bufferCriticalWatermark: 1 }).bufferCriticalWatermark).toBe(1);
    expect(errorOf({ bufferHighWatermark: 0 }).message).toContain('allowed greater than 0 and less than 1');
    expect(errorOf({ bufferHighWatermark: 1 }).field).toBe('bufferHighWatermark');
    expect(errorOf({ bufferCriticalWatermark: 1.01 }).message).toContain('greater than 0 and at most 1');
    expect(errorOf({ bufferCriticalWatermark: 0 }).field).toBe('bufferCriticalWatermark');
  });
});

describe('ConfigError', () => {
  it('explicit 0 is a value, not "derive"', () => {
    const err = errorOf({ maxConnections: 0 });
    expect(err.field).toBe('maxConnections');
    expect(err.value).toBe(0);
    expect(err.flag).toBe('--max-connections');
    expect(err.message).toBe('maxConnections: 0 is out of range (allowed 1 to 100,000)');
    expect(err.cliMessage).toBe('--max-connections: 0 is out of range (allowed 1 to 100,000)');
    expect(errorOf({ tcpBufferPoolSize: 0 }).field).toBe('tcpBufferPoolSize');
  });

  it.each([
    ['negative', -1, 'is out of range'],
    ['fraction', 1.5, 'is not an integer'],
    ['NaN', NaN, 'is not a finite number'],
    ['Infinity', Infinity, 'is not a finite number'],
    ['string', '100', 'is not a number'],
    ['null', null, 'is not a number'],
    ['boolean', true, 'is not a number'],
  ])('rejects %s for an integer field', (_label, value, text) => {
    const err = errorOf({ maxConcurrentStreams: value });
    expect(err.field).toBe('maxConcurrentStreams');
    expect(err.value).toBe(value);
    expect(err.message).toContain(text);
    expect(err.message).toContain('(allowed 1 to 1,000)');
  });

  it('byte fields take whole byte counts and name the range in binary units', () => {
    const err = errorOf({ arenaSize: 1024 });
    expect(err.message).toBe('arenaSize: 1024 is out of range (allowed 1 MiB to 256 MiB)');
    expect(errorOf({ maxRequestBodySize: 2048.5 }).message).toContain('is not a whole number of bytes');
    expect(errorOf({ arenaSize: '8MiB' }).message).toContain('is not a number');
  });

  it('unknown keys are errors, with a hint for near misses', () => {
    const err = errorOf({ maxConections: 5 });
    expect(err.field).toBe('maxConections');
    expect(err.value).toBe(5);
    expect(err.message).toMatch(/unknown configuration field/);
    expect(errorOf({ max_connections: 5 }).message).toContain('did you mean maxConnections?');
  });

  it('a server key passed to resolveConfig says it belongs to listen()', () => {
    const err = errorOf({ maxResponseBodySize: 1024 });
    expect(err.field).toBe('maxResponseBodySize');
    expect(err.message).toContain('listen()');
    expect(errorOf({ error503Body: 'busy' }).message).toContain('listen()');
  });

  it('undefined means default even for a known key', () => {
    expect(resolveConfig({ maxConnections: undefined, arenaPoolSize: undefined })).toEqual(defaultConfig());
  });

  it('a non-object config is a TypeError', () => {
    expect(() => resolveConfig(5 as unknown as SystemConfig)).toThrow(TypeError);
    expect(() => resolveConfig([] as unknown as SystemConfig)).toThrow(TypeError);
  });

  it('is an Error with name ConfigError', () => {
    const err = errorOf({ minBuffersPerConn: 0 });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigError');
    expect(err.flag).toBe('--min-buffers-per-conn');
  });
});

describe('admission control fields', () => {
  it('defaults', () => {
    const cfg = resolveConfig();
    expect(cfg.rejectMode).toBe('rst');
    expect(cfg.maxGracefulRejections).toBe(32);
    expect(cfg.overloadGoawayCode).toBe('ENHANCE_YOUR_CALM');
    expect(cfg.backpressureListMax).toBe(1000);
    expect(cfg.maxConnectionsPerIp).toBe(0);
    expect(cfg.softLimit).toBe(true);
    expect(cfg.softLimitIdleMs).toBe(1000);
  });

  it('enum values are kept as the strings given', () => {
    const cfg = resolveConfig({ rejectMode: 'goaway', overloadGoawayCode: 'NO_ERROR', softLimit: false });
    expect(cfg.rejectMode).toBe('goaway');
    expect(cfg.overloadGoawayCode).toBe('NO_ERROR');
    expect(cfg.softLimit).toBe(false);
    expect(validateConfig(cfg)).toBeNull();
  });

  it('rejectMode: a value not in the list names the field, the value and the allowed values', () => {
    const err = errorOf({ rejectMode: 'polite' });
    expect(err.field).toBe('rejectMode');
    expect(err.value).toBe('polite');
    expect(err.message).toBe('rejectMode: "polite" is not an allowed value (allowed one of rst, goaway)');
    expect(err.cliMessage).toBe('--reject-mode: "polite" is not an allowed value (allowed one of rst, goaway)');
    expect(errorOf({ rejectMode: 'RST' }).field).toBe('rejectMode'); // case matters
    expect(validateConfig(mutate({ rejectMode: 'polite' }))).toMatch(/^rejectMode: "polite" /);
  });

  it('overloadGoawayCode: a value not in the list names the field, the value and the allowed values', () => {
    const err = errorOf({ overloadGoawayCode: 'CANCEL' });
    expect(err.field).toBe('overloadGoawayCode');
    expect(err.value).toBe('CANCEL');
    expect(err.message).toBe(
      'overloadGoawayCode: "CANCEL" is not an allowed value (allowed one of ENHANCE_YOUR_CALM, NO_ERROR)',
    );
  });

  it('switches are booleans in the API: softLimit true or false, anything else named', () => {
    expect(resolveConfig({ softLimit: false }).softLimit).toBe(false);
    expect(errorOf({ softLimit: 'off' }).message).toBe('softLimit: "off" is not a boolean (allowed true or false)');
    expect(errorOf({ softLimit: 1 }).message).toBe('softLimit: 1 is not a boolean (allowed true or false)');
    expect(errorOf({ softLimit: 'off' }).cliMessage).toBe('--soft-limit: "off" is not a boolean (allowed true or false)');
  });

  it('enum fields refuse non-strings', () => {
    const err = errorOf({ rejectMode: 1 });
    expect(err.field).toBe('rejectMode');
    expect(err.message).toBe('rejectMode: 1 is not a string (allowed one of rst, goaway)');
    expect(errorOf({ overloadGoawayCode: null }).field).toBe('overloadGoawayCode');
  });

  it.each([
    ['maxGracefulRejections', 0, 'maxGracefulRejections: 0 is out of range (allowed 1 to 4,096)'],
    ['maxGracefulRejections', 4097, 'maxGracefulRejections: 4097 is out of range (allowed 1 to 4,096)'],
    ['maxGracefulRejections', 2.5, 'maxGracefulRejections: 2.5 is not an integer (allowed 1 to 4,096)'],
    ['backpressureListMax', 0, 'backpressureListMax: 0 is out of range (allowed 1 to 100,000)'],
    ['backpressureListMax', 100_001, 'backpressureListMax: 100001 is out of range (allowed 1 to 100,000)'],
    ['maxConnectionsPerIp', -1, 'maxConnectionsPerIp: -1 is out of range (allowed 0 to 100,000)'],
    ['maxConnectionsPerIp', 100_001, 'maxConnectionsPerIp: 100001 is out of range (allowed 0 to 100,000)'],
    ['softLimitIdleMs', -1, 'softLimitIdleMs: -1 is out of range (allowed 0 to 86,400,000)'],
    ['softLimitIdleMs', 86_400_001, 'softLimitIdleMs: 86400001 is out of range (allowed 0 to 86,400,000)'],
  ])('%s = %s is a range error', (name, value, message) => {
    const err = errorOf({ [name]: value });
    expect(err.field).toBe(name);
    expect(err.value).toBe(value);
    expect(err.message).toBe(message);
  });

  it('the int bounds themselves are accepted', () => {
    expect(() =>
      resolveConfig({ maxGracefulRejections: 1, backpressureListMax: 1, maxConnectionsPerIp: 0, softLimitIdleMs: 0 }),
    ).not.toThrow();
    expect(() =>
      resolveConfig({
        maxConnections: 100_000,
        maxGracefulRejections: 4096,
        backpressureListMax: 100_000,
        maxConnectionsPerIp: 100_000,
        softLimitIdleMs: 86_400_000,
      }),
    ).not.toThrow();
  });

  it('parseFieldText leaves enum text to resolution', () => {
    expect(parseFieldText(fieldSpec('rejectMode')!, 'goaway')).toBe('goaway');
    expect(parseFieldText(fieldSpec('rejectMode')!, 'polite')).toBe('polite'); // refused by resolveConfig
    expect(parseFieldText(fieldSpec('maxConnectionsPerIp')!, '4')).toBe(4);
  });
});

describe('server configuration', () => {
  it('defaults: 64 MiB responses and a JSON 503 body', () => {
    const srv = resolveServerConfig();
    expect(srv.maxResponseBodySize).toBe(64 * MiB);
    expect(srv.error503Body).toBe('{"error":"service unavailable"}\n');
  });

  it('validates like the system fields and refuses system keys', () => {
    expect(resolveServerConfig({ maxResponseBodySize: 1024, error503Body: '' })).toEqual({
      maxResponseBodySize: 1024,
      handlerTimeoutMs: 30_000,
      requestBodies: 'buffer',
      error503Body: '',
    });
    expect(resolveServerConfig({ requestBodies: 'stream' }).requestBodies).toBe('stream');
    expect(() => resolveServerConfig({ requestBodies: 'chunked' as 'stream' })).toThrow(/requestBodies: .*chunked.*buffer.*stream/);
    expect(() => resolveServerConfig({ handlerTimeoutMs: 0 })).toThrow(/handlerTimeoutMs: 0 is out of range/);
    expect(() => resolveServerConfig({ maxResponseBodySize: 0 })).toThrow(/maxResponseBodySize: 0 is out of range \(allowed 1 KiB to 1 GiB\)/);
    expect(() => resolveServerConfig({ error503Body: 'x'.repeat(64 * 1024 + 1) })).toThrow(/error503Body: .* long/);
    expect(() => resolveServerConfig({ error503Body: 5 as unknown as string })).toThrow(/is not a string/);
    expect(() => resolveServerConfig({ maxConnections: 5 } as never)).toThrow(/startWithConfig\(\)/);
  });
});

describe('warnings', () => {
  it('none for the defaults', () => {
    expect(configWarnings(defaultConfig())).toEqual([]);
  });

  it('tcpBufferPoolSize below 70% of the recommendation', () => {
    const w = configWarnings(resolveConfig({ tcpBufferPoolSize: 1014 }));
    expect(w).toHaveLength(1);
    expect(w[0]).toContain('tcpBufferPoolSize (1,014) may be insufficient for 100 streams per connection; recommend >= 1,450');
    expect(configWarnings(resolveConfig({ tcpBufferPoolSize: 1015 }))).toEqual([]);
  });

  it('arenaPoolSize below maxConnections', () => {
    const w = configWarnings(resolveConfig({ arenaPoolSize: 99 }));
    expect(w).toEqual(['arenaPoolSize (99) < maxConnections (100) may cause frequent 503 responses']);
    expect(configWarnings(resolveConfig({ arenaPoolSize: 100 }))).toEqual([]);
  });

  it('maxConnectionsPerIp above maxConnections can never bite', () => {
    const w = configWarnings(resolveConfig({ maxConnections: 100, maxConnectionsPerIp: 101 }));
    expect(w).toEqual(['maxConnectionsPerIp (101) > maxConnections (100): the per-IP limit can never be reached']);
    expect(configWarnings(resolveConfig({ maxConnections: 100, maxConnectionsPerIp: 100 }))).toEqual([]);
    expect(configWarnings(resolveConfig({ maxConnections: 100, maxConnectionsPerIp: 4 }))).toEqual([]);
    expect(configWarnings(resolveConfig({ maxConnectionsPerIp: 0 }))).toEqual([]);
  });
});

describe('estimateFootprint', () => {
  const sizes: FootprintSizes = {
    connSlotSize: 1000,
    tcpBufferSlotSize: 33_000,
    queueEntrySize: 64,
    connProtocolStateEstimate: 150_000,
    tlsBufferBound: 200_000,
    ipTableEntrySize: 32,
  };
  /** OpenSSL's estimate + the TLS buffers' bound + maxSessionMemory (derived: 16 KiB × 100 streams). */
  const PER_CONN = 150_000 + 200_000 + 16 * 1024 * 100;

  it('multiplies each pool by its item size', () => {
    const fp = estimateFootprint(defaultConfig(), sizes);
    expect(fp.connectionSlab).toBe(1000 * (100 + 16)); // + the admin listeners' slab
    expect(fp.tcpBuffers).toBe(33_000 * 1450);
    expect(fp.arenaCeiling).toBe(64 * MiB * 200 + 2 * 16 * 4 * MiB); // + the admin listeners' arenas
    expect(fp.smallArenas).toBe(32 * KiB * 100 * 100); // one per advertised stream
    // requests; per arena a response, a chunk, 2 cancels, 2 unpins, 2 bodies, 2 takes, a table entry
    expect(fp.queues).toBe(64 * (200 + 10 * (200 + 2 * 16 + 10_000)) + 8 * (200 + 2 * 16 + 10_000));
    expect(fp.requestBodies).toBe(100 * (4 * MiB + 2 * 100 * 16 * KiB) + 8 * MiB); // the fallbacks: not in these sizes
    expect(fp.protocolState).toBe(PER_CONN * (100 + 16));
    expect(fp.gracefulRejections).toBe(0); // rejectMode 'rst'
    expect(fp.admissionTables).toBe(1000 * 8); // no per-IP table without maxConnectionsPerIp
    // No sseEventBytes in these sizes: the diagnostics part is its scratch only.
    const scratch = 100 * 8 + 200 * 40 + Math.ceil(1450 / 8) + Math.ceil(200 / 8) + Math.ceil(10_000 / 8) + 8 + 101 * 64;
    expect(fp.diagnostics).toBe(scratch);
    expect(fp.total).toBe(116_000 + 47_850_000 + 64 * MiB * 200 + 2 * 16 * 4 * MiB + 32 * KiB * 10_000 + 64 * (200 + 10 * 10_232) +
      8 * 10_232 + 100 * (4 * MiB + 2 * 100 * 16 * KiB) + 8 * MiB + PER_CONN * 116 + 8000 + scratch);
    expect(Object.isFrozen(fp)).toBe(true);
  });

  it('diagnostics: (maxSseStreams + 1) event buffers of the addon\'s bound', () => {
    const withEvent = { ...sizes, sseEventBytes: () => 20_000 };
    const a = estimateFootprint(resolveConfig({ maxSseStreams: 10 }), withEvent).diagnostics;
    const b = estimateFootprint(resolveConfig({ maxSseStreams: 20 }), withEvent).diagnostics;
    expect(b - a).toBe(10 * (20_000 + 64));
    const real = estimateFootprint(defaultConfig()).diagnostics; // the addon's own bound
    expect(real).toBeGreaterThan(101 * native().sseEventBytes(100, 1450, 200));
    expect(real).toBeLessThan(4 * 1024 * 1024);
  });

  it('gracefulRejections: maxGracefulRejections × (slot + protocol state), only in goaway mode', () => {
    const goaway = estimateFootprint(resolveConfig({ rejectMode: 'goaway', maxGracefulRejections: 10 }), sizes);
    expect(goaway.gracefulRejections).toBe(10 * (1000 + PER_CONN));
    expect(estimateFootprint(resolveConfig({ rejectMode: 'goaway' }), sizes).gracefulRejections).toBe(32 * (1000 + PER_CONN));
    expect(estimateFootprint(resolveConfig({ maxGracefulRejections: 10 }), sizes).gracefulRejections).toBe(0);
    const rst = estimateFootprint(defaultConfig(), sizes);
    expect(goaway.total - rst.total).toBe(10 * (1000 + PER_CONN));
  });

  it('protocolState: the HTTP/2 state counts at its cap, maxSessionMemory, per connection', () => {
    const small = estimateFootprint(resolveConfig({ maxSessionMemory: 256 * 1024 }), sizes).protocolState;
    const big = estimateFootprint(resolveConfig({ maxSessionMemory: 4 * MiB }), sizes).protocolState;
    expect(big - small).toBe((4 * MiB - 256 * 1024) * 116);
    const real = estimateFootprint(defaultConfig()); // the addon's own sizes
    expect(real.protocolState).toBe((native().constants.connProtocolStateEstimate + native().constants.tlsBufferBound +
      defaultConfig().maxSessionMemory) * 116);
  });

  it('arenas and queues count the admin listeners\' arenas, with the addon\'s own constants', () => {
    const k = native().constants;
    expect([k.adminArenasPerConn, k.adminArenaSize]).toEqual([2, 4 * MiB]);
    const real = estimateFootprint(defaultConfig());
    const arenas = 200 + k.adminArenasPerConn * 16 + 10_000;
    expect(real.arenaCeiling).toBe(64 * MiB * 200 + k.adminArenasPerConn * 16 * k.adminArenaSize);
    expect(real.queues).toBe(k.queueEntrySize * (200 + 10 * arenas) + 8 * arenas);
    // A small arenaSize caps the admin arenas too.
    const small = estimateFootprint(resolveConfig({ arenaSize: MiB, maxRequestBodySize: MiB }));
    expect(small.arenaCeiling).toBe(MiB * 200 + k.adminArenasPerConn * 16 * MiB);
  });

  it('admissionTables: backpressure heap + per-IP table of nextPowerOfTwo(2 × maxConnections) entries', () => {
    const fp = (patch: SystemConfig) => estimateFootprint(resolveConfig(patch), sizes).admissionTables;
    expect(fp({ backpressureListMax: 50 })).toBe(50 * 8);
    expect(fp({ maxConnectionsPerIp: 4 })).toBe(1000 * 8 + 256 * 32); // 2 × 100 -> 256
    expect(fp({ maxConnections: 128, maxConnectionsPerIp: 4 })).toBe(1000 * 8 + 256 * 32); // 256 exactly
    expect(fp({ maxConnections: 129, maxConnectionsPerIp: 4 })).toBe(1000 * 8 + 512 * 32);
    expect(fp({ maxConnections: 1, maxConnectionsPerIp: 1, backpressureListMax: 1 })).toBe(8 + 2 * 32);
    expect(fp({ maxConnections: 100_000, maxConnectionsPerIp: 1 })).toBe(1000 * 8 + 262_144 * 32);
  });

  it('labels every part, in the order the parts are computed', () => {
    const fp = estimateFootprint(defaultConfig(), sizes);
    expect(Object.keys(FOOTPRINT_LABELS)).toEqual(Object.keys(fp).filter((k) => k !== 'total'));
    expect(FOOTPRINT_LABELS.gracefulRejections).toBe('graceful rejection slots (goaway mode)');
    expect(FOOTPRINT_LABELS.admissionTables).toBe('admission tables (backpressure heap, per-IP counts)');
    const sum = Object.entries(fp).filter(([k]) => k !== 'total').reduce((a, [, v]) => a + v, 0);
    expect(fp.total).toBe(sum);
  });

  it.runIf(addonLoads())("without sizes: the addon's, ipTableEntrySize falling back to 24 when it has none", () => {
    const k = native().constants;
    const entry = k.ipTableEntrySize ?? IP_TABLE_ENTRY_SIZE_FALLBACK;
    expect(IP_TABLE_ENTRY_SIZE_FALLBACK).toBe(24);
    const fp = estimateFootprint(resolveConfig({ maxConnectionsPerIp: 4 }));
    expect(fp.admissionTables).toBe(1000 * 8 + 256 * entry);
    expect(Number.isFinite(fp.total)).toBe(true);
    expect(fp.connectionSlab).toBe(k.connSlotSize * (100 + 16));
  });

  it('follows the configuration', () => {
    const fp = estimateFootprint(resolveConfig({ maxConnections: 50, maxConcurrentStreams: 50, arenaSize: 16 * MiB }), sizes);
    expect(fp.tcpBuffers).toBe(33_000 * 412);
    expect(fp.arenaCeiling).toBe(16 * MiB * 100 + 2 * 16 * 4 * MiB);
  });
});

/** Whether the built addon can be loaded here (the footprint fallback test needs it). */
function addonLoads(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}

describe('bytes', () => {
  it.each([
    ['8388608', 8 * MiB],
    ['8MiB', 8 * MiB],
    ['8M', 8 * MiB],
    ['8mb', 8 * MiB],
    ['8 MiB', 8 * MiB],
    ['512KiB', 512 * 1024],
    ['512K', 512 * 1024],
    ['1GiB', 1024 * MiB],
    ['1.5MiB', 1.5 * MiB],
    ['100B', 100],
  ])('parseBytes(%s)', (text, bytes) => {
    expect(parseBytes(text)).toBe(bytes);
  });

  it.each(['12XB', '', 'MiB', '-1MiB', '1.5', '8 M iB', '1e3', '0x10'])('parseBytes(%j) throws', (text) => {
    expect(() => parseBytes(text)).toThrow(RangeError);
  });

  it('formatBytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1024)).toBe('1 KiB');
    expect(formatBytes(47_513_600)).toBe('45.3 MiB');
    expect(formatBytes(64 * MiB)).toBe('64 MiB');
    expect(formatBytes(200 * 64 * MiB)).toBe('12.5 GiB');
    expect(formatBytes(1024 * 1024 - 20)).toBe('1 MiB');
  });

  it('parseFieldText turns CLI text into values or a ConfigError naming the flag', () => {
    const arena = fieldSpec('arenaSize')!;
    expect(parseFieldText(arena, '32MiB')).toBe(32 * MiB);
    expect(() => parseFieldText(arena, '12XB')).toThrow(ConfigError);
    try {
      parseFieldText(arena, '12XB');
    } catch (err) {
      expect((err as ConfigError).cliMessage).toBe(
        '--arena-size: "12XB" is not a byte size such as 8388608, 512KiB, 8MiB or 1GiB (allowed 1 MiB to 256 MiB)',
      );
    }
    const conns = fieldSpec('maxConnections')!;
    expect(parseFieldText(conns, '50')).toBe(50);
    expect(parseFieldText(conns, '0')).toBe(0); // range is checked by resolveConfig
    expect(() => parseFieldText(conns, 'abc')).toThrow(/"abc" is not an integer \(allowed 1 to 100,000\)/);
    expect(parseFieldText(fieldSpec('bufferHighWatermark')!, '0.7')).toBe(0.7);
    expect(parseFieldText(fieldSpec('error503Body')!, 'busy')).toBe('busy');
  });
});

describe('the options table', () => {
  it('flags are kebab-case of the names', () => {
    expect(flagOf('maxConnections')).toBe('--max-connections');
    expect(flagOf('error503Body')).toBe('--error-503-body');
    expect(flagOf('drainTimeoutMs')).toBe('--drain-timeout-ms');
    const flags = CONFIG_FIELDS.map((f) => flagOf(f.name));
    expect(new Set(flags).size).toBe(flags.length);
  });

  it('every default is valid for its own row', () => {
    for (const f of CONFIG_FIELDS) expect(f.default !== undefined || f.derive !== undefined, f.name).toBe(true);
    expect(() => resolveConfig()).not.toThrow();
    expect(() => resolveServerConfig()).not.toThrow();
  });

  it('docs/configuration.md holds exactly configTableMarkdown() between its markers', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'configuration.md'), 'utf8');
    const m = /<!-- config-table:start -->\n([\s\S]*?)<!-- config-table:end -->/.exec(doc);
    expect(m, 'docs/configuration.md has the config-table markers').not.toBeNull();
    expect(m![1]).toBe(configTableMarkdown());
  });

  it('the table has a row per field with flag, default and range', () => {
    const table = configTableMarkdown();
    for (const f of CONFIG_FIELDS) expect(table).toContain(`| \`${f.name}\` |`);
    expect(table).toContain('`--max-connections` | 100 | 1 to 100,000 |');
    expect(table).toContain('(1,450 with the defaults)');
  });

  it('enum rows show their allowed values in the Range column', () => {
    const table = configTableMarkdown();
    expect(table).toContain('| `--reject-mode` | `rst` | one of `rst`, `goaway` | mode |');
    expect(table).toContain('| `--overload-goaway-code` | `ENHANCE_YOUR_CALM` | one of `ENHANCE_YOUR_CALM`, `NO_ERROR` |');
    expect(table).toContain('| `--soft-limit`, `--no-soft-limit` | true | `true` or `false` | switch |');
    expect(table).toContain('| `--max-connections-per-ip` | 0 | 0 to 100,000 | connections |');
  });

  it('enum rows carry their values; their defaults are among them', () => {
    for (const f of CONFIG_FIELDS.filter((x) => x.kind === 'enum')) {
      expect(f.values?.length, f.name).toBeGreaterThan(1);
      expect(f.values, f.name).toContain(f.default);
    }
    expect(fieldSpec('rejectMode')?.values).toEqual(['rst', 'goaway']);
    expect(fieldSpec('overloadGoawayCode')?.values).toEqual(['ENHANCE_YOUR_CALM', 'NO_ERROR']);
    expect(fieldSpec('softLimit')?.kind).toBe('bool');
  });
});

describe('what crosses into C (csrc/valk_config.h)', () => {
  it('csrc/valk_config.h is exactly configHeader() (node scripts/gen-config-header.js)', () => {
    expect(fs.readFileSync(path.join(__dirname, '..', 'csrc', 'valk_config.h'), 'utf8')).toBe(configHeader());
  });

  it('every system field has a C member, no server field does; members are unique', () => {
    for (const f of CONFIG_FIELDS) expect(f.c !== undefined, f.name).toBe(f.scope === 'system');
    const members = cFields().map((f) => f.c.name);
    expect(new Set(members).size).toBe(members.length);
    expect(cFields().map((f) => f.name)).toEqual(fieldsOf('system').map((f) => f.name));
  });

  it('the header lists every member with its C type and name, and the enum values', () => {
    const h = configHeader();
    for (const f of cFields()) expect(h).toContain(`  X(${f.c.type}, ${f.c.name}, "${f.name}")`);
    expect(h).toContain('X(uint64_t, arena_size, "arenaSize")');
    expect(h).toContain('X(double, buffer_high_watermark, "bufferHighWatermark")');
    expect(h).toContain('typedef enum { VALK_REJECT_RST = 0, VALK_REJECT_GOAWAY = 1 } valk_reject_mode_t;');
    expect(h).toContain('V(overload_goaway_code, "ENHANCE_YOUR_CALM", NGHTTP2_ENHANCE_YOUR_CALM, 11)');
    expect(h).not.toContain('V(soft_limit'); // a 'bool' field is 1 or 0, no value list
  });

  it('enum rows give every allowed value a C number', () => {
    for (const f of cFields().filter((x) => x.kind === 'enum')) {
      expect(Object.keys(f.c.values ?? {}), f.name).toEqual(f.values);
    }
    for (const f of cFields().filter((x) => x.kind !== 'enum')) expect(f.c.values, f.name).toBeUndefined();
  });

  it('toNativeConfig(): numbers as they are, enum values as their C numbers, only the C fields', () => {
    const n = toNativeConfig(resolveConfig({ rejectMode: 'goaway', overloadGoawayCode: 'NO_ERROR', softLimit: false, maxConnections: 7 }));
    expect(Object.keys(n)).toEqual(cFields().map((f) => f.name));
    expect([n.maxConnections, n.rejectMode, n.overloadGoawayCode, n.softLimit]).toEqual([7, 1, 0, 0]);
    const d = toNativeConfig(defaultConfig());
    expect([d.rejectMode, d.overloadGoawayCode, d.softLimit, d.bufferHighWatermark]).toEqual([0, 11, 1, 0.85]);
    for (const v of Object.values(d)) expect(typeof v).toBe('number');
    expect(() => toNativeConfig({ ...defaultConfig(), rejectMode: 'drop' } as unknown as ResolvedConfig)).toThrow(/rejectMode/);
  });

  it('the C side reads back what was configured, member by member', async () => {
    const sys = startWithConfig({
      maxConnections: 30, tcpBufferPoolSize: 100, arenaPoolSize: 9, queueCapacity: 40, arenaSize: 2 * MiB,
      maxRequestBodySize: 1 * MiB, bufferHighWatermark: 0.6, bufferCriticalWatermark: 0.7, backpressureListMax: 5,
      adminMaxConnections: 3, softLimit: false,
    });
    try {
      const m = sys.metrics();
      expect([m.connections.max, m.pools.tcp_buffers.total, m.pools.arenas.total, m.queue.capacity]).toEqual([30, 100, 9, 40]);
      expect([m.pools.arenas.arena_size, m.watermark.high, m.watermark.critical]).toEqual([2 * MiB, 0.6, 0.7]);
      expect([m.backpressure.list_max, m.pools.admin_connections.total, m.connections.soft_limit_at]).toEqual([5, 3, 0]);
    } finally {
      await sys.stop();
    }
  });
});
