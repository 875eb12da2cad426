// The master side of the plugin request/reply channel (the wire format is in worker/plugin-channel.ts).
import type { Worker } from 'node:cluster';
import { ErrorCode, MasterProcessError, invalidValue, show } from './errors.js';
import { parseDuration } from './parse.js';
import type { RequestOptions, WorkerInfo, WorkerReply } from './types.js';
import { PLUGIN_CMD, isPluginMessage, type WireError } from './worker/plugin-channel.js';

/** A worker as the channel sees it. */
export interface Peer {
  readonly pid: number;
  readonly worker: Worker;
  view(): WorkerInfo;
}

interface Pending {
  peer: Peer;
  plugin: string;
  type: string;
  resolve(value: unknown): void;
  reject(error: MasterProcessError): void;
  timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT = 5000;
const describe = (plugin: string, type: string) => `plugin "${plugin}" request "${type}"`;

function fromWire(wire: WireError): Error {
  const error = new Error(wire.message);
  if (wire.name) error.name = wire.name;
  if (wire.stack) error.stack = wire.stack;
  if (wire.code) Object.assign(error, { code: wire.code });
  return error;
}

export class PluginChannel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /**
   * @param halves names of the plugins that have a worker half (the only valid namespaces)
   * @param onFailed a worker half failed to load or set up in `peer`: that fork fails
   * @param onMessage a worker half sent its master half a message (`context.send`)
   */
  constructor(
    private readonly halves: ReadonlySet<string>,
    private readonly onFailed: (peer: Peer, error: MasterProcessError) => void,
    private readonly onMessage: (peer: Peer, message: { plugin: string; type: string; payload: unknown }) => void,
  ) {}

  attach(peer: Peer): void {
    peer.worker.process.on('internalMessage', (message: unknown) => this.receive(peer, message));
    // The IPC channel closes at disconnect: no answer can come after it, so fail at once.
    peer.worker.on('disconnect', () => this.drop(peer, 'disconnected'));
    peer.worker.on('exit', () => this.drop(peer, 'exited'));
  }

  request<T>(peer: Peer | undefined, pid: number, plugin: string, type: string, payload: unknown, options: RequestOptions = {}): Promise<T> {
    let timeout: number;
    try {
      timeout = this.check(plugin, type, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const what = describe(plugin, type);
    if (!peer || !peer.worker.isConnected()) {
      return Promise.reject(new MasterProcessError(ErrorCode.WORKER_EXIT, `${what}: no connected worker with pid ${show(pid)}. Ask one of master.workers that is not disconnecting.`));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(this.error(ErrorCode.REQUEST_TIMEOUT, `worker ${peer.pid} did not answer ${what} within ${timeout} ms; make the handler answer sooner, or pass a longer { timeout }`, peer, plugin, type));
      }, timeout);
      timer.unref();
      this.pending.set(id, { peer, plugin, type, resolve: resolve as (value: unknown) => void, reject, timer });
      const settle = (error: Error | null) => {
        if (!error) return;
        this.settle(id)?.reject(this.error(ErrorCode.WORKER_EXIT, `${what} could not be sent to worker ${peer.pid}: ${error.message}`, peer, plugin, type, error));
      };
      try {
        peer.worker.send({ cmd: PLUGIN_CMD, kind: 'request', id, plugin, type, payload }, undefined, settle);
      } catch (error) {
        // A payload JSON cannot carry (a BigInt, a cycle).
        this.settle(id);
        reject(invalidValue({ option: `${what} payload` }, payload, `JSON: ${(error as Error).message}`));
      }
    });
  }

  gather<T>(peers: readonly Peer[], plugin: string, type: string, payload: unknown, options: RequestOptions = {}): Promise<WorkerReply<T>[]> {
    try {
      this.check(plugin, type, options);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.all(
      peers.map((peer) =>
        this.request<T>(peer, peer.pid, plugin, type, payload, options).then(
          (value): WorkerReply<T> => ({ worker: peer.view(), ok: true, value }),
          (error: MasterProcessError): WorkerReply<T> => ({ worker: peer.view(), ok: false, error }),
        ),
      ),
    );
  }

  private check(plugin: string, type: string, options: RequestOptions): number {
    if (typeof plugin !== 'string' || !this.halves.has(plugin)) {
      const known = [...this.halves];
      throw new MasterProcessError(
        ErrorCode.NO_HANDLER,
        `No plugin named ${show(plugin)} has a worker half, so no worker can answer it. ` +
          (known.length ? `Plugins with a worker half: ${known.join(', ')}.` : 'No plugin of this master declares `worker`.'),
      );
    }
    if (typeof type !== 'string' || type === '') throw invalidValue({ option: 'type' }, type, 'a non-empty string naming the request');
    if (options === null || typeof options !== 'object') throw invalidValue({ option: 'options' }, options, 'an object { timeout }');
    return options.timeout === undefined ? DEFAULT_TIMEOUT : parseDuration(options.timeout, { option: 'timeout' }, undefined, 1);
  }

  private receive(peer: Peer, message: unknown): void {
    if (!isPluginMessage(message)) return;
    if (message.kind === 'failed') {
      const error = this.error(
        ErrorCode.PLUGIN_WORKER,
        `Plugin "${message.plugin}" failed in its worker half (${message.module}) in worker ${peer.pid} (slot ${peer.view().slot}): ${message.error.message}`,
        peer, message.plugin, undefined, fromWire(message.error),
      );
      this.onFailed(peer, error);
      return;
    }
    if (message.kind === 'message') {
      // Only the halves this master loaded speak on the channel; anything else is not ours to pass on.
      if (typeof message.plugin === 'string' && this.halves.has(message.plugin) && typeof message.type === 'string') {
        this.onMessage(peer, { plugin: message.plugin, type: message.type, payload: message.payload });
      }
      return;
    }
    if (message.kind !== 'reply') return;
    const pending = this.settle(message.id);
    if (!pending || pending.peer !== peer) return; // late (timed out) or not ours
    if (message.ok) return pending.resolve(message.value);
    const { plugin, type } = pending;
    pending.reject(
      message.noHandler
        ? this.error(ErrorCode.NO_HANDLER, `${message.error.message}: register one with context.handle("${type}", fn) in the worker half`, peer, plugin, type)
        : this.error(ErrorCode.REQUEST_FAILED, `worker ${peer.pid} failed ${describe(plugin, type)}: ${message.error.message}`, peer, plugin, type, fromWire(message.error)),
    );
  }

  private settle(id: number): Pending | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  private drop(peer: Peer, how: string): void {
    for (const [id, pending] of this.pending) {
      if (pending.peer !== peer) continue;
      this.settle(id);
      pending.reject(this.error(ErrorCode.WORKER_EXIT, `worker ${peer.pid} ${how} before it answered ${describe(pending.plugin, pending.type)}`, peer, pending.plugin, pending.type));
    }
  }

  private error(code: string, message: string, peer: Peer, plugin: string, type?: string, cause?: unknown): MasterProcessError {
    const error = new MasterProcessError(code, message, cause === undefined ? undefined : { cause });
    return Object.assign(error, { plugin, worker: peer.pid, ...(type === undefined ? { hook: 'worker' } : { type }) });
  }
}
