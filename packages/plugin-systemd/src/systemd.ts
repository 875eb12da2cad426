import { createRequire } from 'node:module';
import {
  assertKnownKeys, createLogger, definePlugin, MasterProcessError, packageCompatibility, parseBoolean, parseOneOf, resolveSetting, warn,
  type ForkContext, type Master, type Plugin,
} from '@master-process/core';
import { checkPort, passSockets, servedSockets, type ServedSocket } from './activation.js';
import { activation, LISTEN_VARIABLES, notifyAddress, NOTIFY_VARIABLES, PKG, watchdogInterval, type NotifyAddress } from './environment.js';
import { SystemdErrorCode } from './errors.js';
import { Notifier, wireNotifications, type NotifyWiring } from './notify.js';
import { commandSender, findCommand, loadNative, nativeSender, type Sender } from './sender.js';

const compatibility = packageCompatibility(import.meta.url);

const log = createLogger('systemd');

export const NAME = 'systemd';

export interface SystemdOptions {
  /** Send sd_notify messages when systemd sets NOTIFY_SOCKET (default true). */
  notify?: boolean;
  /**
   * `auto` (default): node-unix-socket for a socket path, systemd-notify for an abstract or vsock address
   * or when the module is not installed; `native` or `command` to insist on one.
   */
  sender?: 'auto' | 'native' | 'command';
  /** Send WATCHDOG=1 every WATCHDOG_USEC/2 when the unit sets WatchdogSec= (default true). */
  watchdog?: boolean;
  /** Have every worker serve the sockets systemd passes (LISTEN_FDS, a .socket unit) (default true). */
  sockets?: boolean;
}

const boolean = (option: string, value: unknown) => resolveSetting({ option, value, default: true, parse: (v, s) => parseBoolean(v, s, PKG) });

function chooseSender(choice: 'auto' | 'native' | 'command', address: NotifyAddress): Sender {
  const tried: string[] = [];
  if (choice !== 'command') {
    if (address.kind !== 'path') tried.push(`node-unix-socket cannot send to ${address.kind === 'abstract' ? 'an abstract socket' : 'a vsock address'} (${address.address})`);
    else {
      const native = loadNative();
      if ('DgramSocket' in native) return nativeSender(address.address, native.DgramSocket);
      tried.push(`the optional dependency node-unix-socket did not load (${native.error})`);
    }
  }
  if (choice !== 'native') {
    const command = findCommand('systemd-notify');
    if (command) return commandSender(command, address);
    tried.push('systemd-notify is not on PATH');
  }
  throw new MasterProcessError(
    SystemdErrorCode.NO_SENDER,
    `${PKG}: NOTIFY_SOCKET=${address.address} is set but there is no way to notify systemd: ${tried.join('; ')}. ` +
      (choice === 'native' ? 'Use sender "auto" or "command", or ' : '') +
      'install node-unix-socket (prebuilt, no compiler needed; it is an optional dependency, so do not install with --no-optional) or systemd (systemd-notify). Without it systemd never hears READY=1 and stops the service at TimeoutStartSec=.',
  );
}

/** The worker half, as the preload loads it (require): the CommonJS build. */
function workerModule(): string {
  return createRequire(import.meta.url).resolve('@master-process/plugin-systemd/worker');
}

/**
 * systemd integration. With NOTIFY_SOCKET (Type=notify or notify-reload): READY=1 once every slot is
 * ready, RELOADING=1 + MONOTONIC_USEC then READY=1 around each reload (whatever its outcome), STOPPING=1
 * and EXTEND_TIMEOUT_USEC at stop, STATUS= lines, WATCHDOG=1 pings. With LISTEN_FDS (a .socket unit):
 * every worker serves the passed sockets, so even a restart of the master refuses no connection.
 * Without either it does nothing. Workers never see NOTIFY_SOCKET, WATCHDOG_* or LISTEN_*.
 */
export function systemd(options: SystemdOptions = {}, environment: NodeJS.ProcessEnv = process.env): Plugin {
  assertKnownKeys(options, new Set(['notify', 'sender', 'watchdog', 'sockets']), { pkg: PKG });
  const notifyOn = boolean('notify', options.notify);
  const watchdogOn = boolean('watchdog', options.watchdog);
  const socketsOn = boolean('sockets', options.sockets);
  const choice = resolveSetting({ option: 'sender', value: options.sender, default: 'auto' as const, parse: parseOneOf(['auto', 'native', 'command'] as const) });

  const address = notifyOn ? notifyAddress(environment) : undefined;
  const watchdogMs = address && watchdogOn ? watchdogInterval(environment, process.pid) : undefined;
  const passed = socketsOn ? activation(environment, process.pid) : undefined;
  if (passed && 'foreignPid' in passed) {
    warn(`${PKG}: LISTEN_FDS is set for process ${passed.foreignPid}, not for this master (${process.pid}): its sockets are not used. Start the master itself from the unit (ExecStart=/usr/bin/node server.js, or exec in a wrapper script), not through npm or a shell that forks.`);
  }
  const fds = passed && 'sockets' in passed ? passed.sockets : [];
  // Never for the workers: they are neither systemd's main process nor the LISTEN_PID.
  const hidden = [...(address ? NOTIFY_VARIABLES : []), ...(environment.LISTEN_FDS !== undefined ? LISTEN_VARIABLES : [])];
  if (!address && hidden.length === 0) {
    log('nothing to do: no NOTIFY_SOCKET and no sockets passed (LISTEN_FDS)');
    return definePlugin({ name: NAME, ...compatibility });
  }
  const served: ServedSocket[] = servedSockets(fds);
  checkPort(served, environment.PORT);

  let master: Master | undefined;
  let wiring: NotifyWiring | undefined;

  return definePlugin({
    name: NAME,
    ...compatibility,
    ...(served.length > 0 ? { worker: { module: workerModule() } } : {}),

    async setup(m: Master) {
      master = m;
      if (!address) return;
      const notifier = new Notifier(chooseSender(choice, address), address.address);
      log('notifying %s with the %s sender%s', address.address, notifier.sender.kind, watchdogMs ? `, watchdog every ${watchdogMs} ms` : '');
      wiring = wireNotifications(m, notifier, watchdogMs);
      await notifier.notify({ STATUS: `starting ${m.options.workers} worker(s)` });
    },

    beforeFork(fork: ForkContext) {
      for (const name of hidden) fork.env[name] = undefined;
      if (served.length > 0) passSockets(fork, served, { ...environment, ...master?.options.env });
    },

    async onExit() {
      await wiring?.close();
      wiring = undefined;
    },
  });
}
