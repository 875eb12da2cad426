import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { assertKnownKeys, invalidValue, parseDuration, parseNumber, parseOneOf, resolveSetting } from '@master-process/core';

export const PKG = '@master-process/plugin-version-guard';
/** Always guarded: the master's own code. */
export const CORE_PACKAGE = '@master-process/core';

export type VersionGuardAction = 'next-fork' | 'change';

/**
 * A package to guard: a name is looked up from `cwd` as the app's `require` would find it (and must be there);
 * `{ name, dir }` is the running copy of `name`: the package that contains `dir` (pass the folder of your own
 * module), so it is always found, wherever the app lives.
 */
export type GuardedPackage = string | { name: string; dir: string };

export interface PackageSpec {
  name: string;
  /** Set for a running copy: a folder inside it. */
  dir?: string;
}

export interface VersionGuardOptions {
  /** Packages guarded besides the running `@master-process/core`, e.g. `['@master-process/plugin-monitor']`. */
  packages?: readonly GuardedPackage[];
  /** `'next-fork'` (default): a change is logged at once and acted on before the next fork (reload, crash, replace); `'change'`: acted on as soon as it is seen. */
  on?: VersionGuardAction;
  /** Exit code of the master after a version change (default 1, so a service manager restarts it). */
  exitCode?: number;
  /** Where packages are looked up from, as Node would from there (default `process.cwd()`). */
  cwd?: string;
  /** How long a package.json must stay the same size before it is read (default 500ms). */
  settle?: number | string;
  /** How often the guarded package.json files are checked on disk (default 500ms). */
  interval?: number | string;
}

export interface ResolvedVersionGuardOptions {
  packages: PackageSpec[];
  on: VersionGuardAction;
  exitCode: number;
  cwd: string;
  settle: number;
  interval: number;
}

// A bare package name, scoped or not: what `require(name)` accepts without a path.
const PACKAGE_NAME = /^(?:@[^/@\s]+\/)?[^/@.\s][^/\s]*$/;

// The core this plugin imports: the copy the master runs, whatever copy the app's folder may hold.
const runningCore: PackageSpec = { name: CORE_PACKAGE, dir: path.dirname(createRequire(import.meta.url).resolve(CORE_PACKAGE)) };

function parsePackages(value: unknown, source: { option?: string }): PackageSpec[] {
  const accepted = 'an array of package names such as ["master-process", "@master-process/plugin-monitor"], or { name, dir } for a running copy';
  if (!Array.isArray(value)) throw invalidValue(source, value, accepted, PKG);
  const specs = value.map((entry: unknown, i): PackageSpec => {
    const option = { option: `packages[${i}]` };
    const named = 'a package name such as "master-process" or "@scope/name" (not a path), or { name, dir } with dir a folder inside the running copy';
    if (typeof entry === 'string') {
      if (!PACKAGE_NAME.test(entry)) throw invalidValue(option, entry, named, PKG);
      return { name: entry };
    }
    if (entry === null || typeof entry !== 'object') throw invalidValue(option, entry, named, PKG);
    assertKnownKeys(entry, new Set(['name', 'dir']), { prefix: `packages[${i}].`, pkg: PKG });
    const { name, dir } = entry as { name?: unknown; dir?: unknown };
    if (typeof name !== 'string' || !PACKAGE_NAME.test(name)) throw invalidValue({ option: `packages[${i}].name` }, name, 'a package name', PKG);
    return { name, dir: parseDirectory(dir, { option: `packages[${i}].dir` }) };
  });
  // One entry per name; the running core first, and a running copy wins over a lookup by name.
  const byName = new Map<string, PackageSpec>([[CORE_PACKAGE, runningCore]]);
  for (const spec of specs) if (!byName.has(spec.name) || (spec.dir && !byName.get(spec.name)!.dir)) byName.set(spec.name, spec);
  return [...byName.values()];
}

function parseDirectory(value: unknown, source: { option?: string }): string {
  const accepted = 'the path of an existing directory';
  if (typeof value !== 'string' || value.trim() === '') throw invalidValue(source, value, accepted, PKG);
  const dir = path.resolve(value);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw invalidValue(source, value, accepted, PKG);
  return dir;
}

function positiveDuration(value: unknown, source: { option?: string }): number {
  return parseDuration(value, source, PKG, 10);
}

export function resolveOptions(options: VersionGuardOptions): ResolvedVersionGuardOptions {
  assertKnownKeys(options, new Set(['packages', 'on', 'exitCode', 'cwd', 'settle', 'interval']), { pkg: PKG });
  return {
    packages: resolveSetting({ option: 'packages', value: options.packages, default: [runningCore], parse: parsePackages }),
    on: resolveSetting({ option: 'on', value: options.on, default: 'next-fork', parse: (v, s) => parseOneOf<VersionGuardAction>(['next-fork', 'change'])(v, s, PKG) }),
    exitCode: resolveSetting({ option: 'exitCode', value: options.exitCode, default: 1, parse: (v, s) => parseNumber(v, s, { integer: true, min: 0, max: 255 }, PKG) }),
    cwd: resolveSetting({ option: 'cwd', value: options.cwd, default: process.cwd(), parse: parseDirectory }),
    settle: resolveSetting({ option: 'settle', value: options.settle, default: 500, parse: positiveDuration }),
    interval: resolveSetting({ option: 'interval', value: options.interval, default: 500, parse: positiveDuration }),
  };
}
