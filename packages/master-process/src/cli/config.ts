import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { MasterOptions } from '@master-process/core';
import { UsageError } from './exit-codes.js';

/** Looked for in the working directory, in this order, when no --config is given. */
export const CONFIG_FILES = ['master-process.config.js', 'master-process.config.mjs', 'master-process.config.cjs', 'master-process.config.json'];

const firstLine = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/**
 * `createMaster` options from a config file: JSON, or a module whose default export (`export default`,
 * `module.exports`) is the options object or a function returning it. A relative `exec` is relative to the file.
 */
export async function loadConfig(explicit: string | undefined, cwd: string): Promise<{ file?: string; options: MasterOptions }> {
  let file: string;
  if (explicit !== undefined) {
    file = resolve(cwd, explicit);
    if (!existsSync(file)) throw new UsageError(`--config ${explicit}: no such file.`);
  } else {
    const found = CONFIG_FILES.map((name) => join(cwd, name)).filter((f) => existsSync(f));
    if (found.length === 0) return { options: {} };
    if (found.length > 1) throw new UsageError(`two config files in ${cwd}: ${found.join(', ')}. Keep one, or pick one with --config <file>.`);
    file = found[0]!;
  }
  let value: unknown;
  if (file.endsWith('.json')) {
    try {
      value = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new UsageError(`config ${file} is not valid JSON: ${firstLine(error)}`);
    }
  } else {
    let module: { default?: unknown };
    try {
      module = await import(pathToFileURL(file).href);
    } catch (error) {
      throw new UsageError(`config ${file} failed to load: ${firstLine(error)}`);
    }
    value = module.default;
    if (value === undefined) throw new UsageError(`config ${file} has no default export: write \`export default { ... }\` (or \`module.exports = { ... }\`) with createMaster options.`);
    if (typeof value === 'function') {
      try {
        value = await (value as () => unknown)();
      } catch (error) {
        throw new UsageError(`config ${file}: its exported function threw: ${firstLine(error)}`);
      }
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`config ${file} must export an object of createMaster options (workers, killTimeout, plugins...); got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}.`);
  }
  const options = { ...(value as MasterOptions) };
  if (typeof options.exec === 'string' && !isAbsolute(options.exec)) options.exec = resolve(dirname(file), options.exec);
  return { file, options };
}
