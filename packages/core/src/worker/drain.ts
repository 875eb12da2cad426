import net from 'node:net';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Http2SecureServer, Http2Server, Http2ServerRequest, Http2Session, ServerHttp2Stream } from 'node:http2';
import type { OpenConnections } from '../types.js';
import { noneOpen } from './protocol.js';
import { shared, type DrainerView } from './shared.js';

/**
 * Graceful drain of an HTTP(S) or HTTP/2 server, built to defeat the ways Node drops requests on shutdown:
 * 1. `server.close()` destroys "idle" keep-alive sockets, even one whose next request is already on the
 *    wire. Here an idle socket is closed only after it has been idle for `idleGrace`, checked after the
 *    event loop has read pending input.
 * 2. A connection its client keeps busy never goes idle: every HTTP/1 response sent while draining carries
 *    `Connection: close`, so the client itself moves on after its current request. HTTP/2 sessions get
 *    GOAWAY: the client opens no new stream on them, open streams finish.
 * 3. Closing the listener is what takes the worker out of the cluster's rotation; connections the
 *    primary already handed over are still accepted and served.
 * Long-lived connections: a `text/event-stream` response is ended when the drain starts (the protocol's
 * own reconnect signal; its connection is closed with it, so the client reconnects elsewhere). Upgraded
 * connections (WebSocket) are never closed by the drain: the app closes them (see `onRetiring`), the
 * master's kill timeout bounds them.
 */
export interface DrainOptions {
  /** How long a keep-alive socket must have been idle before the drain closes it (default 1000 ms). */
  idleGrace?: number;
  /**
   * End `text/event-stream` responses when the drain starts (default true). `false` leaves them to the
   * app (end them in `onRetiring`), or to the kill timeout.
   */
  endEventStreams?: boolean;
}

/** An `http`/`https` server, or an `http2` one (cleartext or TLS, with or without `allowHTTP1`). */
export type DrainableServer = HttpServer | Http2Server | Http2SecureServer;

type Tracked = net.Server & { [kDrain]?: Drainer };
type Response = ServerResponse & { _header?: string | null };
const kDrain = Symbol.for('master-process.drain');
const kPatched = Symbol.for('master-process.drain-every-server');

/** The response a socket is writing now (Node keeps it there; undefined between requests). */
const inflight = (socket: net.Socket) => (socket as net.Socket & { _httpMessage?: Response | null })._httpMessage ?? undefined;
/** Node frees an HTTP/1 socket's parser when it hands the socket to an `upgrade` (or `connect`) listener. */
const isUpgraded = (socket: net.Socket) => (socket as net.Socket & { parser?: unknown }).parser === null && !socket.destroyed;
const isEventStreamType = (type: unknown) => typeof type === 'string' && /^\s*text\/event-stream/i.test(type);

function isEventStream(res: Response): boolean {
  if (!res.headersSent) return false;
  // Headers given to writeHead() alone are only in the serialized head.
  return isEventStreamType(res.getHeader('content-type')) || isEventStreamType(/^content-type:([^\r\n]*)/im.exec(res._header ?? '')?.[1]);
}

const isH2EventStream = (stream: ServerHttp2Stream) => stream.headersSent && isEventStreamType(stream.sentHeaders?.['content-type']);

/**
 * GOAWAY (`session.close()`): the client opens no new stream on this session, open streams finish, then the
 * session closes. Streams the client had not sent yet, or that crossed the GOAWAY, are refused as unprocessed
 * (REFUSED_STREAM), HTTP/2's sign that they may be retried on a new connection. (RFC 9113's two-step GOAWAY,
 * a first one with the highest stream id and a PING, was measured too: Node's client refuses the streams it
 * had queued either way, and answers the PING late or not at all, so it only made each drain slower.)
 */
function goAway(session: Http2Session): void {
  if (!session.closed && !session.destroyed) session.close();
}

