import type { MasterProcessError } from './errors.js';

export type Awaitable<T> = T | Promise<T>;

/**
 * A worker's life, in Node's words: `forked` → `online` → `listening` → `ready`
 * → `disconnecting` (out of rotation, draining) → `exited`.
 */
export type WorkerState = 'forked' | 'online' | 'listening' | 'ready' | 'disconnecting' | 'exited';

/** Why a worker was forked. */
export type ForkReason = 'start' | 'reload' | 'crash' | 'replace';

/** A read-only view of one worker. */
export interface WorkerInfo {
  /** Cluster worker id (unique within the master's life). */
  readonly id: number;
  readonly pid: number;
  /** Slot index, 0..workers-1; exported to the worker as `WORKER_INDEX`. */
  readonly slot: number;
  /** Reload generation; exported as `RELOAD_INDEX`. 0 at start, +1 per reload. */
  readonly generation: number;
  readonly state: WorkerState;
  readonly reason: ForkReason;
  /** ms since epoch. */
  readonly forkedAt: number;
  readonly readyAt?: number;
}

export interface ListeningAddress {
  address: string | null;
  port?: number;
  /** 4, 6, or -1 for a unix socket / named pipe (then `address` is the path). */
  addressType: number | string;
}

/** Connections a retiring worker still had open, by kind, from its last drain report. */
export interface OpenConnections {
  /** HTTP/1 connections: a request in flight, or a keep-alive connection not closed yet. */
  http: number;
  /** Upgraded connections (WebSocket, ...): the drain never closes them; the app does, or the kill timeout. */
  upgraded: number;
  /** `text/event-stream` responses still open (the drain ends them, unless the app opted out). */
  eventStreams: number;
  /** HTTP/2 sessions not closed yet (sent GOAWAY; a stream still open). */
  http2: number;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the master retired it (reload, replace, stop); false for a crash. */
  expected: boolean;
  /**
   * True when the master had to SIGKILL it: it had not exited at the kill timeout (or on a second stop
   * signal). A warning on stderr says what it still had open.
   */
  killed: boolean;
  /** With `killed`: what the worker last reported still open (absent when it sent no report). */
  open?: OpenConnections;
  /** The last lines it wrote to stderr (up to 30 lines / 8 KiB), when `captureStderr` is on and it wrote any. */
  stderr?: string;
}

/** The new worker that made a reload fail, for a report (a deploy tool, the control socket). */
export interface WorkerFailure {
  worker: WorkerInfo;
  /** How it ended, when it exited (before ready, or within `reload.probation`); a worker not ready in time has not exited yet. */
  exit?: WorkerExit;
  /** The last lines it wrote to stderr until then (up to 30 lines / 8 KiB), when `captureStderr` is on and it wrote any. */
  stderr?: string;
}

/** What `beforeFork` receives: the fork about to happen. Plugins may add to `env` and `fds`. */
export interface ForkContext {
  readonly slot: number;
  readonly generation: number;
  readonly reason: ForkReason;
  /**
   * Extra environment for this worker only; mutate to add variables. A variable set to `undefined` is
   * removed from the worker's environment, even one the master inherited (e.g. `NOTIFY_SOCKET`).
   */
  readonly env: Record<string, string | undefined>;
  /**
   * Descriptors of the master this worker inherits, in order, as its fd 3, 4, ... (push to add one:
   * `const workerFd = 2 + fork.fds.push(fd)`). For sockets the workers must hold themselves, such as
   * sockets a service manager passed to the master.
   */
  readonly fds: number[];
}

export interface StopInfo {
  /** The process exit code the master will use. */
  code: number;
  /** A short why: `SIGTERM`, `crash loop`, `version changed`... */
  reason: string;
  /** ms the workers keep serving before the drain starts (`shutdownDelay`, on SIGTERM); absent for 0. */
  delay?: number;
}

