import createDebug from 'debug';

export const ROOT_NAMESPACE = 'master-process';

// The original documented `DEBUG=master-process`; keep it meaning "every package of ours".
function widenRootNamespace(): void {
  const current = process.env.DEBUG;
  if (!current) return;
  const names = current.split(/[\s,]+/);
  if (names.includes(ROOT_NAMESPACE) && !names.includes(`${ROOT_NAMESPACE}:*`)) {
    createDebug.enable(`${current},${ROOT_NAMESPACE}:*`);
  }
}
widenRootNamespace();

/**
 * A logger from `createLogger`: printf-style (`%s`, `%d`, `%o`, `%j`), silent unless `DEBUG` names its namespace.
 * Our own type, not `debug`'s: public types must not need `@types/debug` (a consumer without `skipLibCheck`
 * would fail on it).
 */
export interface Logger {
  (format: unknown, ...args: unknown[]): void;
  /** Whether `DEBUG` enables this namespace: check it before computing costly arguments. */
  readonly enabled: boolean;
  /** `master-process:<name>`. */
  readonly namespace: string;
}

/** A `debug` logger under `master-process:<name>`, e.g. `createLogger('monitor')`. */
export function createLogger(name: string): Logger {
  return createDebug(`${ROOT_NAMESPACE}:${name}`);
}

/** Printed whatever DEBUG says: for what an operator must see (a failed reload, a refused start, a quitting master). */
export function warn(text: string): void {
  process.stderr.write(`${ROOT_NAMESPACE}: ${text}\n`);
}
