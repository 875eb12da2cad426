import { control } from './control.js';

export { control };
export type { ControlApi } from './control.js';
export type { ControlOptions, ResolvedControlOptions } from './options.js';
export { resolveControlOptions } from './options.js';
export { ControlErrorCode } from './errors.js';
export { connectControl, type ControlClient, type ConnectOptions } from './client.js';
export { defaultName, ENV, parseName, socketCandidates, workingDirectory, type Location, type SocketCandidate } from './location.js';
export { COMMANDS, PROTOCOL_VERSION, SERVER_ID, type Command, type Hello, type Progress, type Reply, type ReplyError, type RequestId } from './protocol.js';
export type { Status, WorkerStatus } from './status.js';
export type { CurrentReload, FailureReport, LastReload, WorkerBrief } from './tracker.js';
export default control;
