export { createMaster } from './master.js';
export { ErrorCode, MasterProcessError, invalidValue, describeSource, type ErrorCodeValue, type ValueSource } from './errors.js';
export { createLogger, ROOT_NAMESPACE, warn, type Logger } from './log.js';
export {
  assertKnownKeys, parseBoolean, parseDuration, parseNumber, parseOneOf, parseWorkers, resolveSetting,
  type NumberRange, type Setting,
} from './parse.js';
export { resolveOptions } from './options.js';
export { HOOK_NAMES } from './types.js';
export type {
  Awaitable, CrashOptions, EventArgs, ForkContext, ForkReason, HookName, ListeningAddress, Master, MasterEventName,
  MasterEvents, MasterOptions, MasterState, Plugin, ReloadOptions, ReloadResult, RequestOptions, ResolvedOptions, StopInfo,
  WorkerExit, WorkerHalf, WorkerInfo, WorkerReply, WorkerState,
} from './types.js';
