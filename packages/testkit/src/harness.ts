import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isAlive, waitUntil } from './process.js';

export const fixtures = {
  app: fileURLToPath(new URL('../fixtures/app.mjs', import.meta.url)),
  /** Nothing but its HTTP server holds the event loop; its SIGTERM handler closes it, then writes a marker. */
  plainApp: fileURLToPath(new URL('../fixtures/plain-app.mjs', import.meta.url)),
  /** One long-lived protocol (PROTO=ws|sse|h2c|h2), same plain shape. */
  protocolsApp: fileURLToPath(new URL('../fixtures/protocols-app.mjs', import.meta.url)),
  master: fileURLToPath(new URL('../fixtures/master.mjs', import.meta.url)),
  /** A plugin that prints every hook call and can throw or hang on purpose. */
  recorderPlugin: fileURLToPath(new URL('../fixtures/recorder-plugin.mjs', import.meta.url)),
};

/** What the fixture master runs, as JSON (it crosses into the master's process). */
export interface MasterSpec {
  /** `createMaster` options; `exec` defaults to the fixture app (`fixtures.app`). */
  options?: Record<string, unknown>;
  /**
   * Plugins, in order: a package name (resolved from `cwd`) or an absolute module path, and the export
   * that is the factory (default `default`), called with `options`.
   */
  plugins?: { package: string; export?: string; options?: unknown }[];
  /** Modules whose default export(options) returns a plugin object (for test-only plugins). */
  inlinePlugins?: (string | { module: string; options?: unknown })[];
  /** Custom event names to record besides the core ones (`plugin-name:event`). */
  listen?: string[];
}

export interface MasterEvent {
  ev: string;
  t: number;
  args?: any[];
  [key: string]: any;
}

export interface StartOptions {
  /** Where packages resolve from: the directory of the package under test. */
  cwd: string;
  env?: Record<string, string | undefined>;
  /** A master script of your own instead of the generic fixture (e.g. an umbrella `init()` script). */
  script?: string;
  /** Arguments for that script. */
  args?: string[];
  /** Print the master's output as it comes (or set MP_TEST_VERBOSE=1). */
  verbose?: boolean;
}

/**
 * A real master in a child process. Every event it prints is collected; every pid it forks is
 * remembered so `cleanup()` can kill what is left, by pid.
 */
export class MasterHandle {
  /** Every handle not yet cleaned up, for `cleanupAll()`. */
  static readonly live = new Set<MasterHandle>();

