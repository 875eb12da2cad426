// Declared compatibility: a plugin's `core` range and `requires`, checked at createMaster before
// anything forks. Ranges are npm's (the `semver` package, what npm itself uses: no dependencies).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { ErrorCode, MasterProcessError } from './errors.js';
import type { Plugin, PluginRequirement } from './types.js';

const CORE = '@master-process/core';

/** This core's version, from its package.json (src/ and dist/ both sit one level below it). */
export const version: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** A requirement in its long form. */
export function requirement(entry: PluginRequirement): { name: string; version?: string; optional?: boolean; package?: string } {
  return typeof entry === 'string' ? { name: entry } : entry;
}

const satisfies = (v: string, range: string) => semver.satisfies(v, range, { includePrerelease: true });
const install = (pkg: string | undefined, range: string | undefined) => (pkg ? `${pkg}${range ? `@"${range}"` : ''}` : undefined);

/**
 * Refuse plugins that declared a core range this core is not in, or that require a plugin that is
 * missing (unless optional) or of a version outside the required range.
 */
export function checkCompatibility(plugins: readonly Plugin[], coreVersion = version): void {
  const byName = new Map(plugins.map((p) => [p.name, p]));
  for (const plugin of plugins) {
    const self = `Plugin "${plugin.name}"${plugin.version ? ` ${plugin.version}` : ''}`;
    if (plugin.core !== undefined && !satisfies(coreVersion, plugin.core)) {
      throw Object.assign(
        new MasterProcessError(
          ErrorCode.PLUGIN_VERSION_MISMATCH,
          `${self} works with ${CORE} ${plugin.core}, but this is ${CORE} ${coreVersion}. Install a version of the plugin made for ${CORE} ${coreVersion} ` +
            `(its peerDependencies say which), or install ${CORE}@"${plugin.core}".`,
        ),
        { plugin: plugin.name },
      );
    }
    for (const entry of plugin.requires ?? []) {
      const need = requirement(entry);
      const found = byName.get(need.name);
      const wanted = `plugin "${need.name}"${need.version ? ` ${need.version}` : ''}`;
      if (!found) {
        if (need.optional) continue;
        const what = install(need.package, need.version);
        throw Object.assign(
          new MasterProcessError(
            ErrorCode.PLUGIN_DEPENDENCY_MISSING,
            `${self} requires ${wanted}, which is not in this master's plugins (${plugins.map((p) => p.name).join(', ')}). ` +
              `${what ? `Install ${what} and add` : 'Add'} its plugin to \`plugins\`.`,
          ),
          { plugin: plugin.name, requires: need.name },
        );
      }
      if (need.version !== undefined && (found.version === undefined || !satisfies(found.version, need.version))) {
        const what = install(need.package, need.version) ?? `a version of "${need.name}" within ${need.version}`;
        throw Object.assign(
          new MasterProcessError(
            ErrorCode.PLUGIN_VERSION_MISMATCH,
            `${self} requires ${wanted}, but the registered "${need.name}" ${found.version ? `is ${found.version}` : 'declares no version'}. Install ${what}.`,
          ),
          { plugin: plugin.name, requires: need.name },
        );
      }
    }
  }
}

/** True for a valid version / range, for plugin validation. */
export const isVersion = (value: unknown): value is string => typeof value === 'string' && semver.valid(value) !== null;
export const isRange = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '' && semver.validRange(value) !== null;

/**
 * A plugin package's declared compatibility, from its own package.json: `version`, and `core` = its
 * peerDependencies range on @master-process/core (one source of truth for npm and for createMaster).
 * `moduleUrl` is the plugin module's `import.meta.url`; the nearest package.json above it is read.
 * Inside a pnpm workspace (`workspace:^`) there is nothing to check. Nothing found (a bundled
 * master): `{}`, so a plugin never fails to load over it.
 *
 * ```ts
 * export const myPlugin = definePlugin((options) => ({ name: 'my-plugin', ...packageCompatibility(import.meta.url), ... }));
 * ```
 */
export function packageCompatibility(moduleUrl: string): { version?: string; core?: string } {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    let pkg: { name?: unknown; version?: unknown; peerDependencies?: Record<string, unknown> } | undefined;
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      /* none here (or unreadable): look further up */
    }
    // A package.json without a name (`{ "type": "commonjs" }` in a dist folder) is not the package's.
    if (pkg && typeof pkg.name === 'string') {
      let core = pkg.peerDependencies?.[CORE];
      if (typeof core === 'string' && core.startsWith('workspace:')) core = core.slice('workspace:'.length).replace(/^[*^~]$/, '');
      return {
        ...(isVersion(pkg.version) ? { version: pkg.version } : {}),
        ...(isRange(core) ? { core } : {}),
      };
    }
    const parent = dirname(dir);
    if (parent === dir) return {};
    dir = parent;
  }
}
