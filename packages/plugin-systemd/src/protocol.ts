// What the master half tells the worker half of each fork, in one environment variable.
export const SOCKETS_ENV = 'MASTER_PROCESS_SYSTEMD_SOCKETS';

/** A socket systemd passed to the master, as a worker inherits it. */
export interface WorkerSocket {
  /** The worker's descriptor (not the master's). */
  fd: number;
  /** LISTEN_FDNAMES name. */
  name: string;
  /** `unknown`: not found in /proc (another network namespace); Node tells TCP from unix at listen. */
  type: 'tcp' | 'unix' | 'unknown';
  port?: number;
  path?: string;
}
