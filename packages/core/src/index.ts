export { createMaster } from './master.js';
export { definePlugin } from './define.js';
export { packageCompatibility, version } from './compat.js';
export { isExecutable } from './executable.js';
export { ErrorCode, MasterProcessError, invalidValue, describeSource, type ErrorCodeValue, type ValueSource } from './errors.js';
export { createLogger, ROOT_NAMESPACE, warn, type Logger } from './log.js';
export {
  assertKnownKeys, parseBoolean, parseDuration, parseNumber, parseOneOf, parseWorkers, resolveSetting,
  type NumberRange, type Setting,
} from './parse.js';
export { resolveOptions } from './options.js';
export { inspectSocketPath, listenPrivately, lstatOrNull, MAX_SOCKET_PATH_BYTES, parseSocketPath, removeSocketIfSame, type SocketPathState } from './socket-file.js';
export { HOOK_NAMES } from './types.js';
export type {
  Awaitable, CrashOptions, EventArgs, Falsy, ForkContext, ForkReason, HookName, ListeningAddress, Master, MasterEventName,
  MasterEvents, MasterOptions, MasterState, OpenConnections, Plugin, PluginApis, PluginRequirement, ReloadOptions, ReloadPhase, ReloadResult,
  ReloadTrigger, RequestOptions, ResolvedOptions, StopInfo, WorkerExit, WorkerFailure, WorkerHalf, WorkerInfo, WorkerReply, WorkerState,
} from './types.js';
