// Node.js runtime metrics of the process hosting the servers (the original
// design's "Garbage Collector" and "Interpreter" sections): V8 heap, process
// memory, garbage collections and their pauses (a PerformanceObserver for
// 'gc'), event-loop delay (perf_hooks.monitorEventLoopDelay) and event-loop
// utilization (performance.eventLoopUtilization).
//
// Thread: Node's main thread only. One process-wide set of observers, shared
// by every acquirer and refcounted: the first acquire starts them, the last
// release stops them. Nothing here keeps the process alive (the window timer
// is unref()ed; the histogram and the observer never hold the loop).
//
// Memory: fixed. One histogram (reset every window), a few counters and the
// figures of the last completed window; nothing grows with time or traffic.
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';
import type { EventLoopUtilization, IntervalHistogram, PerformanceObserverEntryList } from 'node:perf_hooks';
import * as v8 from 'node:v8';

/** The runtime figures read() returns; every number is finite (0 when not measured yet). */
export interface RuntimeMetrics {
  /** process.uptime(), seconds. */
  uptime_seconds: number;
  /** V8 used_heap_size, bytes. */
  heap_used_bytes: number;
  /** V8 total_heap_size, bytes. */
  heap_total_bytes: number;
  /** V8 heap_size_limit, bytes. */
  heap_limit_bytes: number;
  /** heap_used_bytes / heap_total_bytes, 0..1. */
  heap_utilization: number;
  /** Resident set size of the process, bytes. */
  rss_bytes: number;
  /** Memory of C++ objects bound to JavaScript objects (Buffers included), bytes. */
  external_bytes: number;
  /** Memory of ArrayBuffers and SharedArrayBuffers (part of external_bytes), bytes. */
  array_buffers_bytes: number;
  /** Garbage collections observed since the monitor (re)started. */
  gc: {
    /** GC runs observed, all kinds. */
    count: number;
    /** Sum of their durations, seconds. */
    pause_seconds_total: number;
    /** The longest single one, milliseconds. */
    pause_max_ms: number;
    /** Mark-sweep-compact runs. */
    major: number;
    /** Scavenges (and V8's minor mark-compact/sweep, which Node names no constant for). */
    minor: number;
    /** Incremental marking steps. */
    incremental: number;
    /** Weak callback processing. */
    weakcb: number;
  };
  /**
   * The event loop over the last completed window (see RUNTIME_WINDOW_MS), or
   * over the current partial window while none has completed yet.
   */
  event_loop: {
    /** Median event-loop delay, milliseconds (0 without samples). */
    delay_p50_ms: number;
    /** 99th percentile of the delay, milliseconds. */
    delay_p99_ms: number;
    /** Longest delay, milliseconds. */
    delay_max_ms: number;
    /** Mean delay, milliseconds. */
    delay_mean_ms: number;
    /** Share of the window the loop spent running JavaScript and callbacks rather than waiting, 0..1. */
    utilization: number;
    /** Length of the window the four delays and utilization cover, seconds. */
    window_seconds: number;
    /** Windows completed since the monitor (re)started (0: the figures are of the partial window). */
    windows_completed: number;
    /** Time the loop was active since the monitor (re)started, seconds. */
    active_seconds_total: number;
    /** Time the loop was idle since the monitor (re)started, seconds. */
    idle_seconds_total: number;
  };
}

/** Default window over which delay percentiles and utilization are computed, ms. */
export const RUNTIME_WINDOW_MS = 10_000;
/** The delay histogram's sampling period, ms. */
const RESOLUTION_MS = 10;

/** Figures of one event-loop window. */
interface LoopWindow {
  p50: number;
  p99: number;
  max: number;
  mean: number;
  utilization: number;
  seconds: number;
}

