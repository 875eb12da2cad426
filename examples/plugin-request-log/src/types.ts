/** One worker's counts since it started. */
export interface WorkerCounts {
  total: number;
  /** Responses by HTTP status code. */
  byStatus: Record<string, number>;
  /** When the worker started counting (ms since epoch). */
  since: number;
}

export interface RequestLogReport {
  /** When the report was made (ms since epoch). */
  at: number;
  /** Sums over the workers that answered. */
  total: number;
  byStatus: Record<string, number>;
  workers: (WorkerCounts & { pid: number; slot: number; generation: number })[];
  /** Serving workers that did not answer (exited meanwhile, timed out): their responses are not in the sums. */
  missing: { pid: number; slot: number; code: string; message: string }[];
}

/** What `master.plugin('request-log')` returns. */
export interface RequestLogApi {
  /** Ask every serving worker for its counts. */
  report(): Promise<RequestLogReport>;
}

export interface RequestLogOptions {
  /** Emit a `request-log:report` event this often (ms or `"30s"`; env `REQUEST_LOG_INTERVAL`; default 0: only on demand). */
  interval?: number | string;
  /** How long each worker may take to answer (default 2 s). */
  timeout?: number | string;
}
