import net from 'node:net';
import { createLogger, ErrorCode, type EventArgs, type Master, type MasterEventName, type StopInfo } from '@master-process/core';
import { ControlErrorCode } from './errors.js';
import { COMMANDS, encode, LineSplitter, PROTOCOL_VERSION, SERVER_ID, type Command, type Hello, type Reply, type RequestId } from './protocol.js';
import { buildStatus } from './status.js';
import { brief, type ReloadTracker } from './tracker.js';

const log = createLogger('control');

/** What a waiting `reload` hears while it waits; a `stop` hears the workers leave. */
const RELOAD_EVENTS = ['reload:start', 'reload:phase', 'worker:fork', 'worker:ready', 'worker:retire', 'worker:exit'] as const;
const STOP_EVENTS = ['worker:retire', 'worker:exit'] as const;
type ForwardedEvent = (typeof RELOAD_EVENTS)[number];
/** A client that reads nothing while its replies pile up is dropped: it cannot be waiting for them. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** After an oversized line the connection is ended; one that does not hang up is destroyed after this. */
const OVERSIZE_GRACE_MS = 5000;
/** At exit, clients get this long to read their last replies. */
const CLOSE_GRACE_MS = 1000;

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));
const codeOf = (error: unknown) => String((error as { code?: unknown })?.code ?? ControlErrorCode.INTERNAL);

function progressOf<E extends ForwardedEvent>(event: E, args: EventArgs<E>): Record<string, unknown> {
  const [first, second] = args as unknown[];
  switch (event) {
    case 'reload:start':
    case 'reload:phase':
      return { ...(first as object) };
    case 'worker:retire':
      return { worker: brief(first as never), reason: second };
    case 'worker:exit': {
      const { code, signal, expected } = second as EventArgs<'worker:exit'>[1];
      return { worker: brief(first as never), exit: { code, signal, expected } };
    }
    default:
      return { worker: brief(first as never) };
  }
}

class Connection {
  closed = false;
  private oversized = false;
  private readonly lines: LineSplitter;
  private readonly cleanups = new Set<() => void>();

  constructor(readonly socket: net.Socket, maxLineBytes: number, private readonly onLine: (c: Connection, line: string) => void) {
    this.lines = new LineSplitter(maxLineBytes);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => log('client error: %s', error.message));
    socket.on('close', () => {
      this.closed = true;
      for (const cleanup of this.cleanups) cleanup();
      this.cleanups.clear();
    });
  }

  send(message: Reply | Hello): void {
    if (this.closed || !this.socket.writable) return;
    if (this.socket.writableLength > MAX_BUFFERED_BYTES) {
      log('dropping a client that reads none of its %d buffered bytes', this.socket.writableLength);
      this.socket.destroy();
      return;
    }
    this.socket.write(encode(message));
  }

  /** Runs `cleanup` when the client goes; returns a function that runs it now instead. */
  onClose(cleanup: () => void): () => void {
    this.cleanups.add(cleanup);
    return () => {
      if (this.cleanups.delete(cleanup)) cleanup();
    };
  }

  private onData(chunk: Buffer): void {
    for (const line of this.lines.push(chunk)) if (line.trim() !== '') this.onLine(this, line);
    if (this.lines.overflow && !this.oversized) {
      this.oversized = true;
      this.send({
        type: 'error', id: null,
        error: { code: ControlErrorCode.LINE_TOO_LONG, message: `a request line longer than ${this.lines.maxBytes} bytes (option maxLineBytes); the connection is closed. A request is one short JSON object per line.` },
      });
      // The rest is read and dropped (never buffered) until the client hangs up.
      this.socket.end();
      setTimeout(() => this.socket.destroy(), OVERSIZE_GRACE_MS).unref();
    }
  }
}

/** The control socket's server: a hello per client, then requests, each answered by id. */
export class ControlServer {
  readonly server: net.Server;
  /** Where it listens, once bound. */
  socketPath = '';
  private readonly connections = new Set<Connection>();
  private readonly stopWaiters = new Set<{ connection: Connection; id: RequestId }>();