class Drainer implements DrainerView {
  state: DrainerView['state'] = 'serving';
  /** HTTP/1 connections. Nothing is done per request until the drain starts: serving costs nothing extra. */
  private readonly sockets = new Set<net.Socket>();
  private readonly idleSince = new Map<net.Socket, number>();
  private readonly sessions = new Set<Http2Session>();
  private readonly streams = new Set<ServerHttp2Stream>();
  private sweeper?: NodeJS.Timeout;
  private readonly drained: Promise<void>;
  private readonly closed: Promise<void>;
  private markDrained!: () => void;
  private markClosed!: () => void;

  constructor(
    private readonly server: Tracked,
    private options: Required<DrainOptions>,
  ) {
    this.drained = new Promise((resolve) => (this.markDrained = resolve));
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    // TLS servers hand out the TLS socket with requests: track that one. A socket without an HTTP/1
    // parser belongs to an HTTP/2 session (tracked as a session below).
    const event = typeof (server as unknown as { addContext?: unknown }).addContext === 'function' ? 'secureConnection' : 'connection';
    server.on(event, (socket: net.Socket) => {
      if (!(socket as net.Socket & { parser?: unknown }).parser) return;
      this.sockets.add(socket);
      if (this.state !== 'serving') this.idleSince.set(socket, Date.now());
      socket.once('close', () => {
        this.sockets.delete(socket);
        this.idleSince.delete(socket);
        this.changed();
      });
    });
    if (isHttp2Server(server)) {
      server.on('session', (session: Http2Session) => {
        this.sessions.add(session);
        session.on('stream', (stream: ServerHttp2Stream) => {
          this.streams.add(stream);
          stream.once('close', () => {
            this.streams.delete(stream);
            this.changed();
          });
        });
        session.once('close', () => {
          this.sessions.delete(session);
          this.changed();
        });
        if (this.state !== 'serving') goAway(session);
      });
    }
    server.once('close', () => {
      clearInterval(this.sweeper);
      this.state = 'closed';
      this.markDrained();
      this.markClosed();
      this.changed();
    });
    const drainer = this;
    // An instance property, so the cluster's own disconnect (which calls server.close) drains too. It
    // skips http's own close, which destroys idle keep-alive sockets at once.
    server.close = function close(this: net.Server, callback?: (error?: Error) => void) {
      drainer.start();
      return net.Server.prototype.close.call(this, callback);
    };
  }

  get listening(): boolean {
    return this.server.listening;
  }

  setOptions(options: Required<DrainOptions>): void {
    this.options = options;
  }

  close(): void {
    if (this.server.listening) this.server.close();
  }

  whenDrained(): Promise<void> {
    return this.drained;
  }

  whenClosed(): Promise<void> {
    return this.closed;
  }

  open(): OpenConnections {
    const open = noneOpen();
    for (const socket of this.sockets) {
      if (isUpgraded(socket)) open.upgraded++;
      else if (inflight(socket) && isEventStream(inflight(socket)!)) open.eventStreams++;
      else open.http++;
    }
    for (const stream of this.streams) if (isH2EventStream(stream)) open.eventStreams++;
    open.http2 = this.sessions.size;
    return open;
  }

  private start(): void {
    if (this.state !== 'serving') return;
    this.state = 'draining';
    const now = Date.now();
    this.server.prependListener('request', (req: IncomingMessage | Http2ServerRequest, res: Response) => {
      // HTTP/2 forbids connection headers; its sessions were sent GOAWAY instead.
      if (req.httpVersionMajor >= 2) return;
      if (!res.headersSent) res.setHeader('Connection', 'close');
      this.busy(req.socket as net.Socket, res);
    });
    for (const socket of this.sockets) {
      const res = inflight(socket);
      if (res) {
        if (!res.headersSent) res.setHeader('Connection', 'close');
        this.busy(socket, res);
      } else if (!isUpgraded(socket)) this.idleSince.set(socket, now);
    }
    for (const session of this.sessions) goAway(session);
    this.endEventStreams();
    const every = Math.max(10, Math.min(250, Math.floor(this.options.idleGrace / 4)));
    this.sweeper = setInterval(() => setImmediate(() => this.sweep()), every);
    this.sweeper.unref();
    this.changed();
  }

  private busy(socket: net.Socket, res: Response): void {
    this.idleSince.delete(socket);
    res.once('close', () => {
      if (this.sockets.has(socket)) this.idleSince.set(socket, Date.now());
      this.changed();
    });
  }

