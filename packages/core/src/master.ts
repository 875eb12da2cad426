import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { PluginChannel } from './channel.js';
import { checkCompatibility } from './compat.js';
import { ErrorCode, MasterProcessError, invalidValue } from './errors.js';
import { createLogger, warn } from './log.js';
import { resolveOptions } from './options.js';
import { PluginHost, validatePlugins } from './plugins.js';
import { forwardStderr, OutputTail, STDERR_SETTLE_MS } from './stderr.js';
import { Watchdog } from './watchdog.js';
import type {
  ForkContext, ForkReason, ListeningAddress, Master, MasterOptions, MasterState, OpenConnections, ReloadPhase, ReloadResult, ReloadTrigger,
  RequestOptions, ResolvedOptions, StopInfo, WorkerExit, WorkerFailure, WorkerInfo, WorkerReply, WorkerState,
} from './types.js';
import { resolveWorkerHalves } from './worker-halves.js';
import { PLUGINS_ENV, type WorkerHalfSpec } from './worker/plugin-channel.js';
import { ENV, MESSAGE_KEY, isControlMessage, noneOpen, parseOpen, type FatalError } from './worker/protocol.js';

const log = createLogger('core');

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
  settled: boolean;
}

function deferred<T>(): Deferred<T> {
  const d = { settled: false } as Deferred<T>;
  d.promise = new Promise<T>((resolve, reject) => {
    d.resolve = (v) => ((d.settled = true), resolve(v));
    d.reject = (e) => ((d.settled = true), reject(e));
  });
  // A rejection nobody awaits (a worker that died before anyone asked) is not an error of the process.
  d.promise.catch(() => {});
  return d;
}

/** Resolves after `ms`; a timer that only bounds a wait never holds the process open. */
function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), ms);
    timer.unref();
    promise.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

class WorkerRecord {
  state: WorkerState = 'forked';
  readyAt?: number;
  readonly forkedAt = Date.now();
  readonly ready = deferred<void>();
  readonly exited = deferred<WorkerExit>();
  /** Set once the master decided this worker goes: its exit is then expected, not a crash. */
  retiring = false;
  /** The error the worker said it dies of (uncaught at boot, a failed listen...). */
  fatal?: FatalError;
  /** What the retiring worker last reported still open. */
  open?: OpenConnections;
  /** Why the master sent SIGKILL, if it did. */
  killedBecause?: string;
  /** The end of its stderr, when piped through the master (`captureStderr`). */
  readonly stderr = new OutputTail();
  private terminated = false;
  readonly timers: NodeJS.Timeout[] = [];

  constructor(
    readonly worker: Worker,
    readonly slot: number,
    readonly generation: number,
    readonly reason: ForkReason,
  ) {}

  get pid(): number {
    return this.worker.process.pid ?? -1;
  }

  view(): WorkerInfo {
    return Object.freeze({
      id: this.worker.id, pid: this.pid, slot: this.slot, generation: this.generation, state: this.state,
      reason: this.reason, forkedAt: this.forkedAt, ...(this.readyAt !== undefined ? { readyAt: this.readyAt } : {}),
    });
  }

  /** SIGTERM, once: an app may read a second one as "force quit now". */
  terminate(): void {
    if (this.terminated) return;
    this.terminated = true;
    this.signal('SIGTERM');
  }

  /** SIGKILL, remembering why: the exit is then reported as a kill. */
  kill(because: string): void {
    if (this.state === 'exited') return;
    this.killedBecause ??= because;
    this.signal('SIGKILL');
  }

  signal(signal: NodeJS.Signals): void {
    if (this.state === 'exited') return;
    try {
      this.worker.process.kill(signal);
    } catch (error) {
      log('PID/%d: could not send %s: %s', this.pid, signal, (error as Error).message);
    }
  }
}

interface Slot {
  readonly index: number;
  /** The worker that serves this slot now. */
  current?: WorkerRecord;
  /** One owner at a time (start, reload, replace, crash restart): each waits for the previous. */
  lock: Promise<void>;
  /** Crash times within the crash window. */
  crashes: number[];
  /** Forks in a row that never became ready: a slow failure (the ready timeout) must end too. */
  failedStarts: number;
  restartTimer?: NodeJS.Timeout;
}

const stoppingError = (what: string) =>
  new MasterProcessError(ErrorCode.STOPPING, `Cannot ${what}: the master is stopping. Start a new master instead.`);
const isStopping = (error: unknown) => (error as MasterProcessError)?.code === ErrorCode.STOPPING;
const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
/** `MP_ERR_X: message`, `TypeError: message`, or the message alone when it already names its code. */
function describeFatal({ code, name, message: text }: FatalError): string {
  const label = code && !text.includes(code) ? code : !code && name && name !== 'Error' ? name : '';
  return label ? `${label}: ${text}` : text;
}