/**
 * What asked for a reload: `'SIGHUP'` (the master's signal handler), `'api'` (a `reload()` call without one),
 * or what the caller names (the control socket says `'control'`). A coalesced follow-up keeps the first one's.
 */
export type ReloadTrigger = 'SIGHUP' | 'api' | (string & {});

/** Where the current reload is, batch by batch (see the state machine on `Master.reload`). */
export type ReloadPhase = 'spawning' | 'waiting-ready' | 'probation' | 'retiring-old' | 'aborting';

export interface ReloadResult {
  generation: number;
  trigger: ReloadTrigger;
  /** Workers that now serve. */
  workers: WorkerInfo[];
  /** ms from start of the reload until every old worker had exited. */
  duration: number;
}

/**
 * The whole plugin contract. A plugin is a plain object, usually returned by a factory:
 * `monitor({ maxCpu: 90 })` → `{ name: 'monitor', setup() {...}, onWorkerExit() {...} }`.
 *
 * - Hooks of all plugins run in registration order, one after the other; async hooks are awaited.
 * - Each hook call is bounded by the master's `hookTimeout`.
 * - A throw (or a timeout) is wrapped in a `MasterProcessError` (`MP_ERR_PLUGIN_HOOK` /
 *   `MP_ERR_HOOK_TIMEOUT`) that names the plugin and the hook, logged and emitted as `plugin:error`.
 *   In `beforeFork` it aborts that fork (during a reload: the reload fails, old workers keep serving);
 *   in `setup` it aborts `start()`; elsewhere the master carries on.
 */
export interface Plugin<Api = unknown> {
  /** Unique among the master's plugins; used in errors and logs. */
  name: string;
  /** This plugin's version (semver), for other plugins' `requires` ranges and for error messages. */
  version?: string;
  /**
   * The `@master-process/core` versions this plugin works with: a semver range such as `"^1.2.0"`
   * (best: the same as its peerDependency; see `packageCompatibility`). Checked at `createMaster`:
   * outside it, `MP_ERR_PLUGIN_VERSION_MISMATCH` before anything forks.
   */
  core?: string;
  /**
   * Plugins this one needs, by name (in any order in `plugins`): `'monitor'`, or
   * `{ name, version?: range, optional?: true, package?: 'npm name, for the message' }`. Checked at
   * `createMaster`: a missing one is `MP_ERR_PLUGIN_DEPENDENCY_MISSING` (an optional one may be absent),
   * one outside `version` is `MP_ERR_PLUGIN_VERSION_MISMATCH`.
   */
  requires?: readonly PluginRequirement[];
  /** Signals besides SIGHUP/SIGTERM/SIGINT this plugin handles; the master listens for them and calls `onSignal`. */
  signals?: readonly NodeJS.Signals[];
  /** Offered to other plugins through `master.plugin(name)`, so they need not import each other. */
  api?: Api;
  /**
   * Code to run in every worker, before the app: the absolute path of a module whose default export
   * (or `module.exports`) is a `WorkerPluginSetup` (see `@master-process/core/worker`), or
   * `{ module, options }` to pass it JSON options. Loaded once in the master at `createMaster` to check it
   * (so keep its top level free of side effects: do the work in the function). Its handlers answer
   * `master.request()` / `master.gather()` for this plugin's name.
   */
  worker?: WorkerHalf;
  /** Once, in `start()`, before the first fork. Keep the `master` to use its API later. */
  setup?(master: Master): Awaitable<void>;
  /** Before every fork (start, reload, crash, replace). Throw to refuse the fork. */
  beforeFork?(fork: ForkContext): Awaitable<void>;
  /** A worker's server is listening (once per server). */
  onListening?(worker: WorkerInfo, address: ListeningAddress): Awaitable<void>;
  /** A worker exited, whether retired (`expected`) or crashed. */
  onWorkerExit?(worker: WorkerInfo, exit: WorkerExit): Awaitable<void>;
  /** A signal reached the master: SIGHUP/SIGTERM/SIGINT (before the master acts) and those in `signals`. */
  onSignal?(signal: NodeJS.Signals): Awaitable<void>;
  /** The master is stopping: every worker has exited. Clean up files, timers, watchers. */
  onExit?(info: StopInfo): Awaitable<void>;
}