  /** End every event stream (the client reconnects, to another worker) unless the app keeps them. */
  private endEventStreams(): void {
    if (!this.options.endEventStreams) return;
    for (const socket of this.sockets) {
      const res = inflight(socket);
      if (res && !res.writableEnded && isEventStream(res)) {
        // The app may still write to it before it hears of the end: that must not throw.
        res.on('error', () => {});
        // The head went out without `Connection: close`: close the connection right after the stream,
        // or the client's reconnect could reuse it and land on this worker again.
        res.once('finish', () => socket.end());
        res.end();
      }
    }
    for (const stream of this.streams) {
      if (!stream.writableEnded && isH2EventStream(stream)) {
        stream.on('error', () => {});
        stream.end();
      }
    }
  }

  /** Runs from setImmediate: input that arrived during a busy tick has been read (and answered) by now. */
  private sweep(): void {
    if (this.state !== 'draining') return;
    this.endEventStreams();
    const now = Date.now();
    for (const [socket, since] of this.idleSince) {
      if (inflight(socket) || now - since < this.options.idleGrace) continue;
      this.idleSince.delete(socket);
      // An upgraded connection is the app's: it is never "idle" HTTP.
      if (isUpgraded(socket)) continue;
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
    this.changed();
  }

  private isDrained(): boolean {
    if (this.server.listening || this.sessions.size > 0) return false;
    for (const socket of this.sockets) if (!isUpgraded(socket)) return false;
    return true;
  }

  private changed(): void {
    if (this.state === 'serving') return;
    if (this.state === 'draining' && this.isDrained()) {
      this.state = 'drained';
      this.markDrained();
    }
    shared().events.emit('progress');
  }
}

function isHttp2Server(server: unknown): server is Http2Server | Http2SecureServer {
  return server instanceof net.Server && typeof (server as { updateSettings?: unknown }).updateSettings === 'function';
}

function isDrainable(server: unknown): server is DrainableServer {
  return server instanceof net.Server && (typeof (server as { closeIdleConnections?: unknown }).closeIdleConnections === 'function' || isHttp2Server(server));
}

function resolveDrainOptions(options: DrainOptions): Required<DrainOptions> {
  const { idleGrace = 1000, endEventStreams = true } = options;
  if (!Number.isFinite(idleGrace) || idleGrace < 0) throw new TypeError(`drain(server, { idleGrace }): expected a number of ms ≥ 0, got ${String(idleGrace)}`);
  if (typeof endEventStreams !== 'boolean') throw new TypeError(`drain(server, { endEventStreams }): expected true or false, got ${String(endEventStreams)}`);
  return { idleGrace, endEventStreams };
}

/**
 * Apply the graceful drain to an `http`, `https` or `http2` server; the drain starts with `server.close()`.
 * Calling it again (for instance after the preload applied it at `listen`) changes the options.
 */
export function drain<S extends DrainableServer>(server: S, options: DrainOptions = {}): S {
  if (!isDrainable(server)) throw new TypeError('drain(server): expected an http.Server, https.Server or http2 server');
  const resolved = resolveDrainOptions(options);
  const tracked = server as unknown as Tracked;
  const existing = Object.hasOwn(tracked, kDrain) ? tracked[kDrain] : undefined;
  if (existing) existing.setOptions(resolved);
  else {
    const drainer = new Drainer(tracked, resolved);
    tracked[kDrain] = drainer;
    shared().drainers.add(drainer);
  }
  return server;
}

/** Apply the drain to every HTTP(S) and HTTP/2 server that listens from now on. */
export function drainEveryServer(options: DrainOptions = {}): void {
  const proto = net.Server.prototype as net.Server & { [kPatched]?: true };
  if (proto[kPatched]) return;
  proto[kPatched] = true;
  const listen = proto.listen;
  proto.listen = function patchedListen(this: net.Server, ...args: unknown[]) {
    // An app that called drain(server, options) itself keeps its options.
    if (isDrainable(this) && !Object.hasOwn(this, kDrain)) drain(this, options);
    return (listen as (...a: unknown[]) => net.Server).apply(this, args);
  } as typeof proto.listen;
}