/** An error about one worker, carrying what a report needs about it (read back by `failureOf`). */
function workerError(code: string, text: string, failure: WorkerFailure): MasterProcessError {
  return Object.assign(new MasterProcessError(code, text), { failure });
}
const stderrOf = (record: WorkerRecord): { stderr?: string } => {
  const text = record.stderr.text();
  return text === undefined ? {} : { stderr: text };
};
const failureOf = (error: unknown): WorkerFailure | undefined => (error as { failure?: WorkerFailure } | undefined)?.failure;


/** The address of a worker's own `listening` report (see `reportListening()`), or undefined when malformed. */
function reportedAddress(value: unknown): ListeningAddress | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const { address, port, addressType } = value as Record<string, unknown>;
  if (address !== null && typeof address !== 'string') return undefined;
  if (port !== undefined && (!Number.isInteger(port) || (port as number) < 0 || (port as number) > 65535)) return undefined;
  if (typeof addressType !== 'number' && typeof addressType !== 'string') return undefined;
  return { address, addressType, ...(port !== undefined ? { port: port as number } : {}) };
}

function preloadPath(): string {
  return createRequire(import.meta.url).resolve('@master-process/core/preload');
}

class MasterImpl extends EventEmitter {
  readonly options: ResolvedOptions;
  private readonly host: PluginHost;
  /** Plugins' worker halves, loaded by the preload in every worker; and their request channel. */
  private readonly halves: WorkerHalfSpec[];
  private readonly channel: PluginChannel;
  private readonly slots: Slot[];
  private readonly records = new Set<WorkerRecord>();
  private currentState: MasterState = 'idle';
  /** Generation of the newest workers that took over their slots (crash restarts use it). */
  private servingGeneration = 0;
  private lastGeneration = 0;
  private startPromise?: Promise<void>;
  private reloading?: Promise<ReloadResult>;
  private followUp?: { done: Deferred<ReloadResult>; trigger: ReloadTrigger };
  private stopPromise?: Promise<void>;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();
  /** Ends the shutdown delay early, while it runs. */
  private endDelay?: () => void;
  /** Kills the workers if this master dies (option `watchdog`). */
  private watchdog?: Watchdog;
  /** The process exits without stop() (an uncaught error): with the watchdog, the workers get the orphan grace. */
  private readonly killOnExit = () => {
    if (this.watchdog) return;
    for (const record of this.records) record.signal('SIGKILL');
  };
  private readonly reportPluginError = (error: MasterProcessError) => {
    log('plugin error: %s', error.message);
    warn(error.message);
    this.emit('plugin:error', error);
  };

  constructor(options: MasterOptions) {
    super();
    if (!cluster.isPrimary) {
      throw new MasterProcessError(
        ErrorCode.NOT_PRIMARY,
        process.env[ENV.WORKER] === '1'
          ? 'the master was started again inside one of its own workers: this script is both the master and the workers, so guard the master part: `if (cluster.isPrimary) { require("master-process").init(); return; }` (or give the master its own script with the `exec` option).'
          : 'createMaster() was called inside a cluster worker. Call it only in the primary (guard it with `cluster.isPrimary`), or give the master its own script with the `exec` option.',
      );
    }
    this.options = resolveOptions(options);
    this.host = new PluginHost(validatePlugins(options.plugins), this.options.hookTimeout, this.reportPluginError);
    checkCompatibility(this.host.plugins);
    this.halves = resolveWorkerHalves(this.host.plugins);
    this.channel = new PluginChannel(new Set(this.halves.map((h) => h.name)), (peer, error) => {
      // A worker half that failed in a worker fails that fork (the worker exits 1 before the app runs).
      this.reportPluginError(error);
      (peer as WorkerRecord).ready.reject(error);
    }, (peer, message) => this.emit('plugin:message', peer.view(), message));
    this.slots = Array.from({ length: this.options.workers }, (_, index) => ({ index, lock: Promise.resolve(), crashes: [], failedStarts: 0 }));
    this.setMaxListeners(50);
  }

  get pid(): number {
    return process.pid;
  }

  get state(): MasterState {
    return this.currentState;
  }

  get generation(): number {
    return this.servingGeneration;
  }

  get workers(): readonly WorkerInfo[] {
    return [...this.records].map((r) => r.view()).sort((a, b) => a.slot - b.slot || a.generation - b.generation);
  }

  plugin<Api>(name: string): Api | undefined {
    return this.host.api<Api>(name);
  }

  send(pid: number, payload: unknown): boolean {
    const record = [...this.records].find((r) => r.pid === pid);
    if (!record || !record.worker.isConnected()) return false;
    record.worker.send(payload as object);
    return true;
  }

  request<T>(pid: number, plugin: string, type: string, payload?: unknown, options?: RequestOptions): Promise<T> {
    return this.channel.request<T>([...this.records].find((r) => r.pid === pid), pid, plugin, type, payload, options);
  }

