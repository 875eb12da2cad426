export { PYTHON, socketActivationUnavailable, socketHolder, startActivatedMaster, startRestartedMaster, type ActivatedOptions } from './activation.js';
export { cleanupAll, fixtures, MasterHandle, startMaster, type MasterEvent, type MasterSpec, type StartOptions } from './harness.js';
export { httpGet, runLoad, summarize, type LatencySummary, type LoadOptions, type LoadResult, type LoadTarget } from './load.js';
export { freePort, isAlive, sleep, staleSocket, tempDir, waitUntil, within } from './process.js';
export { runEventStreamClients, type EventStreamClientsResult, type EventStreamSession } from './event-stream.js';
export { runHttp2Load, type Http2LoadResult } from './http2-load.js';
export { runWebSocketClients, type WebSocketClientsResult, type WebSocketSession } from './websocket.js';
