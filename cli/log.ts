// The CLI's messages, as text (what a person reads) or as JSON lines
// (--log-format json: what a log pipeline reads), one schema for both the
// CLI's own steps and the server's events (docs/api.md, "Logs").
//
// Thread: Node's main thread.
import type { CliIO } from './io';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];
export type LogLevel = 'info' | 'warn' | 'error';

/**
 * One JSON line: {"time": ISO 8601, "level", "event", "msg", ...fields}.
 * `event` names what happened (listening, draining, closing, closed,
 * stopped, handler_error, config_warning, and with --log-events every
 * lifecycle event by its kind); `msg` is the text line without its newline.
 */
export interface LogLine {
  time: string;
  level: LogLevel;
  event: string;
  msg: string;
  [field: string]: unknown;
}

export interface Logger {
  readonly format: LogFormat;
  /** Writes msg (text) or its JSON line; errors and warnings go to stderr. */
  log(level: LogLevel, event: string, msg: string, fields?: Record<string, unknown>): void;
  /** A lifecycle event (--log-events): a JSON line in both formats. */
  event(fields: Record<string, unknown> & { event: string }): void;
}

/** The line: its four keys first and never overridden by a field of the same name. */
function entry(t: Date, level: LogLevel, event: string, msg: string, fields: Record<string, unknown>): LogLine {
  const head = { time: t.toISOString(), level, event, msg };
  return Object.assign({ ...head }, fields, head);
}

export function makeLogger(format: LogFormat, io: CliIO, now: () => Date = () => new Date()): Logger {
  const line = (l: LogLine) => `${JSON.stringify(l)}\n`;
  return {
    format,
    log(level, event, msg, fields = {}) {
      const write = level === 'info' ? io.out : io.err;
      if (format === 'text') write(`${msg}\n`);
      else write(line(entry(now(), level, event, msg, fields)));
    },
    event(fields) {
      if (format === 'text') io.out(`${JSON.stringify(fields)}\n`);
      else io.out(line(entry(now(), 'info', fields.event, fields.event, fields)));
    },
  };
}
