import type { Stats } from 'node:fs';
import { createLogger, definePlugin, packageCompatibility, removeSocketIfSame, warn, type Plugin } from '@master-process/core';
import { bindControlSocket } from './bind.js';
import { ENV, PKG } from './location.js';
import { resolveControlOptions, type ControlOptions } from './options.js';
import { ControlServer } from './server.js';
import { ReloadTracker } from './tracker.js';

const log = createLogger('control');

export const NAME = 'control';

/** `version` and the `core` range, from this package's package.json. */
const compatibility = packageCompatibility(import.meta.url);

/** What `master.plugin('control')` returns. */
export interface ControlApi {
  /** Where the control socket listens; undefined before setup, or when it could not be created. */
  readonly path: string | undefined;
  readonly name: string;
}

/**
 * A unix control socket for the `master-process` CLI and deploy scripts: `status`, `reload` (answered with
 * its outcome) and `stop`. Only the master's user (and an optional group) can connect: the socket is 0600
 * from its creation, in a 0700 folder. A socket that cannot be created never fails the start: one warning.
 */
export function control(options: ControlOptions = {}): Plugin<ControlApi> {
  const settings = resolveControlOptions(options);
  let server: ControlServer | undefined;
  let tracker: ReloadTracker | undefined;
  let bound: { path: string; stats: Stats } | undefined;

  return definePlugin({
    name: NAME,
    ...compatibility,
    api: {
      get path() {
        return bound?.path;
      },
      name: settings.name,
    },

    async setup(master) {
      // Workers inherit the master's environment: they must not learn where the socket is.
      delete process.env[ENV.SOCKET];
      delete process.env[ENV.DIR];
      tracker = new ReloadTracker(master);
      server = new ControlServer(master, tracker, settings);
      const result = await bindControlSocket(server.server, settings, log);
      if (!result.ok) {
        warn(`${PKG}: ${result.warning}`);
        return;
      }
      bound = { path: result.path, stats: result.stats };
      server.socketPath = result.path;
      log('listening on %s (mode %s)', result.path, settings.group ? `0660, group ${settings.group.label}` : '0600');
    },

    async onExit(info) {
      await server?.close(info);
      tracker?.close();
      // Closing the server removes the file; a socket put there since by someone else is not ours.
      if (bound) await removeSocketIfSame(bound.path, bound.stats).catch(() => false);
      bound = undefined;
    },
  });
}

declare module '@master-process/core' {
  interface PluginApis {
    control: ControlApi;
  }
}
