import { existsSync, realpathSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { watch, type FSWatcher } from 'chokidar';
import { createLogger, definePlugin, MasterProcessError, packageCompatibility, warn, type Master, type Plugin } from '@master-process/core';
import { findManifestAbove, locateManifest, readManifest } from './manifest.js';
import { PKG, resolveOptions, type VersionGuardOptions } from './options.js';

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

declare module '@master-process/core' {
  interface PluginApis {
    'version-guard': VersionGuardApi;
  }
}

interface Guarded {
  readonly name: string;
  /** Where the lookup starts again before each check (a package found by name from the app); unset for a running copy. */
  readonly from?: string;
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

function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

/** `version` and the `core` range, from this package's package.json. */
const compatibility = packageCompatibility(import.meta.url);

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
      const file = entry.from === undefined ? undefined : locateManifest(entry.name, entry.from);
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

  /** A package the app names: found from `cwd` as its `require` would, or a clear error. */
  function fromApp(name: string): { name: string; from: string; file: string } {
    const file = locateManifest(name, settings.cwd);
    if (!file) {
      throw new MasterProcessError(
        VersionGuardErrorCode.NOT_FOUND,
        `${PKG}: cannot find package "${name}" from ${settings.cwd} (option \`cwd\`). Install it there, fix its name in option \`packages\`, or point \`cwd\` at the app's directory.`,
      );
    }
    return { name, from: settings.cwd, file };
  }

  /**
   * The copy that runs. When the app's own lookup from `cwd` reaches that same copy (through a link pnpm
   * may re-point, or npm's folder), that path is watched, so a swap is seen; another copy there is ignored.
   */
  function runningCopy(name: string, dir: string): { name: string; file: string } {
    const own = findManifestAbove(dir, name);
    if (!own) throw new MasterProcessError(VersionGuardErrorCode.NOT_FOUND, `${PKG}: no package.json of "${name}" at or above ${dir} (packages[].dir must be a folder inside that package).`);
    const seen = locateManifest(name, settings.cwd);
    if (seen && seen !== own) {
      if (sameFile(seen, own)) return { name, file: seen };
      log('%s: ignoring %s, another copy than the running one (%s)', name, seen, own);
    }
    return { name, file: own };
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

  return definePlugin({
    name: 'version-guard',
    ...compatibility,
    api: {
      versions: () => Object.fromEntries(guarded.map((g) => [g.name, { version: g.version, path: g.file }])),
    },

    async setup(m) {
      master = m;
      for (const spec of settings.packages) {
        const entry = spec.dir === undefined ? fromApp(spec.name) : runningCopy(spec.name, spec.dir);
        const read = readManifest(entry.file);
        if (!read.ok) {
          throw new MasterProcessError(VersionGuardErrorCode.UNREADABLE, `${PKG}: cannot read the version of "${spec.name}" from ${entry.file}: ${read.reason}. Reinstall the package.`);
        }
        guarded.push({ ...entry, version: read.version });
        log('guarding %s %s (%s)', spec.name, read.version, entry.file);
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
  });
}
