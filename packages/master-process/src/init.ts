import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMaster, warn, type Master, type MasterOptions, type MasterProcessError } from '@master-process/core';
import { control, type ControlOptions } from '@master-process/plugin-control';
import { metrics } from '@master-process/plugin-metrics';
import { monitor } from '@master-process/plugin-monitor';
import { profilerSignal } from '@master-process/plugin-profiler-signal';
import { activatedSockets, systemd } from '@master-process/plugin-systemd';
import { unixSocket } from '@master-process/plugin-unix-socket';
import { versionGuard } from '@master-process/plugin-version-guard';

const ownDir = dirname(fileURLToPath(import.meta.url));

/**
 * The plugins master-process 4.x had built in, each configured from its 4.x environment variables, the
 * control socket for the `master-process` CLI, systemd's (it does nothing without NOTIFY_SOCKET or
 * LISTEN_FDS), and the metrics endpoint when METRICS_PORT or METRICS_SOCKET asks for it. `exec`: the app's script (the version guard also watches the master-process its node_modules
 * reaches); `options.control`: options of the control plugin.
 */
export function defaultPlugins(exec: string = process.argv[1] ?? process.cwd(), options: { control?: ControlOptions } = {}) {
  // A unix socket systemd passed (a .socket unit) is systemd's: not ours to remove, chmod or probe.
  const port = process.env.PORT;
  const systemdOwnsSocket = port?.startsWith('/') === true && activatedSockets().some((s) => s.path === resolve(port));
  return [
    // 4.x quit when its own package changed on disk: guard the copy that runs (this file's package), seen
    // through the app's node_modules when its script reaches that same copy (a link pnpm re-points).
    versionGuard({ packages: [{ name: 'master-process', dir: ownDir }], cwd: dirname(resolve(exec)) }),
    ...(systemdOwnsSocket ? [] : [unixSocket()]),
    monitor(),
    profilerSignal(),
    control(options.control),
    systemd(),
    // It opens a port (and needs prom-client): only when asked for.
    ...(process.env.METRICS_PORT?.trim() || process.env.METRICS_SOCKET?.trim() ? [metrics()] : []),
  ];
}

/**
 * Drop-in for master-process 4.x: call it in the primary, at the top of the app's own script.
 *
 * ```js
 * if (cluster.isPrimary) {
 *   require('master-process').init();
 *   return;
 * }
 * ```
 * Starts a master running this same script as workers (`WORKERS`, `MAX_KILL_TIMEOUT`, `WORKER_THROTTLE`,
 * `PORT=/path.sock`, `MAX_MEMORY_ALLOWED_MB`... as in 4.x), with every plugin. Options, if given, are
 * `createMaster` options and win over the environment; `plugins` are added after the built-in ones.
 * A bad option or environment variable, or a start failure, is printed in one line and ends the process with
 * exit code 1, as a crash loop does (with `exitProcess: false`, createMaster's error is thrown instead).
 */
export function init(options: MasterOptions = {}): Master {
  const { plugins = [], ...rest } = options;
  let master: Master;
  try {
    master = createMaster({ ...rest, plugins: [...defaultPlugins(rest.exec), ...plugins] });
  } catch (error) {
    // 4.x users see one line and exit code 1, not a stack trace out of dist/.
    // By code, not instanceof: a plugin may carry its own copy of the core.
    const code = (error as MasterProcessError | undefined)?.code;
    // In a worker (no isPrimary guard) the error is thrown: the master then names it in its one line.
    if (typeof code !== 'string' || !code.startsWith('MP_ERR_') || code === 'MP_ERR_NOT_PRIMARY' || rest.exitProcess === false) throw error;
    warn((error as Error).message);
    process.exit(1);
  }
  master.start().catch(() => {
    // Printed by the master, which stops and exits 1 itself (unless exitProcess is false).
  });
  return master;
}