  gather<T>(plugin: string, type: string, payload?: unknown, options?: RequestOptions): Promise<WorkerReply<T>[]> {
    const serving = [...this.records].filter((r) => r.state === 'ready').sort((a, b) => a.slot - b.slot || a.generation - b.generation);
    return this.channel.gather<T>(serving, plugin, type, payload, options);
  }

  start(): Promise<void> {
    if (this.currentState !== 'idle') {
      return Promise.reject(new MasterProcessError(ErrorCode.ALREADY_STARTED, `start() was called on a master that is ${this.currentState}. Call start() once per master.`));
    }
    this.currentState = 'starting';
    this.startPromise = this.runStart();
    return this.startPromise;
  }

  private async runStart(): Promise<void> {
    const { exec, args, execArgv, drain, watchdog } = this.options;
    // Always preloaded: it reports why a worker dies and carries the retire protocol; `drain` and
    // `captureStderr` switch only those parts of it. The watchdog runs beside the master (see watchdog.ts).
    // stdio is set per fork (plugins may pass descriptors).
    cluster.setupPrimary({ exec, args, execArgv: [...execArgv, '--require', preloadPath()] });
    process.on('exit', this.killOnExit);
    // A dead master's workers get the kill timeout to finish what they accepted (the orphan grace).
    if (watchdog) this.watchdog = new Watchdog({ grace: this.options.killTimeout });
    if (this.options.handleSignals) this.installSignals();
    log('master %d starting %d worker(s) of %s: %o', process.pid, this.options.workers, exec, {
      killTimeout: this.options.killTimeout, readyTimeout: this.options.readyTimeout, crash: this.options.crash, reload: this.options.reload, drain, watchdog,
    });
    try {
      await this.host.run('setup', [this as unknown as Master], { bail: true });
      await Promise.all(this.slots.map((slot) => this.fillSlot(slot, 'start')));
    } catch (error) {
      if (!this.stopPromise) {
        // A plugin's failure was printed already, with the plugin's name.
        const code = (error as MasterProcessError).code;
        if (code !== ErrorCode.PLUGIN_HOOK && code !== ErrorCode.HOOK_TIMEOUT) warn(message(error));
        void this.stop(1, 'start failed');
      }
      // Reject only once the stop is done (with exitProcess the process ends first, exit code 1): a caller's
      // unhandled rejection must not end the process before the workers drained and onExit ran.
      await this.stopPromise;
      throw error;
    }
    if (this.stopPromise) throw stoppingError('start');
    this.currentState = 'running';
    log('master %d running: %o', process.pid, this.workers.map((w) => w.pid));
    this.emit('master:ready', [...this.workers]);
  }

  // ---- slots -------------------------------------------------------------------------------

