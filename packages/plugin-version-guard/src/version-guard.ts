import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { watch, type FSWatcher } from 'chokidar';
import { createLogger, MasterProcessError, warn, type Master, type Plugin } from '@master-process/core';
import { locateManifest, readManifest } from './manifest.js';
import { CORE_PACKAGE, PKG, resolveOptions, type VersionGuardOptions } from './options.js';

const log = createLogger('version-guard');

/** Stable codes of the errors this plugin throws at start. */
export const VersionGuardErrorCode = {
  NOT_FOUND: 'MP_ERR_VERSION_GUARD_NOT_FOUND',
  UNREADABLE: 'MP_ERR_VERSION_GUARD_UNREADABLE',
} as const;

export interface VersionChange {
  package: string;
  from: string;
  to: string;
  /** The package.json that was read. */
  path: string;
}

/** Emitted once per new version seen: `master.on('version-guard:changed', (change) => ...)`. */
export const CHANGED_EVENT = 'version-guard:changed';

export interface VersionGuardApi {
  /** Each guarded package: the version read at start and the package.json it came from. */
  versions(): Record<string, { version: string; path: string }>;
}

interface Guarded {
  readonly name: string;
  /** Where the lookup starts. */
  readonly from: string;
  readonly version: string;
  file: string;
  watcher?: FSWatcher;
  retry?: NodeJS.Timeout;
}

interface CheckResult {
  change?: VersionChange;
  /** Packages whose package.json could not be read just now (mid-install). */
  unreadable: string[];
}

// Where this plugin is installed: the core next to it is the one the master runs.
const ownDir = path.dirname(fileURLToPath(import.meta.url));

/**
 * A master whose own packages were upgraded on disk exits (after draining its workers) so the
 * service manager starts a fresh one, instead of forking workers with stale master code.
 */
export function versionGuard(options: VersionGuardOptions = {}): Plugin<VersionGuardApi> {
  const settings = resolveOptions(options);
  const guarded: Guarded[] = [];
  const noticed = new Map<string, string>();
  let master: Master | undefined;
  let acting = false;
  let closed = false;

  /**
   * Watch one package.json afresh. Polling its path, not inotify on the file: npm replaces a whole package
   * folder and pnpm swaps a symlink, which a watch on the old file never hears of; a stat per interval is cheap.
   * One watcher per file: chokidar re-watches a deleted file only when it is its sole path, and misses a deep
   * path that comes back at once (`npm ci`), so a missing file is looked for each interval until it is back.
   */
  function arm(entry: Guarded, ignoreInitial: boolean): Promise<void> {
    void entry.watcher?.close();
    entry.watcher = undefined;
    clearTimeout(entry.retry);
    if (closed) return Promise.resolve();
    if (!existsSync(entry.file)) {
      // unref'd: the workers keep the master alive; this only waits for the file.
      entry.retry = setTimeout(() => void arm(entry, false), settings.interval).unref();
      return Promise.resolve();
    }
    const w = watch(entry.file, {
      // After a re-arm the file may have changed before the watcher's first look: its initial add is checked.
      ignoreInitial,
      usePolling: true,
      interval: settings.interval,
      binaryInterval: settings.interval,
      awaitWriteFinish: { stabilityThreshold: settings.settle, pollInterval: Math.min(100, settings.settle) },
    });
    entry.watcher = w;
    w.on('all', (event, file) => onFileEvent(entry, event, file));
    w.on('error', (error) => log('watcher error: %s', error instanceof Error ? error.message : String(error)));
    return new Promise<void>((resolve) => w.once('ready', resolve));
  }

  /** Re-locates every package (a replaced folder or link is seen) and reads its version. */
  function check(): CheckResult {
    const unreadable: string[] = [];
    for (const entry of guarded) {
      const file = locateManifest(entry.name, entry.from);
      if (file && file !== entry.file) {
        log('%s now found at %s (was %s)', entry.name, file, entry.file);
        entry.file = file;
        void arm(entry, false);
      }
      const read = readManifest(entry.file);
      if (!read.ok) {
        log('%s: %s unreadable (%s): not a change until it reads', entry.name, entry.file, read.reason);
        unreadable.push(entry.name);
      } else if (read.version !== entry.version) {
        return { change: { package: entry.name, from: entry.version, to: read.version, path: entry.file }, unreadable };
      } else {
        log('%s: still %s', entry.name, entry.version);
      }
    }
    return { unreadable };
  }

  function notice(change: VersionChange): void {
    if (noticed.get(change.package) === change.to) return;
    noticed.set(change.package, change.to);
    log('%s changed on disk: %s -> %s (%s); %s', change.package, change.from, change.to, change.path,
      settings.on === 'change' ? 'exiting now' : 'exiting before the next fork');
    master?.emit(CHANGED_EVENT, change);
  }

  function act(change: VersionChange): void {
    if (acting || !master) return;
    acting = true;
    notice(change);
    const reason = `version changed: ${change.package} ${change.from} -> ${change.to}`;
    // Printed whatever DEBUG says: an operator must see why the master quit.
    warn(
      `${PKG}: ${change.package} was upgraded on disk (${change.from} -> ${change.to}); the master drains its workers and exits with code ${settings.exitCode} so the service manager starts a fresh master.`,
    );
    void master.stop(settings.exitCode, reason);
  }

  function onFileEvent(entry: Guarded, event: string, file: string): void {
    if (acting || closed) return;
    log('%s %s', event, file);
    const { change } = check();
    if (change && settings.on === 'change') act(change);
    else if (change) notice(change);
    if (event === 'unlink' && !acting) void arm(entry, false);
  }

  return {
    name: 'version-guard',
    api: {
      versions: () => Object.fromEntries(guarded.map((g) => [g.name, { version: g.version, path: g.file }])),
    },

    async setup(m) {
      master = m;
      for (const name of settings.packages) {
        let from = settings.cwd;
        let file = locateManifest(name, from);
        // The default guard must not fail a master started from elsewhere (systemd's cwd is /).
        if (!file && name === CORE_PACKAGE) file = locateManifest(name, (from = ownDir));
        if (!file) {
          throw new MasterProcessError(
            VersionGuardErrorCode.NOT_FOUND,
            `${PKG}: cannot find package "${name}" from ${settings.cwd} (option \`cwd\`). Install it there, fix its name in option \`packages\`, or point \`cwd\` at the app's directory.`,
          );
        }
        const read = readManifest(file);
        if (!read.ok) {
          throw new MasterProcessError(VersionGuardErrorCode.UNREADABLE, `${PKG}: cannot read the version of "${name}" from ${file}: ${read.reason}. Reinstall the package.`);
        }
        guarded.push({ name, from, version: read.version, file });
        log('guarding %s %s (%s)', name, read.version, file);
      }
      await Promise.all(guarded.map((entry) => arm(entry, true)));
    },

    async beforeFork() {
      if (acting) return; // the master is stopping: core refuses the fork
      let { change, unreadable } = check();
      if (!change && unreadable.length > 0) {
        // Mid-install: give the write a moment to settle rather than fork on a half-known version.
        await delay(settings.settle, undefined, { ref: false });
        ({ change, unreadable } = check());
        if (unreadable.length > 0) log('forking although %s cannot be read yet', unreadable.join(', '));
      }
      // Stopping is enough: core refuses every fork once the master stops, without a failed-plugin error.
      if (change) act(change);
    },

    async onExit() {
      closed = true;
      for (const entry of guarded) clearTimeout(entry.retry);
      await Promise.all(guarded.map((entry) => entry.watcher?.close()));
    },
  };
}