/** Another plugin a plugin needs: its name, or the name with a version range, optional flag and npm package name. */
export type PluginRequirement = string | { name: string; version?: string; optional?: boolean; package?: string };

/**
 * Plugin apis by plugin name, for `master.plugin(name)`. Each plugin package with an `api` adds itself:
 * `declare module '@master-process/core' { interface PluginApis { monitor: MonitorApi } }`.
 */
export interface PluginApis {}

/** What `cond && plugin()` gives when `cond` is false: skipped in `plugins`. */
export type Falsy = false | null | undefined | 0 | '';

/** A plugin's worker half: a module path, or a module path with JSON options. */
export type WorkerHalf = string | { module: string; options?: unknown };

export interface RequestOptions {
  /** How long to wait for the worker's answer (ms or `"5s"`; default 5 s). */
  timeout?: number | string;
}

/** One worker's answer to `gather()`: its value, or the reason it has none (`MP_ERR_*` code on `error`). */
export type WorkerReply<T = unknown> = { worker: WorkerInfo; ok: true; value: T } | { worker: WorkerInfo; ok: false; error: MasterProcessError };

/** Hook names, for validating plugin objects. */
export const HOOK_NAMES = ['setup', 'beforeFork', 'onListening', 'onWorkerExit', 'onSignal', 'onExit'] as const;
export type HookName = (typeof HOOK_NAMES)[number];

export interface CrashOptions {
  /** A worker that dies within this long of starting is replaced only after the rest of it (env `WORKER_THROTTLE`, default 1s). */
  throttle?: number | string;
  /** `exponential` (default): the delay doubles with each consecutive crash of a slot; `constant` (env `RESTART_BACKOFF=constant`). */
  backoff?: 'exponential' | 'constant';
  /** Longest delay between crash restarts (default 30s). */
  maxDelay?: number | string;
  /** This many crashes of one slot within `window` stop the master with exit code 1 (default 5; 0 = never). */
  maxCrashes?: number;
  /** Default 60s. */
  window?: number | string;
}

export interface ReloadOptions {
  /** How many slots are replaced at once (default: all). 1 keeps memory flat: at most workers+1 alive. */
  concurrency?: number;
  /**
   * How long new workers must stay up after becoming ready before the old ones are retired (default 0).
   * A new worker that exits within it fails the reload, and the old generation keeps serving.
   */
  probation?: number | string;
}