  /** Run `fn` once every slot in `slots` is free; the order of calls is the order of ownership. */
  private async withSlots<T>(slots: Slot[], fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const previous = slots.map((slot) => {
      const before = slot.lock;
      slot.lock = before.then(() => gate);
      return before;
    });
    await Promise.all(previous);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /**
   * Give an empty slot a ready worker, retrying with backoff until it works or the crash limit stops the
   * master. At start nothing serves yet, so there is nothing to protect: the first failure ends the start.
   */
  private fillSlot(slot: Slot, reason: ForkReason): Promise<void> {
    return this.withSlots([slot], async () => {
      for (;;) {
        if (this.stopPromise) throw stoppingError('fork a worker');
        if (slot.current && !slot.current.retiring) return; // someone (replace) filled it meanwhile
        const forkedAt = Date.now();
        try {
          slot.current = await this.forkReady(slot.index, this.servingGeneration, reason);
          slot.failedStarts = 0;
          return;
        } catch (error) {
          if (isStopping(error) || this.stopPromise) throw error;
          if (reason === 'start') {
            throw new MasterProcessError(
              ErrorCode.START_FAILED,
              `the first workers could not start: ${message(error)}. Nothing is serving yet, so the master stops with exit code 1 instead of retrying; fix that (the worker's own output is above) and start again.`,
              { cause: error },
            );
          }
          slot.failedStarts++;
          const delay = this.recordCrash(slot, Date.now() - forkedAt);
          if (delay === null) throw this.crashLoop(slot, error);
          warn(`slot ${slot.index}: ${message(error)}; trying again in ${delay} ms (${slot.failedStarts} failed start(s) in a row; the master stops at ${this.options.crash.maxCrashes}).`);
          await this.sleep(slot, delay);
        }
      }
    });
  }

  private sleep(slot: Slot, ms: number): Promise<void> {
    return new Promise((resolve) => {
      // Not unref'd: this timer is the master's next piece of work, not the bound of a wait.
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        resolve();
      }, ms);
    });
  }

  /** Counts a crash; returns the delay before the next fork, or null when the crash limit is reached. */
  private recordCrash(slot: Slot, uptime: number): number | null {
    const { throttle, backoff, maxDelay, maxCrashes, window } = this.options.crash;
    const now = Date.now();
    slot.crashes = slot.crashes.filter((t) => now - t < window);
    slot.crashes.push(now);
    if (maxCrashes > 0 && (slot.crashes.length >= maxCrashes || slot.failedStarts >= maxCrashes)) return null;
    const base = backoff === 'constant' ? throttle : throttle * 2 ** (slot.crashes.length - 1);
    const delay = Math.min(maxDelay, Math.max(0, base - uptime));
    this.emit('worker:crash-delay', { slot: slot.index, delay, crashes: slot.crashes.length });
    log('slot %d: crash %d within %d ms, next fork in %d ms', slot.index, slot.crashes.length, window, delay);
    return delay;
  }

  private crashLoop(slot: Slot, cause?: unknown): MasterProcessError {
    const { maxCrashes, window } = this.options.crash;
    const what = slot.failedStarts >= maxCrashes
      ? `failed to start ${slot.failedStarts} times in a row`
      : `crashed ${slot.crashes.length} times within ${window} ms`;
    const error = new MasterProcessError(
      ErrorCode.CRASH_LOOP,
      `slot ${slot.index} ${what} (limit crash.maxCrashes=${maxCrashes})${cause ? `; last: ${message(cause)}` : ''}. The master stops with exit code 1 so the service manager can take over. Fix the crash, or raise crash.maxCrashes.`,
      { cause },
    );
    warn(error.message);
    void this.stop(1, 'crash loop');
    return error;
  }

  private onCrash(record: WorkerRecord): void {
    const slot = this.slots[record.slot]!;
    if (this.options.crash.mode === 'exit') {
      warn(`worker ${record.pid} (slot ${slot.index}) crashed and option crash is "exit": stopping with exit code 1.`);
      void this.stop(1, 'worker crashed');
      return;
    }
    const delay = this.recordCrash(slot, Date.now() - record.forkedAt);
    const cause = record.fatal && new Error(`worker ${record.pid} died of ${describeFatal(record.fatal)}`);
    if (delay === null) {
      this.crashLoop(slot, cause);
      return;
    }
    const restart = () => this.fillSlot(slot, 'crash').catch((error) => log('slot %d: not restarted: %s', slot.index, message(error)));
    if (delay === 0) void restart();
    else void this.sleep(slot, delay).then(restart);
  }

  // ---- workers -----------------------------------------------------------------------------

  private async fork(slot: number, generation: number, reason: ForkReason): Promise<WorkerRecord> {
    if (this.stopPromise) throw stoppingError('fork a worker');
    const context: ForkContext = { slot, generation, reason, env: {}, fds: [] };
    await this.host.run('beforeFork', [context], { bail: true });
    // A plugin may have stopped the master from beforeFork (the version guard does).
    if (this.stopPromise) throw stoppingError('fork a worker');
    for (const [i, fd] of context.fds.entries()) {
      if (!Number.isInteger(fd) || fd < 0) throw invalidValue({ option: `fork.fds[${i}]` }, fd, 'an open file descriptor of the master (an integer >= 0)');
    }
    // cluster takes stdio from its settings at fork time; 'ipc' must be in it (last). Stderr is a pipe with
    // captureStderr (see stderr.ts); with neither, Node's default [0, 1, 2, 'ipc'].
    const stderr = this.options.captureStderr ? 'pipe' : 2;
    cluster.setupPrimary({ stdio: context.fds.length || stderr === 'pipe' ? [0, 1, stderr, ...context.fds, 'ipc'] : undefined });
    // An `undefined` value removes the variable: child_process leaves such keys out of the environment.
    const worker = cluster.fork({
      ...this.options.env,
      ...context.env,
      WORKER_INDEX: String(slot),
      RELOAD_INDEX: String(generation),
      PPID: String(process.pid),
      [ENV.WORKER]: '1',
      [ENV.KILL_TIMEOUT]: String(this.options.killTimeout),
      [ENV.AUTO_DRAIN]: this.options.drain ? '1' : '0',
      ...(this.halves.length > 0 ? { [PLUGINS_ENV]: JSON.stringify(this.halves) } : {}),
      [ENV.STDERR_PIPED]: this.options.captureStderr ? '1' : '0',
    });
    const record = new WorkerRecord(worker, slot, generation, reason);
    this.watchdog?.watch(record.pid);
    this.records.add(record);
    this.wire(record);
    log('PID/%d: forked for slot %d, generation %d (%s)', record.pid, slot, generation, reason);
    this.emit('worker:fork', record.view());
    return record;
  }

  /** Fork and wait until ready; a worker that is not ready in time is retired and the fork fails. */
  private async forkReady(slot: number, generation: number, reason: ForkReason, forked?: (r: WorkerRecord) => void): Promise<WorkerRecord> {
    const record = await this.fork(slot, generation, reason);
    forked?.(record);
    const { readyTimeout } = this.options;
    try {
      await withTimeout(record.ready.promise, readyTimeout, () =>
        workerError(
          ErrorCode.READY_TIMEOUT,
          `worker ${record.pid} (slot ${slot}, generation ${generation}) was not ready within ${readyTimeout} ms (option readyTimeout)` +
            (this.options.readyOn === 'message' ? '; with readyOn "message" the app must call ready() from @master-process/core/worker' : '; it never emitted `listening`'),
          { worker: record.view(), ...stderrOf(record) },
        ),
      );
    } catch (error) {
      void this.retire(record, 'not ready');
      throw error;
    }
    return record;
  }

  private wire(record: WorkerRecord): void {
    const { worker } = record;
    this.channel.attach(record);
    worker.on('online', () => {
      if (record.state === 'forked') record.state = 'online';
    });
    worker.on('listening', (address: ListeningAddress) => void this.onListening(record, address));
    worker.on('message', (payload: unknown) => {
      if (isControlMessage(payload, 'fatal')) {
        record.fatal = (payload as { error: FatalError }).error;
        return;
      }
      if (this.options.readyOn === 'message' && isControlMessage(payload, 'ready')) this.markReady(record);
      else if (record.retiring) this.onDrainReport(record, payload);
      if (isControlMessage(payload, 'listening')) {
        // Bytes from a worker: take only a well-formed address.
        const address = reportedAddress((payload as { address?: unknown }).address);
        if (address) void this.onListening(record, address);
        else log('PID/%d: ignored a malformed listening report: %o', record.pid, payload);
      }
      this.emit('worker:message', record.view(), payload);
    });
    worker.on('disconnect', () => {
      if (!record.retiring) return;
      // Its servers are closed, connections and all: now the app may clean up. (A killed worker's channel
      // closes too: then its last report stands.)
      if (record.killedBecause === undefined) record.open = noneOpen();
      record.terminate();
    });
    worker.on('error', (error: Error) => log('PID/%d: worker error: %s', record.pid, error.message));
    const stderr = worker.process.stderr;
    if (!stderr) {
      worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onWorkerExit(record, code, signal));
      return;
    }
    const closed = forwardStderr(stderr, record.stderr);
    // The exit can be seen before the pipe's last bytes (the stack trace of a boot failure): wait for them,
    // boundedly, since a process the worker started may still hold the pipe open.
    worker.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      void withTimeout(closed, STDERR_SETTLE_MS, () => new Error('stderr still open'))
        .catch(() => log('PID/%d: stderr still open %d ms after exit (held by a child process?)', record.pid, STDERR_SETTLE_MS))
        .then(() => this.onWorkerExit(record, code, signal));
    });
  }

  private async onListening(record: WorkerRecord, address: ListeningAddress): Promise<void> {
    if (record.retiring) return;
    if (record.state === 'forked' || record.state === 'online') record.state = 'listening';
    log('PID/%d: listening on %s', record.pid, address.port ?? address.address);
    this.emit('worker:listening', record.view(), address);
    await this.host.run('onListening', [record.view(), address]);
    if (this.options.readyOn === 'listening') this.markReady(record);
  }

  private markReady(record: WorkerRecord): void {
    if (record.ready.settled || record.retiring || record.state === 'exited') return;
    record.state = 'ready';
    record.readyAt = Date.now();
    record.ready.resolve();
    log('PID/%d: ready (slot %d, generation %d) after %d ms', record.pid, record.slot, record.generation, record.readyAt - record.forkedAt);
    this.emit('worker:ready', record.view());
  }

  /** A retiring worker's `draining` / `drained` report (see worker/protocol.ts). */
  private onDrainReport(record: WorkerRecord, payload: unknown): void {
    const drained = isControlMessage(payload, 'drained');
    if (!drained && !isControlMessage(payload, 'draining')) return;
    const open = parseOpen(payload.open);
    if (open) record.open = open;
    log('PID/%d: %s, still open: %o', record.pid, drained ? 'drained' : 'draining', open);
    // The worker says when SIGTERM is safe: its default action would cut upgraded connections left.
    if (drained && (payload as { term?: unknown }).term === true) record.terminate();
  }

  private onWorkerExit(record: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    for (const timer of record.timers) clearTimeout(timer);
    this.watchdog?.unwatch(record.pid);
    this.records.delete(record);
    record.state = 'exited';
    const killed = record.killedBecause !== undefined && signal === 'SIGKILL';
    const exit: WorkerExit = { code, signal, expected: record.retiring, killed, ...(killed && record.open ? { open: record.open } : {}), ...stderrOf(record) };
    if (killed) warn(killReport(record));
    record.ready.reject(
      workerError(
        ErrorCode.WORKER_EXIT,
        `worker ${record.pid} (slot ${record.slot}, generation ${record.generation}) exited before it was ready (code ${code}, signal ${signal})` +
          (record.fatal ? `: ${describeFatal(record.fatal)}` : ''),
        { worker: record.view(), exit, ...stderrOf(record) },
      ),
    );
    record.exited.resolve(exit);
    log('PID/%d: exited (code %s, signal %s, %s)', record.pid, code, signal, exit.expected ? 'retired' : 'unexpected');
    this.emit('worker:exit', record.view(), exit);
    void this.host.run('onWorkerExit', [record.view(), exit]);
    const slot = this.slots[record.slot]!;
    if (!exit.expected && slot.current === record) {
      slot.current = undefined;
      if (!this.stopPromise) this.onCrash(record);
    }
  }

  /**
   * Retire a worker: out of rotation first (`disconnect`, which also drains its servers),
   * SIGTERM once drained (at the latest half-way through the kill timeout, so clean-up code runs),
   * SIGKILL at the kill timeout.
   */
  private retire(record: WorkerRecord, reason: string): Promise<WorkerExit> {
    if (record.retiring || record.state === 'exited') return record.exited.promise;
    record.retiring = true;
    record.state = 'disconnecting';
    const { killTimeout } = this.options;
    log('PID/%d: retiring (%s): retire + disconnect, SIGTERM when drained, SIGKILL in %d ms', record.pid, reason, killTimeout);
    this.emit('worker:retire', record.view(), reason);
    const term = setTimeout(() => record.terminate(), Math.floor(killTimeout / 2));
    const kill = setTimeout(() => {
      log('PID/%d: still alive after %d ms: SIGKILL', record.pid, killTimeout);
      record.kill(`the kill timeout (${killTimeout} ms)`);
    }, killTimeout);
    term.unref();
    kill.unref();
    record.timers.push(term, kill);
    if (record.worker.isConnected()) {
      // `retire` first: the worker hears it before the cluster's disconnect, which closes its servers.
      // disconnect() takes the worker out of the primary's round-robin at once.
      record.worker.send({ [MESSAGE_KEY]: 'retire', reason });
      record.worker.disconnect();
    } else record.terminate();
    return record.exited.promise;
  }

  // ---- reload ------------------------------------------------------------------------------

  reload(options: { trigger?: ReloadTrigger } = {}): Promise<ReloadResult> {
    const trigger = options.trigger ?? 'api';
    if (this.stopPromise) return Promise.reject(stoppingError('reload'));
    if (this.currentState === 'idle') {
      return Promise.reject(new MasterProcessError(ErrorCode.NOT_RUNNING, 'reload() was called before start(). Start the master first.'));
    }
    if (this.reloading) {
      // Coalesce: however many requests arrive during a reload, one follow-up reload runs after it.
      this.followUp ??= { done: deferred<ReloadResult>(), trigger };
      log('reload requested (%s) during a reload: coalesced into one follow-up', trigger);
      return this.followUp.done.promise;
    }
    return this.beginReload(trigger);
  }

  private beginReload(trigger: ReloadTrigger): Promise<ReloadResult> {
    const run = (async () => {
      await this.startPromise?.catch(() => {});
      return this.runReload(trigger);
    })();
    this.reloading = run;
    const next = () => {
      this.reloading = undefined;
      const follow = this.followUp;
      this.followUp = undefined;
      if (!follow) return;
      if (this.stopPromise) follow.done.reject(stoppingError('reload'));
      else this.beginReload(follow.trigger).then(follow.done.resolve, follow.done.reject);
    };
    run.then(next, next);
    return run;
  }

  /**
   * The reload state machine, batch by batch (`reload.concurrency` slots at a time), each phase a `reload:phase`:
   *   spawning → waiting-ready → (all ready) [probation] → retiring-old → next batch → done
   *                            ↘ (one failed) aborting: retire the new ones, old ones keep serving → failed
   */
  private async runReload(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (this.stopPromise) throw stoppingError('reload');
    const generation = ++this.lastGeneration;
    const startedAt = Date.now();
    const { concurrency } = this.options.reload;
    log('reload %d (%s): start (%d slot(s), %d at a time)', generation, trigger, this.slots.length, concurrency);
    this.emit('reload:start', { generation, trigger });
    const retired: Promise<WorkerExit>[] = [];
    try {
      for (let first = 0; first < this.slots.length; first += concurrency) {
        const batch = this.slots.slice(first, first + concurrency);
        const slots = batch.map((slot) => slot.index);
        const phase = (name: ReloadPhase) => {
          log('reload %d: %s (slots %o)', generation, name, slots);
          this.emit('reload:phase', { generation, phase: name, slots });
        };
        await this.withSlots(batch, async () => {
          phase('spawning');
          const spawned: WorkerRecord[] = [];
          // The first failure is the cause; siblings retired because of it fail after it.
          let cause: unknown;
          const retireSpawned = () => {
            for (const record of spawned) void this.retire(record, `reload ${generation} aborted`);
          };
          const fail = (error: unknown) => {
            if (cause === undefined) {
              cause = error;
              phase('aborting');
            }
            retireSpawned();
          };
          const forks = batch.map((slot) => this.forkReady(slot.index, generation, 'reload', (r) => {
            spawned.push(r);
            if (spawned.length === batch.length && cause === undefined) phase('waiting-ready');
          }));
          const results = await Promise.allSettled(forks.map((fork) => fork.catch((error: unknown) => {
            // Abort the batch at the first failure instead of waiting for the others' timeouts.
            fail(error);
            throw error;
          })));
          if (cause === undefined && this.options.reload.probation > 0) {
            phase('probation');
            await this.probation(spawned, generation).catch(fail);
          }
          if (cause !== undefined) {
            retireSpawned(); // including any forked after the first failure
            throw cause;
          }
          phase('retiring-old');
          batch.forEach((slot, k) => {
            const old = slot.current;
            slot.current = (results[k] as PromiseFulfilledResult<WorkerRecord>).value;
            if (old) retired.push(this.retire(old, `replaced by generation ${generation}`));
          });
          this.servingGeneration = generation;
        });
        // With fewer slots at a time than workers, wait for the old ones to exit: memory stays flat.
        if (concurrency < this.slots.length) await Promise.all(retired);
      }
      await Promise.all(retired);
    } catch (cause) {
      const error = isStopping(cause)
        ? (cause as MasterProcessError)
        : new MasterProcessError(
            ErrorCode.RELOAD_FAILED,
            `reload ${generation} failed: ${message(cause)}. The previous workers keep serving` +
              (concurrency < this.slots.length && this.servingGeneration === generation ? ' (slots of batches already swapped stay on the new generation)' : '') +
              '; fix the new version and reload again.',
            { cause },
          );
      log('reload %d: failed: %s', generation, error.message);
      if (!isStopping(cause)) warn(error.message);
      const failure = failureOf(cause);
      this.emit('reload:failed', { generation, trigger, error, ...(failure ? { failure } : {}) });
      throw error;
    }
    const result: ReloadResult = { generation, trigger, workers: [...this.workers], duration: Date.now() - startedAt };
    log('reload %d: done in %d ms: %o', generation, result.duration, result.workers.map((w) => w.pid));
    this.emit('reload:done', result);
    return result;
  }

  /** Resolves once every record has stayed up `reload.probation` ms; rejects as soon as one exits. */
  private probation(records: WorkerRecord[], generation: number): Promise<void> {
    const { probation } = this.options.reload;
    if (probation === 0) return Promise.resolve();
    log('reload %d: new workers on probation for %d ms', generation, probation);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, probation);
      timer.unref();
      for (const record of records) {
        void record.exited.promise.then((exit) => {
          clearTimeout(timer);
          if (this.stopPromise) return reject(stoppingError('reload'));
          reject(
            workerError(
              ErrorCode.WORKER_EXIT,
              `worker ${record.pid} (slot ${record.slot}, generation ${generation}) exited ${Date.now() - (record.readyAt ?? record.forkedAt)} ms after it became ready (code ${exit.code}, signal ${exit.signal}), within reload.probation (${probation} ms)`,
              { worker: record.view(), exit, ...stderrOf(record) },
            ),
          );
        });
      }
    });
  }

  async replace(slotIndex: number, reason: string, options: { pid?: number } = {}): Promise<WorkerInfo> {
    if (!Number.isInteger(slotIndex) || slotIndex < 0 || slotIndex >= this.slots.length) {
      throw new MasterProcessError(ErrorCode.INVALID_SLOT, `replace(): no slot ${JSON.stringify(slotIndex)}. Accepted: an integer from 0 to ${this.slots.length - 1}.`);
    }
    if (this.stopPromise) throw stoppingError('replace a worker');
    const slot = this.slots[slotIndex]!;
    return this.withSlots([slot], async () => {
      const old = slot.current;
      // The worker asked about may already be gone (crashed, reloaded): nothing left to replace.
      if (options.pid !== undefined && old?.pid !== options.pid) {
        log('slot %d: replace of PID/%d skipped: slot now served by %s', slotIndex, options.pid, old?.pid ?? 'nobody');
        return old?.view() ?? Promise.reject(new MasterProcessError(ErrorCode.WORKER_EXIT, `replace(): worker ${options.pid} is gone and slot ${slotIndex} is empty`));
      }
      const fresh = await this.forkReady(slotIndex, this.servingGeneration, 'replace');
      slot.current = fresh;
      if (old) void this.retire(old, reason);
      log('slot %d: PID/%s replaced by PID/%d (%s)', slotIndex, old?.pid ?? '-', fresh.pid, reason);
      if (old) this.emit('slot:replaced', { slot: slotIndex, reason, old: old.view(), worker: fresh.view() });
      return fresh.view();
    });
  }

  // ---- stop and signals -------------------------------------------------------------------

  stop(code = 0, reason = 'stop'): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    if (!Number.isInteger(code) || code < 0 || code > 255) return Promise.reject(invalidValue({ option: 'stop(code)' }, code, 'an integer exit code from 0 to 255'));
    return this.beginStop({ code, reason });
  }

  private beginStop(info: StopInfo): Promise<void> {
    this.stopPromise ??= this.runStop(info);
    return this.stopPromise;
  }

  private async runStop(info: StopInfo): Promise<void> {
    this.currentState = 'stopping';
    log('stopping (%s, exit code %d): %s%d worker(s)', info.reason, info.code, info.delay ? `serving ${info.delay} ms more, then retiring ` : 'retiring ', this.records.size);
    this.emit('master:stopping', info);
    for (const slot of this.slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
    // Once the workers are gone, only unref'd timers bound the onExit hooks: a hook that never resolves
    // would let the process end early (exit code 0, no master:stopped). Stopping is work: hold the loop.
    const hold = setInterval(() => {}, 1 << 30);
    try {
      if (info.delay) await this.serveOn(info.delay);
      await Promise.all([...this.records].map((record) => this.retire(record, info.reason)));
      await this.host.run('onExit', [info]);
    } finally {
      clearInterval(hold);
    }
    this.watchdog?.close();
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.signalHandlers.clear();
    process.off('exit', this.killOnExit);
    this.currentState = 'stopped';
    log('stopped (exit code %d)', info.code);
    this.emit('master:stopped', info);
    if (this.options.exitProcess) process.exit(info.code);
  }

  /** The shutdown delay: the workers keep serving `ms` more; a second stop signal ends it early. */
  private serveOn(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.endDelay = undefined;
        log('shutdown delay over: draining');
        resolve();
      };
      // Not unref'd: the drain after it is the master's next piece of work.
      const timer = setTimeout(done, ms);
      this.endDelay = done;
    });
  }

  private installSignals(): void {
    const listen = (signal: NodeJS.Signals, act: () => void) => {
      const handler = () => {
        log('%s received', signal);
        act();
      };
      this.signalHandlers.set(signal, handler);
      process.on(signal, handler);
    };
    // Plugins hear about core signals, but never hold up the master's own response to them.
    const notify = (signal: NodeJS.Signals) => void this.host.run('onSignal', [signal]);
    listen('SIGHUP', () => {
      notify('SIGHUP');
      this.reload({ trigger: 'SIGHUP' }).catch(() => {}); // already logged, printed and emitted as reload:failed
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      listen(signal, () => {
        notify(signal);
        if (!this.stopPromise) {
          // Only SIGTERM (Kubernetes, systemd, docker stop) waits out the shutdown delay; Ctrl-C does not.
          const delay = signal === 'SIGTERM' ? this.options.shutdownDelay : 0;
          void this.beginStop({ code: 0, reason: signal, ...(delay ? { delay } : {}) });
          return;
        }
        if (this.endDelay) {
          warn(`${signal} during the shutdown delay: draining now.`);
          this.endDelay();
          return;
        }
        // A second stop signal (during the drain): the operator is out of patience.
        warn(`${signal} during stop: killing the remaining workers now.`);
        for (const record of this.records) record.kill(`a second ${signal} during stop`);
      });
    }
    for (const signal of this.host.signals) {
      listen(signal, () => void this.host.run('onSignal', [signal], { only: (p) => p.signals?.includes(signal) ?? false }));
    }
  }
}