/** The process-wide observers and what they have counted; exists while refs > 0. */
interface Observers {
  readonly hist: IntervalHistogram;
  readonly gcObserver: PerformanceObserver;
  /** ELU when the monitor started, and when the current window started. */
  readonly startElu: EventLoopUtilization;
  windowElu: EventLoopUtilization;
  /** performance.now() when the current window started. */
  windowStart: number;
  timer: NodeJS.Timeout;
  last?: LoopWindow;
  windows: number;
  gcCount: number;
  gcPauseMs: number;
  gcPauseMaxMs: number;
  major: number;
  minor: number;
  incremental: number;
  weakcb: number;
}

let windowMs = RUNTIME_WINDOW_MS;
let refs = 0;
let active: Observers | undefined;
/** Acquisitions not yet released. */
const held = new WeakSet<RuntimeMonitor>();

/** V8's kGCTypeMinorMarkCompact/MinorMarkSweep, which perf_hooks.constants does not name. */
const GC_MINOR_MARK = 2;

const finite = (x: number): number => (Number.isFinite(x) ? x : 0);

/** Counts one batch of 'gc' entries: no allocation beyond Node's entry list. */
function onGc(list: PerformanceObserverEntryList): void {
  const s = active;
  if (!s) return;
  const entries = list.getEntries();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as { duration: number; detail?: { kind?: number }; kind?: number };
    // detail.kind first: reading entry.kind on newer Node emits DEP0152.
    const kind = e.detail?.kind ?? e.kind;
    s.gcCount++;
    s.gcPauseMs += e.duration;
    if (e.duration > s.gcPauseMaxMs) s.gcPauseMaxMs = e.duration;
    switch (kind) {
      case constants.NODE_PERFORMANCE_GC_MAJOR: s.major++; break;
      case constants.NODE_PERFORMANCE_GC_MINOR: case GC_MINOR_MARK: s.minor++; break;
      case constants.NODE_PERFORMANCE_GC_INCREMENTAL: s.incremental++; break;
      case constants.NODE_PERFORMANCE_GC_WEAKCB: s.weakcb++; break;
    }
  }
}

/**
 * A sample's lag in ms: the histogram records the whole interval of its
 * RESOLUTION_MS timer, so an idle loop would show ~10 ms; the delay is what
 * exceeds the schedule.
 */
function lag(ns: number): number {
  return Math.max(0, finite(ns / 1e6) - RESOLUTION_MS);
}

/** The figures of the current window, from its start to `now`. */
function measure(s: Observers, now: EventLoopUtilization, nowMs: number): LoopWindow {
  const h = s.hist;
  const empty = h.count === 0; // an empty histogram reports NaN mean, 511 percentiles, huge min
  return {
    p50: empty ? 0 : lag(h.percentile(50)),
    p99: empty ? 0 : lag(h.percentile(99)),
    max: empty ? 0 : lag(h.max),
    mean: empty ? 0 : lag(h.mean),
    utilization: finite(performance.eventLoopUtilization(now, s.windowElu).utilization),
    seconds: Math.max(0, (nowMs - s.windowStart) / 1000),
  };
}

/**
 * Ends the current window. Run from setImmediate, after the timers phase: a
 * stall that delayed this tick has by then been recorded by the histogram's
 * own timer (histogram.reset() drops the first delay measured after it). A
 * window without samples is not ended: it extends to the next tick.
 */
function roll(): void {
  const s = active;
  if (!s || s.hist.count === 0) return;
  const now = performance.eventLoopUtilization();
  const nowMs = performance.now();
  s.last = measure(s, now, nowMs);
  s.windows++;
  s.hist.reset();
  s.windowElu = now;
  s.windowStart = nowMs;
}

function tick(): void {
  setImmediate(roll);
}

function startTimer(): NodeJS.Timeout {
  const t = setInterval(tick, windowMs);
  t.unref();
  return t;
}

function start(): Observers {
  const hist = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  hist.enable();
  const gcObserver = new PerformanceObserver(onGc);
  const elu = performance.eventLoopUtilization();
  const s: Observers = {
    hist, gcObserver, startElu: elu, windowElu: elu, windowStart: performance.now(), timer: startTimer(),
    windows: 0, gcCount: 0, gcPauseMs: 0, gcPauseMaxMs: 0, major: 0, minor: 0, incremental: 0, weakcb: 0,
  };
  active = s;
  gcObserver.observe({ entryTypes: ['gc'] });
  return s;
}

