import net from 'node:net';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';

/**
 * Graceful drain of an HTTP(S) server, built to defeat the three ways Node drops requests on shutdown:
 * 1. `server.close()` destroys "idle" keep-alive sockets, even one whose next request is already on the
 *    wire. Here an idle socket is closed only after it has been idle for `idleGrace`, checked after the
 *    event loop has read pending input.
 * 2. A connection its client keeps busy never goes idle: every response sent while draining carries
 *    `Connection: close`, so the client itself moves on after its current request.
 * 3. Closing the listener is what takes the worker out of the cluster's rotation; connections the
 *    primary already handed over are still accepted and served.
 */
export interface DrainOptions {
  /** How long a keep-alive socket must have been idle before the drain closes it (default 1000 ms). */
  idleGrace?: number;
}

type Tracked = HttpServer & { [kDrain]?: Drainer };
const kDrain = Symbol.for('master-process.drain');
const kPatched = Symbol.for('master-process.drain-every-server');
const servers = new Set<Tracked>();

/** The response a socket is writing now (Node keeps it there; undefined between requests). */
const inflight = (socket: net.Socket) => (socket as net.Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;

class Drainer {
  /** Open connections. Nothing is done per request until the drain starts: serving costs nothing extra. */
  private readonly sockets = new Set<net.Socket>();
  private readonly idleSince = new Map<net.Socket, number>();
  private draining = false;
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly server: Tracked,
    private readonly idleGrace: number,
  ) {
    // TLS servers hand out the TLS socket with requests: track that one.
    const event = typeof (server as unknown as { addContext?: unknown }).addContext === 'function' ? 'secureConnection' : 'connection';
    server.on(event, (socket: net.Socket) => {
      this.sockets.add(socket);
      if (this.draining) this.idleSince.set(socket, Date.now());
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.idleSince.delete(socket);
      });
    });
    const drainer = this;
    // An instance property, so the cluster's own disconnect (which calls server.close) drains too.
    server.close = function close(this: HttpServer, callback?: (error?: Error) => void) {
      drainer.start();
      return net.Server.prototype.close.call(this, callback) as HttpServer;
    };
  }

  private start(): void {
    if (this.draining) return;
    this.draining = true;
    const now = Date.now();
    this.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      res.setHeader('Connection', 'close');
      this.busy(req.socket, res);
    });
    for (const socket of this.sockets) {
      const res = inflight(socket);
      if (!res) this.idleSince.set(socket, now);
      else {
        if (!res.headersSent) res.setHeader('Connection', 'close');
        this.busy(socket, res);
      }
    }
    const every = Math.max(10, Math.min(250, Math.floor(this.idleGrace / 4)));
    this.sweeper = setInterval(() => setImmediate(() => this.sweep()), every);
    this.sweeper.unref();
    this.server.once('close', () => clearInterval(this.sweeper));
  }

  private busy(socket: net.Socket, res: ServerResponse): void {
    this.idleSince.delete(socket);
    res.once('close', () => {
      if (this.sockets.has(socket)) this.idleSince.set(socket, Date.now());
    });
  }

  /** Runs from setImmediate: input that arrived during a busy tick has been read (and answered) by now. */
  private sweep(): void {
    const now = Date.now();
    for (const [socket, since] of this.idleSince) {
      if (inflight(socket) || now - since < this.idleGrace) continue;
      this.idleSince.delete(socket);
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
  }
}

function isHttpServer(server: unknown): server is HttpServer {
  return server instanceof net.Server && typeof (server as { closeIdleConnections?: unknown }).closeIdleConnections === 'function';
}

/** Apply the graceful drain to an HTTP or HTTPS server (idempotent). The drain starts with `server.close()`. */
export function drain(server: HttpServer, options: DrainOptions = {}): HttpServer {
  if (!isHttpServer(server)) throw new TypeError('drain(server): expected an http.Server or https.Server');
  const tracked = server as Tracked;
  if (!Object.hasOwn(tracked, kDrain)) {
    const drainer = new Drainer(tracked, options.idleGrace ?? 1000);
    tracked[kDrain] = drainer;
    servers.add(tracked);
  }
  return server;
}

/** Close every drained server that still listens; resolves once their connections have drained. */
export function closeAll(): Promise<void> {
  const closing = [...servers]
    .filter((server) => server.listening)
    .map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
  return Promise.all(closing).then(() => undefined);
}

/** Apply the drain to every HTTP(S) server that listens from now on. */
export function drainEveryServer(options: DrainOptions = {}): void {
  const proto = net.Server.prototype as net.Server & { [kPatched]?: true };
  if (proto[kPatched]) return;
  proto[kPatched] = true;
  const listen = proto.listen;
  proto.listen = function patchedListen(this: net.Server, ...args: unknown[]) {
    if (isHttpServer(this)) drain(this, options);
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof proto.listen;
}