const KIND_NAMES: Record<keyof OpenConnections, string> = {
  http: 'HTTP/1 connection(s)',
  upgraded: 'upgraded (WebSocket) connection(s)',
  eventStreams: 'event stream(s) (SSE)',
  http2: 'HTTP/2 session(s)',
};

/** Why a worker was killed and what it still had open, for the operator. */
function killReport(record: WorkerRecord): string {
  const head = `worker ${record.pid} (slot ${record.slot}, generation ${record.generation}) was killed (SIGKILL) at ${record.killedBecause}`;
  const open = record.open;
  if (!open) return `${head}; it sent no drain report (a blocked event loop, or servers the drain does not know).`;
  const left = (Object.keys(KIND_NAMES) as (keyof OpenConnections)[]).filter((k) => open[k] > 0).map((k) => `${open[k]} ${KIND_NAMES[k]}`);
  if (left.length === 0) return `${head}; its connections were all closed: its SIGTERM handler, or something else, kept the process alive.`;
  const advice = open.upgraded > 0 ? ' Close upgraded connections when the worker retires (onRetiring from @master-process/core/worker, or on SIGTERM), or raise killTimeout.' : ' Raise killTimeout if requests take that long.';
  return `${head} with ${left.join(', ')} still open.${advice}`;
}

/** Create a master. Nothing is forked until `start()`. */
export function createMaster(options: MasterOptions = {}): Master {
  return new MasterImpl(options) as unknown as Master;
}
