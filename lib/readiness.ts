// Readiness and drain (docs/design.md §14): what /ready answers, and what a
// drain reports. A load balancer reads /ready; /health stays liveness.
//
// Thread: Node's main thread.
import type { NativeStopReport } from './native';

/** Why an instance is not ready. */
export type NotReadyReason = 'draining' | 'watermark_critical' | 'connections_full' | 'stopped';

export interface Readiness {
  ready: boolean;
  /** Empty when ready. */
  reasons: NotReadyReason[];
}

/** What readiness reads of a metrics snapshot (metrics().watermark, metrics().connections). */
export interface ReadinessInput {
  watermark: { state: string };
  connections: { available: number };
}

/** The reasons, from one metrics snapshot: draining, the watermark critical, the connection slab full. */
export function readinessOf(m: ReadinessInput, draining: boolean): Readiness {
  const reasons: NotReadyReason[] = [];
  if (draining) reasons.push('draining');
  if (m.watermark.state === 'critical') reasons.push('watermark_critical');
  if (m.connections.available === 0) reasons.push('connections_full');
  return { ready: reasons.length === 0, reasons };
}

/** One step of a drain, as drain()'s onStep hears it (and the CLI logs it). */
export interface DrainStep {
  /** draining: /ready 503; closing: the servers stop accepting, GOAWAY; closed: every connection gone; stopped. */
  step: 'draining' | 'closing' | 'closed' | 'stopped';
  /** Since the drain began. */
  ms: number;
  /** Connections holding a slot then. */
  connections: number;
  /** Requests (streams) open then, on every server. */
  requests_in_flight: number;
}

export interface DrainReport {
  /** How long the drain took, start to stopped. */
  ms: number;
  /** Connections open when the servers stopped accepting. */
  connections: number;
  /** Requests (streams) open then. */
  requests_in_flight: number;
  /** Connections still open at drainTimeoutMs, closed by force (their requests lost). */
  forced: number;
  /** Graceful closes begun with the two-step GOAWAY. */
  notices: number;
  /** What stop() reported (0 leaked when healthy). */
  stop: NativeStopReport;
}