  readonly events: MasterEvent[] = [];
  readonly appLines: MasterEvent[] = [];
  readonly output: string[] = [];
  readonly pids = new Set<number>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];
  private nextId = 1;

  constructor(readonly child: ChildProcess, verbose: boolean) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.wake();
      resolve({ code, signal });
    }));
    const take = (stream: NodeJS.ReadableStream, name: string) =>
      createInterface({ input: stream }).on('line', (line) => {
        if (verbose) process.stderr.write(`[${name} ${child.pid}] ${line}\n`);
        this.output.push(line);
        if (!line.startsWith('{')) return this.wake();
        try {
          const parsed = JSON.parse(line);
          if (parsed.ev) {
            this.events.push(parsed);
            const worker = parsed.args?.[0];
            if (parsed.ev === 'worker:fork' && worker?.pid) this.pids.add(worker.pid);
          } else if (parsed.app) {
            this.appLines.push(parsed);
            if (parsed.pid) this.pids.add(parsed.pid);
          }
        } catch {
          /* a worker's own output */
        }
        this.wake();
      });
    take(child.stdout!, 'out');
    take(child.stderr!, 'err');
  }

  get pid(): number {
    return this.child.pid!;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when `check` returns a value (re-checked on every line of output), or rejects after `timeout`. */
  async until<T>(what: string, check: () => T | undefined | false, timeout = 60_000): Promise<T> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const value = check();
      if (value !== undefined && value !== false) return value as T;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        const again = check();
        if (again !== undefined && again !== false) return again as T;
        throw new Error(`master ${this.pid} exited (${this.child.exitCode ?? this.child.signalCode}) while waiting for ${what}\n${this.tail()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeout} ms waiting for ${what}\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The first event named `ev` (from index `since` on) that satisfies `match`. */
  waitFor(ev: string, match: (e: MasterEvent) => boolean = () => true, options: { since?: number; timeout?: number } = {}): Promise<MasterEvent> {
    const since = options.since ?? 0;
    return this.until(`event ${ev}`, () => this.events.slice(since).find((e) => e.ev === ev && match(e)), options.timeout);
  }

  /** Index to pass as `since` to wait only for events after now. */
  mark(): number {
    return this.events.length;
  }

  count(ev: string, match: (e: MasterEvent) => boolean = () => true): number {
    return this.events.filter((e) => e.ev === ev && match(e)).length;
  }

  /** Send a command to the fixture master; resolves with its value or rejects with its error (code + message). */
  async command(cmd: string, args: Record<string, unknown> = {}, timeout = 60_000): Promise<any> {
    const id = this.nextId++;
    this.child.stdin!.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    const result = await this.until(`result of ${cmd}`, () => this.events.find((e) => e.ev === 'result' && e.id === id), timeout);
    if (result.ok) return result.value;
    throw Object.assign(new Error(result.error?.message), { code: result.error?.code });
  }

  started(timeout = 60_000): Promise<MasterEvent> {
    return this.until('master start', () => {
      const failed = this.events.find((e) => e.ev === 'start-failed' || e.ev === 'create-failed');
      if (failed) throw Object.assign(new Error(`master failed to start: ${failed.error?.message}`), { code: failed.error?.code });
      return this.events.find((e) => e.ev === 'started');
    }, timeout);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async workers(): Promise<{ pid: number; slot: number; generation: number; state: string }[]> {
    return this.command('workers');
  }

  /** `master.reload()`: resolves its result, or rejects with its error (`code`, message). */
  reload(): Promise<any> {
    return this.command('reload');
  }

  /** `master.stop(code)` and wait for the master process to exit. */
  async stop(code = 0): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await this.command('stop', { code }).catch(() => {});
    return this.exited;
  }

  /** Call a method of a plugin's `api` in the master (`master.plugin(name)[method](...args)`); resolves its (awaited) value. */
  callApi(name: string, method: string, ...args: unknown[]): Promise<any> {
    return this.command('call', { name, method, args });
  }

  /** `master.request(pid, plugin, type, payload, options)` in the master. */
  request(pid: number, plugin: string, type: string, payload?: unknown, options?: { timeout?: number | string }): Promise<any> {
    return this.command('request', { pid, plugin, type, payload, options });
  }

  /** `master.gather(plugin, type, payload, options)`: each reply `{ worker, ok, value }` or `{ worker, ok: false, error: { code, message } }`. */
  gather(plugin: string, type: string, payload?: unknown, options?: { timeout?: number | string }): Promise<any[]> {
    return this.command('gather', { plugin, type, payload, options });
  }

  tail(lines = 40): string {
    return this.output.slice(-lines).join('\n');
  }

  /** Kill the master and every worker it ever forked (SIGKILL, by pid) and wait until they are gone. */
  async cleanup(): Promise<void> {
    MasterHandle.live.delete(this);
    const all = [this.pid, ...this.pids];
    for (const pid of all) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    await waitUntil(() => all.every((pid) => !isAlive(pid)), 10_000, 'every process of the master to be gone');
  }
}

export function startMaster(spec: MasterSpec, options: StartOptions): MasterHandle {
  const child = spawn(process.execPath, [options.script ?? fixtures.master, ...(options.args ?? [])], {
    cwd: options.cwd,
    env: { ...process.env, MP_MASTER_SPEC: JSON.stringify(spec), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const handle = new MasterHandle(child, options.verbose ?? process.env.MP_TEST_VERBOSE === '1');
  MasterHandle.live.add(handle);
  return handle;
}

/** Clean up every master started and not cleaned up yet (for an `afterEach`/`after` hook). */
export async function cleanupAll(): Promise<void> {
  await Promise.all([...MasterHandle.live].map((handle) => handle.cleanup()));
}