function stop(s: Observers): void {
  clearInterval(s.timer);
  s.gcObserver.disconnect();
  s.hist.disable();
  if (active === s) active = undefined;
}

/** The event-loop part of read(): last completed window, else the partial one. */
function loopFigures(s: Observers): RuntimeMetrics['event_loop'] {
  const now = performance.eventLoopUtilization();
  const w = s.last ?? measure(s, now, performance.now());
  const total = performance.eventLoopUtilization(now, s.startElu);
  return {
    delay_p50_ms: w.p50,
    delay_p99_ms: w.p99,
    delay_max_ms: w.max,
    delay_mean_ms: w.mean,
    utilization: Math.min(1, Math.max(0, w.utilization)),
    window_seconds: w.seconds,
    windows_completed: s.windows,
    active_seconds_total: finite(total.active / 1000),
    idle_seconds_total: finite(total.idle / 1000),
  };
}

const NO_LOOP: RuntimeMetrics['event_loop'] = {
  delay_p50_ms: 0, delay_p99_ms: 0, delay_max_ms: 0, delay_mean_ms: 0, utilization: 0,
  window_seconds: 0, windows_completed: 0, active_seconds_total: 0, idle_seconds_total: 0,
};

/**
 * One acquisition of the process-wide monitor. read() may be called at any
 * rate (it only reads counters and the last window); after every monitor is
 * released the GC and event-loop figures read 0.
 */
export class RuntimeMonitor {
  read(): RuntimeMetrics {
    const heap = v8.getHeapStatistics();
    const mem = process.memoryUsage();
    const s = active;
    return {
      uptime_seconds: finite(process.uptime()),
      heap_used_bytes: finite(heap.used_heap_size),
      heap_total_bytes: finite(heap.total_heap_size),
      heap_limit_bytes: finite(heap.heap_size_limit),
      heap_utilization: heap.total_heap_size > 0 ? finite(Math.min(1, heap.used_heap_size / heap.total_heap_size)) : 0,
      rss_bytes: finite(mem.rss),
      external_bytes: finite(mem.external),
      array_buffers_bytes: finite(mem.arrayBuffers),
      gc: {
        count: s ? s.gcCount : 0,
        pause_seconds_total: s ? finite(s.gcPauseMs / 1000) : 0,
        pause_max_ms: s ? finite(s.gcPauseMaxMs) : 0,
        major: s ? s.major : 0,
        minor: s ? s.minor : 0,
        incremental: s ? s.incremental : 0,
        weakcb: s ? s.weakcb : 0,
      },
      event_loop: s ? loopFigures(s) : { ...NO_LOOP },
    };
  }
}

/** Refcounted process-wide monitor: the first acquire starts the observers, the last release stops them. */
export function acquireRuntimeMonitor(): RuntimeMonitor {
  if (refs++ === 0) start();
  const m = new RuntimeMonitor();
  held.add(m);
  return m;
}

/** Gives back one acquisition; releasing the same monitor again (or one not acquired) does nothing. */
export function releaseRuntimeMonitor(m: RuntimeMonitor): void {
  if (!held.delete(m) || refs === 0) return;
  if (--refs === 0 && active) stop(active);
}

/** @internal Whether the process-wide observers are running (tests). */
export function runtimeMonitorActive(): boolean {
  return active !== undefined;
}

/**
 * Test-only: sets the window length in ms (no argument: back to
 * RUNTIME_WINDOW_MS). A running monitor's timer restarts: its current
 * window ends one new window length from now.
 */
export function setRuntimeWindowMs(ms: number = RUNTIME_WINDOW_MS): void {
  if (!Number.isFinite(ms) || ms < 1) throw new RangeError(`runtime window of ${ms} ms is not a positive number`);
  windowMs = ms;
  const s = active;
  if (!s) return;
  clearInterval(s.timer);
  s.timer = startTimer();
}
