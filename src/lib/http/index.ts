/** The callback listener and the ops server, as main.ts wires them. */
export { createCallbackListener, type CallbackListenerDeps } from './server.ts';
export { createMetricsServer, type MetricsServerDeps } from './metrics-server.ts';
export type { HttpApp } from './http-app.ts';
export type { CallbackSink, SinkOutcome } from './sink.ts';