export interface MasterOptions {
  /** Worker script (default: the master's own script, `process.argv[1]`, as `cluster` does). */
  exec?: string;
  /** Worker arguments (default: the master's own, `process.argv.slice(2)`). */
  args?: readonly string[];
  /** Extra Node flags for workers (default: the master's `process.execArgv`). */
  execArgv?: readonly string[];
  /** Extra environment for every worker. */
  env?: Record<string, string | undefined>;
  /** Number of workers: a positive integer, `'MAX'` or `'AUTO'` (env `WORKERS`, default 1). */
  workers?: number | string;
  /**
   * Time a retiring worker gets between leaving rotation and SIGKILL (env `MAX_KILL_TIMEOUT`, default 5s).
   * It gets SIGTERM once drained, at the latest at half of it.
   */
  killTimeout?: number | string;
  /** A new worker not ready within this is killed and the fork fails (default 30s). */
  readyTimeout?: number | string;
  /**
   * On SIGTERM, the workers keep accepting and serving this long before the drain starts (env
   * `SHUTDOWN_DELAY`, default 0). Kubernetes (kube-proxy, ingresses) and load balancers still send new
   * connections for a few seconds after they sent SIGTERM. A second SIGTERM/SIGINT ends the delay.
   */
  shutdownDelay?: number | string;
  /** When a worker counts as ready: its first `listening` (default), or an explicit `ready()` from `@master-process/core/worker`. */
  readyOn?: 'listening' | 'message';
  /** Crash policy; `'exit'`: any worker crash stops the master with exit code 1 (the seed behaviour). */
  crash?: CrashOptions | 'exit';
  reload?: ReloadOptions;
  /** Bound for every plugin hook call (default 10s). */
  hookTimeout?: number | string;
  /**
   * Preload the worker-side drain into every worker (`--require`), so a plain app that never heard of
   * master-process still drains without a failed request (default true; env `MASTER_PROCESS_DRAIN=0` turns it off).
   */
  drain?: boolean;
  /**
   * One small reaper process per master: if the master dies, it SIGKILLs the workers still running at the end of
   * the orphan grace (`killTimeout`), even one with a blocked event loop (default true).
   */
  watchdog?: boolean;
  /** Exit the process with the stop code once the master has stopped (default true). */
  exitProcess?: boolean;
  /** Listen for SIGHUP/SIGTERM/SIGINT and plugin signals (default true). */
  handleSignals?: boolean;
  /**
   * Pipe each worker's stderr through the master, which writes every byte on to its own stderr unchanged and
   * keeps the last lines for reports (`WorkerExit.stderr`, a failed reload's `failure.stderr`). Default true;
   * false: workers inherit the master's stderr, as plain `cluster` does, and reports carry no stderr.
   */
  captureStderr?: boolean;
  /** In hook order. Falsy entries are skipped, so `cond && plugin()` works. */
  plugins?: readonly (Plugin | Falsy)[];
}

/** The options after parsing and defaults, as the master uses them. */
export interface ResolvedOptions {
  exec: string;
  args: string[];
  execArgv: string[];
  env: Record<string, string>;
  workers: number;
  killTimeout: number;
  readyTimeout: number;
  shutdownDelay: number;
  readyOn: 'listening' | 'message';
  crash: { mode: 'restart' | 'exit'; throttle: number; backoff: 'exponential' | 'constant'; maxDelay: number; maxCrashes: number; window: number };
  reload: { concurrency: number; probation: number };
  hookTimeout: number;
  drain: boolean;
  watchdog: boolean;
  exitProcess: boolean;
  handleSignals: boolean;
  captureStderr: boolean;
}

export type MasterState = 'idle' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface MasterEvents {
  'worker:fork': [worker: WorkerInfo];
  'worker:listening': [worker: WorkerInfo, address: ListeningAddress];
  'worker:ready': [worker: WorkerInfo];
  'worker:retire': [worker: WorkerInfo, reason: string];
  'worker:exit': [worker: WorkerInfo, exit: WorkerExit];
  'worker:message': [worker: WorkerInfo, message: unknown];
  'worker:crash-delay': [info: { slot: number; delay: number; crashes: number }];
  'reload:start': [info: { generation: number; trigger: ReloadTrigger }];
  /** The current reload entered a phase; `slots` are those of the batch it concerns. */
  'reload:phase': [info: { generation: number; phase: ReloadPhase; slots: number[] }];
  'reload:done': [result: ReloadResult];
  /** `failure`: the new worker that failed, when one did (not for a plugin refusing the fork, nor a stop). */
  'reload:failed': [info: { generation: number; trigger: ReloadTrigger; error: MasterProcessError; failure?: WorkerFailure }];
  'slot:replaced': [info: { slot: number; reason: string; old: WorkerInfo; worker: WorkerInfo }];
  'plugin:error': [error: MasterProcessError];
  /** A plugin's worker half sent its master half a message (`context.send(type, payload)` in the worker). */
  'plugin:message': [worker: WorkerInfo, message: { plugin: string; type: string; payload: unknown }];
  'master:ready': [workers: WorkerInfo[]];
  'master:stopping': [info: StopInfo];
  'master:stopped': [info: StopInfo];
  /**
   * Shared vocabulary between plugins that must not import each other: anyone may ask resource
   * monitoring to pause (a profiler, a maintenance task) and resume; a monitor plugin obeys.
   */
  'monitoring:pause': [info: { source: string; reason?: string }];
  'monitoring:resume': [info: { source: string; reason?: string }];
}

