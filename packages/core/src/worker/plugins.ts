// Worker halves of plugins: loaded by the preload in every worker, before the app, in plugin order.
// Each is a module whose default export (or `module.exports`) is a function called with a context;
// it answers the master half's `master.request()` / `master.gather()` through `context.handle()`, and
// may speak first with `context.send()` (the master's `plugin:message` event).
import { createRequire } from 'node:module';
import { shared } from './shared.js';
import { PLUGINS_ENV, PLUGIN_CMD, isPluginMessage, setupOf, toWire, type PluginWireMessage, type WorkerHalfSpec } from './plugin-channel.js';

/** What a worker half's function receives. */
export interface WorkerPluginContext<Options = unknown> {
  /** The plugin's name (the namespace of its requests). */
  readonly name: string;
  /** `worker.options` of the plugin object, as JSON. */
  readonly options: Options;
  /** This worker's slot (`WORKER_INDEX`). */
  readonly workerIndex: number;
  /** This worker's generation (`RELOAD_INDEX`). */
  readonly reloadIndex: number;
  /**
   * Answer the master's requests of `type` for this plugin with `fn(payload)` (its value or promise;
   * JSON). A throw or rejection reaches the master as that worker's error. One handler per type;
   * returns a function that removes it (a request then fails at once with `MP_ERR_NO_HANDLER`).
   */
  handle<Payload = unknown, Result = unknown>(type: string, fn: (payload: Payload) => Result | Promise<Result>): () => void;
  /**
   * Send `payload` (JSON) to the master half, unasked: the master emits `plugin:message` with
   * `(worker, { plugin, type, payload })`. Resolves true once written to the channel, false when the
   * channel is closed (the master is gone, or this worker has disconnected); rejects for a payload JSON
   * cannot carry.
   */
  send(type: string, payload?: unknown): Promise<boolean>;
  /**
   * Run `fn` right before this worker closes its channel to the master: when it is retired (reload,
   * `replace()`, stop), once its servers have drained, so no request is in flight; or when the app
   * disconnects it. The last moment to `send()` final figures: the master receives them before the
   * worker's `disconnect` and `exit`. Awaited, all handlers together at most 1 s. Returns a function that removes `fn`.
   */
  beforeDisconnect(fn: () => unknown): () => void;
}

/**
 * The default export of a worker half. Called synchronously before the app loads; a throw (or a
 * returned promise that rejects) fails this worker with `MP_ERR_PLUGIN_WORKER` naming the plugin.
 */
export type WorkerPluginSetup<Options = unknown> = (context: WorkerPluginContext<Options>) => void | Promise<void>;

type Handler = (payload: unknown) => unknown;
const handlers = new Map<string, Map<string, Handler>>();
/** `beforeDisconnect` handlers, each with its plugin's name for the message when it fails. */
const lastWords = new Map<() => unknown, string>();
/** How long the handlers together may hold back the disconnect (the master's kill timeout still bounds the worker). */
const LAST_WORDS_TIMEOUT = 1000;

function send(message: PluginWireMessage): void {
  // Without a callback, a send on a closed channel emits 'error' on process: an uncaught crash.
  if (!process.connected || !process.send) return;
  try {
    process.send(message, undefined, undefined, () => {});
  } catch (error) {
    // A reply that JSON cannot carry (a BigInt, a cycle): say so instead of leaving the master waiting.
    if (message.kind === 'reply' && message.ok) send({ cmd: PLUGIN_CMD, kind: 'reply', id: message.id, ok: false, error: toWire(error) });
  }
}

async function onRequest(message: unknown): Promise<void> {
  if (!isPluginMessage(message) || message.kind !== 'request') return;
  const { id, plugin, type } = message;
  const fn = handlers.get(plugin)?.get(type);
  if (!fn) {
    const known = [...(handlers.get(plugin)?.keys() ?? [])];
    const error = { message: `plugin "${plugin}" has no handler for "${type}" in worker ${process.pid}` + (known.length ? ` (it handles: ${known.join(', ')})` : ' (it registered none)') };
    return send({ cmd: PLUGIN_CMD, kind: 'reply', id, ok: false, noHandler: true, error });
  }
  try {
    send({ cmd: PLUGIN_CMD, kind: 'reply', id, ok: true, value: await fn(message.payload) });
  } catch (error) {
    send({ cmd: PLUGIN_CMD, kind: 'reply', id, ok: false, error: toWire(error) });
  }
}

