import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * The `package.json` of `name` as Node's `node_modules` lookup from `from` finds it. Symlinks are kept
 * (not resolved to their target): a package manager that swaps the link (pnpm) changes what this path reads.
 */
export function locateManifest(name: string, from: string): string | undefined {
  const require = createRequire(path.join(from, 'noop.js'));
  for (const dir of require.resolve.paths(name) ?? []) {
    const file = path.join(dir, name, 'package.json');
    if (existsSync(file)) return file;
  }
  // Not under a node_modules folder (a package's self-reference, Yarn PnP): ask Node's resolver.
  try {
    return require.resolve(`${name}/package.json`);
  } catch {
    /* an `exports` map without "./package.json": find it from the entry point */
  }
  try {
    return findManifestAbove(path.dirname(require.resolve(name)), name);
  } catch {
    return undefined;
  }
}

/** The nearest package.json at or above `dir` that names `name`. */
export function findManifestAbove(dir: string, name: string): string | undefined {
  for (let current = dir; ; current = path.dirname(current)) {
    const file = path.join(current, 'package.json');
    const read = readManifest(file);
    if (read.ok && read.name === name) return file;
    if (path.dirname(current) === current) return undefined;
  }
}

export type ManifestRead = { ok: true; name?: string; version: string } | { ok: false; reason: string };

/** A manifest counts only when it parses and carries a version: during an install it may be missing, empty or half-written. */
export function readManifest(file: string): ManifestRead {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return { ok: false, reason: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  }
  if (text.trim() === '') return { ok: false, reason: 'empty' };
  let manifest: { name?: unknown; version?: unknown };
  try {
    manifest = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON (half-written?)' };
  }
  if (typeof manifest?.version !== 'string' || manifest.version === '') return { ok: false, reason: 'no "version" field' };
  return { ok: true, version: manifest.version, ...(typeof manifest.name === 'string' ? { name: manifest.name } : {}) };
}