export type MasterEventName = keyof MasterEvents;
/** Listener arguments for a core event, or `unknown[]` for a custom (plugin) event. */
export type EventArgs<E extends string> = E extends MasterEventName ? MasterEvents[E] : unknown[];

export interface Master {
  readonly pid: number;
  readonly state: MasterState;
  /** The generation new forks get (the newest one that was started). */
  readonly generation: number;
  readonly options: Readonly<ResolvedOptions>;
  /** A snapshot of live workers, serving and retiring, sorted by slot then generation. */
  readonly workers: readonly WorkerInfo[];
  /** Fork every slot and resolve once all are ready. */
  start(): Promise<void>;
  /**
   * Rolling reload: fork a new generation, retire each old worker once its replacement is ready.
   * Rejects with `MP_ERR_RELOAD_FAILED` when the new generation is not ready; the old one keeps serving.
   * A call during a reload is coalesced into one follow-up reload, whose outcome it reports.
   * `trigger` is recorded on `reload:start`, `reload:done` and `reload:failed` (default `'api'`).
   */
  reload(options?: { trigger?: ReloadTrigger }): Promise<ReloadResult>;
  /**
   * Replace one slot's worker (fork new → ready → retire old). Waits its turn if the slot is busy.
   * With `pid`, nothing happens if that worker no longer serves the slot (it crashed or was reloaded):
   * the slot's current worker is returned.
   */
  replace(slot: number, reason: string, options?: { pid?: number }): Promise<WorkerInfo>;
  /** Graceful stop: drain and retire every worker, run `onExit`, then (with `exitProcess`) exit with `code`. */
  stop(code?: number, reason?: string): Promise<void>;
  /** Send a message to a worker (by pid), if it is still connected. Returns false otherwise. */
  send(pid: number, message: unknown): boolean;
  /**
   * Ask one worker's half of `plugin` to answer `type` (its `context.handle(type, fn)`), over the IPC
   * channel, apart from the app's own messages. Rejects at once when the worker has no handler
   * (`MP_ERR_NO_HANDLER`) or disconnects/exits before answering (`MP_ERR_WORKER_EXIT`); with
   * `MP_ERR_REQUEST_TIMEOUT` after `timeout`; with `MP_ERR_REQUEST_FAILED` when the handler threw.
   */
  request<T = unknown>(pid: number, plugin: string, type: string, payload?: unknown, options?: RequestOptions): Promise<T>;
  /** `request()` to every serving worker (state `ready`) at once; never rejects for a worker's failure: each gets its own reply. */
  gather<T = unknown>(plugin: string, type: string, payload?: unknown, options?: RequestOptions): Promise<WorkerReply<T>[]>;
  /** Another plugin's `api`, by plugin name ("direct plugin communication"); typed for names in `PluginApis`. */
  plugin<N extends keyof PluginApis>(name: N): PluginApis[N] | undefined;
  plugin<Api = unknown>(name: string): Api | undefined;
  on<E extends string>(event: E, listener: (...args: EventArgs<E>) => void): this;
  once<E extends string>(event: E, listener: (...args: EventArgs<E>) => void): this;
  off<E extends string>(event: E, listener: (...args: EventArgs<E>) => void): this;
  /** Emit a custom event for other plugins (use a `plugin-name:event` name). */
  emit<E extends string>(event: E, ...args: EventArgs<E>): boolean;
}
