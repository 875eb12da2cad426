import { isAbsolute } from 'node:path';
import { ErrorCode, MasterProcessError, show } from './errors.js';
import { HOOK_NAMES, type HookName, type Plugin } from './types.js';

const OWN_KEYS = new Set<string>(['name', 'signals', 'api', 'worker', ...HOOK_NAMES]);
const CORE_SIGNALS = new Set<string>(['SIGHUP', 'SIGTERM', 'SIGINT']);
// Node cannot listen for these (SIGKILL/SIGSTOP) or must not (SIGCHLD drives child reaping's semantics).
const FORBIDDEN_SIGNALS = new Set<string>(['SIGKILL', 'SIGSTOP']);

type HookArgs<H extends HookName> = Parameters<NonNullable<Plugin[H]>>;

/** The edit distance, to suggest the hook a typo meant. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function invalidPlugin(index: number, what: string): MasterProcessError {
  return new MasterProcessError(ErrorCode.INVALID_PLUGIN, `@master-process/core: invalid option \`plugins\`[${index}]: ${what}`);
}

function validateWorkerHalf(index: number, name: string, worker: unknown): void {
  const accepted = 'an absolute module path, or { module: <absolute path>, options?: <JSON> }; e.g. fileURLToPath(new URL("./worker.js", import.meta.url))';
  const spec = typeof worker === 'string' ? { module: worker } : (worker as Record<string, unknown> | null);
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec) || Object.keys(spec).some((k) => k !== 'module' && k !== 'options')) {
    throw invalidPlugin(index, `plugin "${name}": \`worker\` must be ${accepted}; got ${show(worker)}.`);
  }
  if (typeof spec.module !== 'string' || !isAbsolute(spec.module)) {
    throw invalidPlugin(index, `plugin "${name}": \`worker\` module must be an absolute path (workers resolve nothing relative to the plugin); got ${show(spec.module)}. Accepted: ${accepted}.`);
  }
  if (spec.options !== undefined) {
    let json: string | undefined;
    try {
      json = JSON.stringify(spec.options);
    } catch {
      /* a cycle or a BigInt */
    }
    if (json === undefined) throw invalidPlugin(index, `plugin "${name}": \`worker.options\` must be JSON (it travels to each worker in an environment variable); got ${show(spec.options)}.`);
  }
}

export function validatePlugins(plugins: unknown): Plugin[] {
  if (plugins === undefined) return [];
  if (!Array.isArray(plugins)) {
    throw new MasterProcessError(ErrorCode.INVALID_PLUGIN, `@master-process/core: invalid option \`plugins\`: got ${show(plugins)}. Accepted: an array of plugin objects ({ name, ...hooks }).`);
  }
  const seen = new Map<string, number>();
  plugins.forEach((plugin: unknown, index) => {
    if (plugin === null || typeof plugin !== 'object' || Array.isArray(plugin)) {
      throw invalidPlugin(index, `got ${show(plugin)}. Accepted: a plugin object { name, ...hooks } (did you pass the factory instead of calling it?).`);
    }
    const p = plugin as Record<string, unknown>;
    if (typeof p.name !== 'string' || p.name.trim() === '') {
      throw invalidPlugin(index, `a plugin needs a non-empty string \`name\`; got ${show(p.name)}. Hooks found: ${Object.keys(p).join(', ') || 'none'}.`);
    }
    const name = p.name;
    if (seen.has(name)) {
      throw new MasterProcessError(
        ErrorCode.DUPLICATE_PLUGIN,
        `@master-process/core: two plugins are named "${name}" (plugins[${seen.get(name)}] and plugins[${index}]). Register each plugin once, or give them distinct names.`,
      );
    }
    seen.set(name, index);
    for (const key of Object.keys(p)) {
      if (OWN_KEYS.has(key)) continue;
      const best = [...HOOK_NAMES].sort((a, b) => distance(key, a) - distance(key, b))[0]!;
      const hint = distance(key, best) <= 3 ? ` Did you mean \`${best}\`?` : '';
      throw new MasterProcessError(
        ErrorCode.UNKNOWN_HOOK,
        `@master-process/core: plugin "${name}" has an unknown key \`${key}\`.${hint} Accepted: name, signals, api, worker, ${HOOK_NAMES.join(', ')}.`,
      );
    }
    for (const hook of HOOK_NAMES) {
      if (p[hook] !== undefined && typeof p[hook] !== 'function') {
        throw invalidPlugin(index, `plugin "${name}": hook \`${hook}\` must be a function; got ${show(p[hook])}.`);
      }
    }
    if (p.worker !== undefined) validateWorkerHalf(index, name, p.worker);
    if (p.signals !== undefined) {
      if (!Array.isArray(p.signals)) throw invalidPlugin(index, `plugin "${name}": \`signals\` must be an array of signal names such as ["SIGUSR2"]; got ${show(p.signals)}.`);
      for (const signal of p.signals) {
        if (typeof signal !== 'string' || !/^SIG[A-Z0-9]+$/.test(signal) || FORBIDDEN_SIGNALS.has(signal) || CORE_SIGNALS.has(signal)) {
          throw invalidPlugin(
            index,
            `plugin "${name}": cannot handle signal ${show(signal)}. Accepted: signal names such as "SIGUSR2"; not SIGKILL/SIGSTOP, and SIGHUP/SIGTERM/SIGINT reach every onSignal hook anyway.`,
          );
        }
      }
    }
  });
  return plugins as Plugin[];
}

export interface HookFailure {
  error: MasterProcessError;
}

/** Runs hooks in registration order, each awaited and bounded by `timeout`. */
export class PluginHost {
  constructor(
    readonly plugins: readonly Plugin[],
    private readonly timeout: number,
    private readonly report: (error: MasterProcessError) => void,
  ) {}

  get signals(): Set<NodeJS.Signals> {
    return new Set(this.plugins.flatMap((p) => p.signals ?? []));
  }

  api<A>(name: string): A | undefined {
    return this.plugins.find((p) => p.name === name)?.api as A | undefined;
  }

  /**
   * Call `hook` on every plugin that has it. With `bail`, the first failure is thrown
   * (after being reported); without, failures are reported and the rest still run.
   */
  async run<H extends HookName>(hook: H, args: HookArgs<H>, options: { bail?: boolean; only?: (p: Plugin) => boolean } = {}): Promise<void> {
    for (const plugin of this.plugins) {
      const fn = plugin[hook] as ((...a: unknown[]) => unknown) | undefined;
      if (!fn || (options.only && !options.only(plugin))) continue;
      try {
        await this.call(plugin, hook, () => fn.apply(plugin, args));
      } catch (error) {
        const wrapped = error as MasterProcessError;
        this.report(wrapped);
        if (options.bail) throw wrapped;
      }
    }
  }

  private call(plugin: Plugin, hook: HookName, fn: () => unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new MasterProcessError(
            ErrorCode.HOOK_TIMEOUT,
            `Plugin "${plugin.name}" did not finish its \`${hook}\` hook within ${this.timeout} ms (option \`hookTimeout\`). The master went on without it; make the hook resolve, or raise \`hookTimeout\`.`,
          ),
        );
      }, this.timeout);
      timer.unref();
      Promise.resolve()
        .then(fn)
        .then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            clearTimeout(timer);
            const message = error instanceof Error ? error.message : String(error);
            const wrapped = new MasterProcessError(ErrorCode.PLUGIN_HOOK, `Plugin "${plugin.name}" failed in its \`${hook}\` hook: ${message}`, { cause: error });
            Object.assign(wrapped, { plugin: plugin.name, hook });
            reject(wrapped);
          },
        );
    });
  }
}
