// valk-aio: an HTTP/2 (TLS, ALPN h2) server in C on its own libuv thread.
export {
  AioServer,
  AioSystem,
  AdminListenOptions,
  ListenOptions,
  RouteSpec,
  StopReport,
  start,
  startWithConfig,
} from './system';
export {
  CONFIG_FIELDS,
  ConfigError,
  ResolvedConfig,
  ResolvedServerConfig,
  ServerConfig,
  SystemConfig,
  ConfigWarning,
  configWarningList,
  configWarnings,
  defaultConfig,
  resolveConfig,
  resolveServerConfig,
  validateConfig,
} from './config';
export { Footprint, estimateFootprint } from './footprint';
export { KeyPair, generateSelfSigned } from './tls';
export { VALK_ERROR_CODES, ValkError, ValkErrorCode, errorCode } from './errors';
export { AioClient, ClientRequest, ClientResponse, ConnectOptions } from './client';
export { BodyTooLargeError, Handler, Request, Response, StreamingBody } from './handler';
export { FetchHandler, toHandler } from './fetch-adapter';
export { RequestListener, fromRequestListener } from './node-adapter';
export { AioMetrics, LatencyHistogram, METRICS_SCHEMA_VERSION, MetricField, ServerMetrics, metricFields } from './metrics';
export { RuntimeMetrics } from './runtime';
export { AioEvent, EventBatch, decodeEvents, eventKinds } from './events';
export { DrainReport, DrainStep, NotReadyReason, Readiness } from './readiness';
export { PROMETHEUS_CONTENT_TYPE } from './prometheus';
export { NativeConstants, NativeMetricDesc, NativeMetrics, NativePoolGauges, NativeServerMetrics } from './native';

import { NativeConstants, native } from './native';

/** Sizes and versions the addon was built with (nghttp2 from Debian's source, the process's OpenSSL). */
export function nativeInfo(): NativeConstants {
  return native().constants;
}
