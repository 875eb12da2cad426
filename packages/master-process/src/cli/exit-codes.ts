/** The CLI's exit codes: a deploy script can write `master-process reload || rollback`. */
export const EXIT = {
  /** reload: the new generation serves and the old one has drained and exited; status/stop: done. */
  OK: 0,
  /** reload: failed and rolled back, the old generation still serves; stop: the master exited with a non-zero code. */
  FAILED: 1,
  /** A bad command, flag, flag value or config file. */
  USAGE: 2,
  /** No master running (nothing at the socket path, or a stale socket left by a killed master). */
  NO_MASTER: 3,
  /** The socket belongs to another user. */
  DENIED: 4,
  /** The master is stopping: no reload. */
  STOPPING: 5,
  /** No outcome within --timeout; the operation goes on in the master. */
  TIMEOUT: 6,
  /** The socket answered, but not as a master of this version, or the master could not run the request. */
  PROTOCOL: 7,
  /** The connection was lost before the outcome: it is unknown. */
  LOST: 8,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A usage error: printed on one line, exit 2. */
export class UsageError extends Error {}