  constructor(
    private readonly master: Master,
    private readonly tracker: ReloadTracker,
    private readonly settings: { name: string; maxLineBytes: number; maxClients: number },
  ) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (error) => log('server error: %s', error.message));
  }

  private accept(socket: net.Socket): void {
    if (this.connections.size >= this.settings.maxClients) {
      socket.on('error', () => {});
      const message = `${this.settings.maxClients} clients are connected already (option maxClients); try again when one is done.`;
      socket.end(encode({ type: 'error', id: null, error: { code: ControlErrorCode.BUSY, message } }));
      return;
    }
    const connection = new Connection(socket, this.settings.maxLineBytes, (c, line) => this.handle(c, line));
    this.connections.add(connection);
    connection.onClose(() => this.connections.delete(connection));
    connection.send({ type: 'hello', server: SERVER_ID, protocol: PROTOCOL_VERSION, pid: this.master.pid, name: this.settings.name });
  }

  private handle(connection: Connection, line: string): void {
    const fail = (id: RequestId, code: string, message: string) => connection.send({ type: 'error', id, error: { code, message } });
    let request: unknown;
    try {
      request = JSON.parse(line);
    } catch (error) {
      return fail(null, ControlErrorCode.BAD_REQUEST, `a request line is not JSON (${errorMessage(error)}). Send one JSON object per line, such as {"id":1,"cmd":"status"}.`);
    }
    if (request === null || typeof request !== 'object' || Array.isArray(request)) {
      return fail(null, ControlErrorCode.BAD_REQUEST, 'a request is a JSON object such as {"id":1,"cmd":"status"}.');
    }
    const { id = null, cmd } = request as { id?: unknown; cmd?: unknown };
    if (id !== null && typeof id !== 'string' && typeof id !== 'number') {
      return fail(null, ControlErrorCode.BAD_REQUEST, 'a request `id` is a string or a number (it is echoed in the replies).');
    }
    if (typeof cmd !== 'string' || !(COMMANDS as readonly string[]).includes(cmd)) {
      return fail(id, ControlErrorCode.UNKNOWN_COMMAND, `unknown command ${JSON.stringify(cmd ?? null)}. Accepted: ${COMMANDS.join(', ')}.`);
    }
    log('request %s: %s', id, cmd);
    try {
      this.run(connection, id, cmd as Command);
    } catch (error) {
      log('request %s (%s) failed: %s', id, cmd, errorMessage(error));
      fail(id, ControlErrorCode.INTERNAL, `the master could not run ${cmd}: ${errorMessage(error)}. It carries on as before.`);
    }
  }

  private run(connection: Connection, id: RequestId, cmd: Command): void {
    switch (cmd) {
      case 'status':
        return connection.send({ type: 'result', id, result: buildStatus(this.master, this.tracker, { name: this.settings.name, socket: this.socketPath }) });
      case 'reload':
        return this.reload(connection, id);
      case 'stop':
        return this.stop(connection, id);
    }
  }

  /** Forward `events` to the client as progress of request `id`, until the returned function is called or the client goes. */
  private forward(connection: Connection, id: RequestId, events: readonly ForwardedEvent[]): () => void {
    const listeners = events.map((event) => {
      const listener = (...args: EventArgs<typeof event>) => connection.send({ type: 'progress', id, event, ...progressOf(event, args) });
      this.master.on(event as MasterEventName, listener as never);
      return () => this.master.off(event as MasterEventName, listener as never);
    });
    return connection.onClose(() => listeners.forEach((off) => off()));
  }

  /**
   * Same path as SIGHUP (core's reload(), trigger 'control'). During a reload the request joins the coalesced
   * follow-up and reports its outcome. A client that goes away does not abort anything: only its replies stop.
   */
  private reload(connection: Connection, id: RequestId): void {
    const running = this.tracker.current;
    if (running) connection.send({ type: 'progress', id, event: 'reload:queued', running: running.generation, trigger: running.trigger });
    const stopForwarding = this.forward(connection, id, RELOAD_EVENTS);
    const joined = running !== undefined;
    this.master.reload({ trigger: 'control' }).then(
      (result) => connection.send({
        type: 'result', id,
        result: { outcome: 'ok', generation: result.generation, trigger: result.trigger, duration: result.duration, workers: result.workers.map(brief), joined },
      }),
      (error: unknown) => {
        const stopping = codeOf(error) === ErrorCode.STOPPING || this.master.state === 'stopping' || this.master.state === 'stopped';
        if (stopping) {
          const message = `the master is stopping (${errorMessage(error)}); the reload did not complete and no new generation serves.`;
          return connection.send({ type: 'error', id, error: { code: ErrorCode.STOPPING, message } });
        }
        const outcome = this.tracker.outcomeOf(error);
        if (codeOf(error) !== ErrorCode.RELOAD_FAILED || !outcome) return connection.send({ type: 'error', id, error: { code: codeOf(error), message: errorMessage(error) } });
        const serving = this.master.workers.filter((w) => w.state === 'ready');
        connection.send({
          type: 'result', id,
          result: {
            outcome: 'failed', generation: outcome.generation, trigger: outcome.trigger, duration: outcome.duration, error: outcome.error,
            failure: outcome.failure ?? null, serving: { generation: this.master.generation, workers: serving.map(brief) }, joined,
          },
        });
      },
    ).finally(stopForwarding);
  }

  /** Graceful stop; the result (the exit code) is sent from `close()`, once every worker has exited. */
  private stop(connection: Connection, id: RequestId): void {
    connection.send({ type: 'progress', id, event: 'master:stopping' });
    const waiter = { connection, id };
    this.stopWaiters.add(waiter);
    connection.onClose(() => this.stopWaiters.delete(waiter));
    this.forward(connection, id, STOP_EVENTS);
    this.master.stop(0, 'stop requested on the control socket').catch((error: unknown) => {
      this.stopWaiters.delete(waiter);
      connection.send({ type: 'error', id, error: { code: codeOf(error), message: errorMessage(error) } });
    });
  }

  /** At exit: answer the `stop` requests, stop listening, let clients read their last replies, then drop them. */
  async close(info?: StopInfo): Promise<void> {
    for (const { connection, id } of this.stopWaiters) connection.send({ type: 'result', id, result: { code: info?.code ?? 0, reason: info?.reason ?? 'stop' } });
    this.stopWaiters.clear();
    const closed = new Promise<void>((resolve) => (this.server.listening ? this.server.close(() => resolve()) : resolve()));
    const left = [...this.connections];
    for (const connection of left) connection.socket.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_GRACE_MS);
      timer.unref();
      void Promise.all([closed, ...left.map((c) => (c.closed ? undefined : new Promise((r) => c.socket.once('close', r))))]).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    for (const connection of this.connections) connection.socket.destroy();
  }
}
