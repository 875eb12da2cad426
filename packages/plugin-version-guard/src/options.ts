import { statSync } from 'node:fs';
import path from 'node:path';
import { assertKnownKeys, invalidValue, parseDuration, parseNumber, parseOneOf, resolveSetting } from '@master-process/core';

export const PKG = '@master-process/plugin-version-guard';
/** Always guarded: the master's own code. */
export const CORE_PACKAGE = '@master-process/core';

export type VersionGuardAction = 'next-fork' | 'change';

export interface VersionGuardOptions {
  /** Packages guarded besides `@master-process/core`, e.g. `['master-process', '@master-process/plugin-monitor']`. */
  packages?: readonly string[];
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
  packages: string[];
  on: VersionGuardAction;
  exitCode: number;
  cwd: string;
  settle: number;
  interval: number;
}

// A bare package name, scoped or not: what `require(name)` accepts without a path.
const PACKAGE_NAME = /^(?:@[^/@\s]+\/)?[^/@.\s][^/\s]*$/;

function parsePackages(value: unknown, source: { option?: string }): string[] {
  const accepted = 'an array of package names such as ["master-process", "@master-process/plugin-monitor"]';
  if (!Array.isArray(value)) throw invalidValue(source, value, accepted, PKG);
  value.forEach((name: unknown, i) => {
    if (typeof name !== 'string' || !PACKAGE_NAME.test(name)) throw invalidValue({ option: `packages[${i}]` }, name, 'a package name such as "master-process" or "@scope/name" (not a path)', PKG);
  });
  return [...new Set([CORE_PACKAGE, ...(value as string[])])];
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
    packages: resolveSetting({ option: 'packages', value: options.packages, default: [CORE_PACKAGE], parse: parsePackages }),
    on: resolveSetting({ option: 'on', value: options.on, default: 'next-fork', parse: (v, s) => parseOneOf<VersionGuardAction>(['next-fork', 'change'])(v, s, PKG) }),
    exitCode: resolveSetting({ option: 'exitCode', value: options.exitCode, default: 1, parse: (v, s) => parseNumber(v, s, { integer: true, min: 0, max: 255 }, PKG) }),
    cwd: resolveSetting({ option: 'cwd', value: options.cwd, default: process.cwd(), parse: parseDirectory }),
    settle: resolveSetting({ option: 'settle', value: options.settle, default: 500, parse: positiveDuration }),
    interval: resolveSetting({ option: 'interval', value: options.interval, default: 500, parse: positiveDuration }),
  };
}
