export { createMaster } from './master.js';
export { ErrorCode, MasterProcessError, invalidValue, describeSource, type ErrorCodeValue, type ValueSource } from './errors.js';
export { createLogger, ROOT_NAMESPACE, warn, type Logger } from './log.js';
export {
  assertKnownKeys, parseBoolean, parseDuration, parseNumber, parseOneOf, parseWorkers, resolveSetting,
  type NumberRange, type Setting,
} from './parse.js';
export { resolveOptions } from './options.js';
export { inspectSocketPath, lstatOrNull, MAX_SOCKET_PATH_BYTES, removeSocketIfSame, type SocketPathState } from './socket-file.js';
export { HOOK_NAMES } from './types.js';
export type {
  Awaitable, CrashOptions, EventArgs, ForkContext, ForkReason, HookName, ListeningAddress, Master, MasterEventName,
  MasterEvents, MasterOptions, MasterState, Plugin, ReloadOptions, ReloadPhase, ReloadResult, ReloadTrigger, ResolvedOptions,
  StopInfo, WorkerExit, WorkerFailure, WorkerInfo, WorkerState,
} from './types.js';
