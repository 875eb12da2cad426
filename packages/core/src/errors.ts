/** Stable error codes: match on `err.code`, never on the message. */
export const ErrorCode = {
  INVALID_OPTION: 'MP_ERR_INVALID_OPTION',
  INVALID_ENV: 'MP_ERR_INVALID_ENV',
  INVALID_PLUGIN: 'MP_ERR_INVALID_PLUGIN',
  DUPLICATE_PLUGIN: 'MP_ERR_DUPLICATE_PLUGIN',
  UNKNOWN_HOOK: 'MP_ERR_UNKNOWN_HOOK',
  PLUGIN_HOOK: 'MP_ERR_PLUGIN_HOOK',
  HOOK_TIMEOUT: 'MP_ERR_HOOK_TIMEOUT',
  READY_TIMEOUT: 'MP_ERR_READY_TIMEOUT',
  WORKER_EXIT: 'MP_ERR_WORKER_EXIT',
  RELOAD_FAILED: 'MP_ERR_RELOAD_FAILED',
  STOPPING: 'MP_ERR_STOPPING',
  NOT_RUNNING: 'MP_ERR_NOT_RUNNING',
  ALREADY_STARTED: 'MP_ERR_ALREADY_STARTED',
  NOT_PRIMARY: 'MP_ERR_NOT_PRIMARY',
  CRASH_LOOP: 'MP_ERR_CRASH_LOOP',
  START_FAILED: 'MP_ERR_START_FAILED',
  INVALID_SLOT: 'MP_ERR_INVALID_SLOT',
  PLUGIN_WORKER: 'MP_ERR_PLUGIN_WORKER',
  NO_HANDLER: 'MP_ERR_NO_HANDLER',
  REQUEST_TIMEOUT: 'MP_ERR_REQUEST_TIMEOUT',
  REQUEST_FAILED: 'MP_ERR_REQUEST_FAILED',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class MasterProcessError extends Error {
  /** One of `ErrorCode`, or a plugin's own `MP_ERR_<PLUGIN>_*` code. */
  readonly code: ErrorCodeValue | (string & {});
  constructor(code: ErrorCodeValue | (string & {}), message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MasterProcessError';
    this.code = code;
  }
}

/** Where a value came from, as users name it: `option \`workers\`` or `environment variable WORKERS`. */
export interface ValueSource {
  option?: string;
  env?: string;
}

export function describeSource(source: ValueSource): string {
  return source.env !== undefined ? `environment variable ${source.env}` : `option \`${source.option}\``;
}

export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return `a function`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** "Invalid environment variable WORKERS: got "abc". Accepted: ..." */
export function invalidValue(source: ValueSource, value: unknown, accepted: string, pkg = '@master-process/core'): MasterProcessError {
  const code = source.env !== undefined ? ErrorCode.INVALID_ENV : ErrorCode.INVALID_OPTION;
  return new MasterProcessError(code, `${pkg}: invalid ${describeSource(source)}: got ${show(value)}. Accepted: ${accepted}.`);
}