/** Written to the channel (true), or not sent because it is closed (false). */
function post(message: PluginWireMessage): Promise<boolean> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) return resolve(false);
    // A payload JSON cannot carry throws here, before anything is written: the promise rejects with it.
    process.send(message, undefined, undefined, (error: Error | null) => resolve(!error));
  });
}

/** The `beforeDisconnect` handlers, run once, together within LAST_WORDS_TIMEOUT (see WorkerShared.lastWords). */
function lastWordsOnce(): () => Promise<void> {
  let said: Promise<void> | undefined;
  return () =>
    (said ??= Promise.race([
      Promise.all(
        [...lastWords].map(([fn, plugin]) =>
          Promise.resolve()
            .then(fn)
            .catch((error: unknown) => void process.stderr.write(`master-process: worker ${process.pid}: plugin "${plugin}": a beforeDisconnect handler failed: ${(error as Error)?.stack ?? error}\n`)),
        ),
      ).then(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, LAST_WORDS_TIMEOUT).unref()),
    ]));
}

/**
 * Every way the channel closes from this side (cluster's disconnect once a retired worker's servers have
 * closed, the app's own `disconnect()`) ends in `process.disconnect()`, which Node's cluster looks up
 * when it calls it: hold that back until the last words are said.
 */
function holdDisconnect(say: () => Promise<void>): void {
  const disconnect = process.disconnect;
  process.disconnect = function beforeDisconnect(this: NodeJS.Process) {
    if (lastWords.size === 0 || !process.connected) return disconnect.call(process);
    void say().then(() => {
      if (process.connected) disconnect.call(process);
    });
  };
}

function context(spec: WorkerHalfSpec): WorkerPluginContext {
  const own = new Map<string, Handler>();
  handlers.set(spec.name, own);
  return Object.freeze({
    name: spec.name,
    options: spec.options,
    workerIndex: Number(process.env.WORKER_INDEX ?? 0),
    reloadIndex: Number(process.env.RELOAD_INDEX ?? 0),
    handle(type: string, fn: Handler) {
      if (typeof type !== 'string' || type === '') throw new TypeError(`plugin "${spec.name}": handle(type, fn): type must be a non-empty string; got ${JSON.stringify(type)}`);
      if (typeof fn !== 'function') throw new TypeError(`plugin "${spec.name}": handle("${type}", fn): fn must be a function`);
      if (own.has(type)) throw new TypeError(`plugin "${spec.name}" already handles "${type}": remove the first handler (the function handle() returned) before adding another`);
      own.set(type, fn);
      return () => {
        if (own.get(type) === fn) own.delete(type);
      };
    },
    send(type: string, payload?: unknown) {
      if (typeof type !== 'string' || type === '') return Promise.reject(new TypeError(`plugin "${spec.name}": send(type, payload): type must be a non-empty string; got ${JSON.stringify(type)}`));
      return post({ cmd: PLUGIN_CMD, kind: 'message', plugin: spec.name, type, payload });
    },
    beforeDisconnect(fn: () => unknown) {
      if (typeof fn !== 'function') throw new TypeError(`plugin "${spec.name}": beforeDisconnect(fn): fn must be a function`);
      lastWords.set(fn, spec.name);
      return () => void lastWords.delete(fn);
    },
  }) as WorkerPluginContext;
}

/** Report the failure to the master (which fails this fork naming the plugin), print it, and exit 1 before the app runs. */
function fail(spec: WorkerHalfSpec, error: unknown): never {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.stderr.write(`master-process: worker ${process.pid}: plugin "${spec.name}": its worker half ${spec.module} failed: ${detail}\n`);
  // A small IPC message is written to the pipe synchronously (libuv tries the write at once), so it
  // survives the exit; if it did not, the master still sees a worker that exited before it was ready.
  send({ cmd: PLUGIN_CMD, kind: 'failed', plugin: spec.name, module: spec.module, error: toWire(error) });
  process.exit(1);
}

/** Load every worker half named in the environment (the preload calls it before the app). */
export function loadWorkerPlugins(raw = process.env[PLUGINS_ENV]): void {
  if (!raw) return;
  const specs = JSON.parse(raw) as WorkerHalfSpec[];
  process.on('internalMessage', (message: unknown) => void onRequest(message));
  const say = lastWordsOnce();
  shared().lastWords = say;
  holdDisconnect(say);
  const load = createRequire(import.meta.url);
  for (const spec of specs) {
    try {
      const setup = setupOf(load(spec.module)) as WorkerPluginSetup;
      const result = setup(context(spec));
      if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(undefined, (error: unknown) => fail(spec, error));
    } catch (error) {
      fail(spec, error);
    }
  }
}
