// The endpoint: plain node:http in the master. It is up from `setup` to `onExit`; the master never
// reloads, so neither does it.
import http from 'node:http';
import { inspectSocketPath, listenPrivately, MasterProcessError, removeSocketIfSame, type Logger } from '@master-process/core';
import type { Endpoint } from './options.js';
import { PKG } from './options.js';
import { MetricsErrorCode } from './prom.js';

export interface Page {
  contentType: string;
  body: string;
}

const describe = (endpoint: Endpoint) => (endpoint.kind === 'unix' ? endpoint.path : `${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`);

function listenFailed(endpoint: Endpoint, why: string, cause?: unknown): MasterProcessError {
  const hint = endpoint.kind === 'unix'
    ? 'Point METRICS_SOCKET (or the `socket` option) at a path in a folder this user may write.'
    : 'Pick a free port with METRICS_PORT (or the `port` option), or stop what listens there.';
  return new MasterProcessError(MetricsErrorCode.LISTEN, `${PKG}: cannot listen on ${describe(endpoint)}: ${why}. ${hint}`, cause === undefined ? undefined : { cause });
}

export class MetricsServer {
  private readonly server: http.Server;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly path: string,
    render: () => Promise<Page>,
    log: Logger,
  ) {
    this.server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (url !== this.path) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`Not found. The metrics are at ${this.path}\n`);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Only GET and HEAD.\n');
        return;
      }
      render().then(
        (page) => {
          res.writeHead(200, { 'content-type': page.contentType, 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : page.body);
        },
        (error: Error) => {
          log('scrape failed: %s', error.stack ?? error.message);
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`${PKG}: the scrape failed: ${error.message}\n`);
        },
      );
    });
    // A scraper that holds a keep-alive connection must not delay the master's exit past `close()`.
    this.server.keepAliveTimeout = 5000;
  }

  /** The address scrapers reach: `127.0.0.1:9464`, or the socket path. */
  address(): string {
    const bound = this.server.address();
    if (bound === null) return describe(this.endpoint);
    return typeof bound === 'string' ? bound : describe({ kind: 'tcp', host: bound.address, port: bound.port });
  }

  async listen(): Promise<void> {
    const { endpoint } = this;
    if (endpoint.kind === 'tcp') {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', (error: NodeJS.ErrnoException) => reject(listenFailed(endpoint, error.code ?? error.message, error)));
        this.server.listen({ host: endpoint.host, port: endpoint.port, exclusive: true }, resolve);
      });
      return;
    }
    const found = await inspectSocketPath(endpoint.path).catch((error: NodeJS.ErrnoException) => ({ state: 'unknown' as const, reason: error.code ?? error.message }));
    switch (found.state) {
      case 'live':
        throw listenFailed(endpoint, 'another process serves that socket');
      case 'not-a-socket':
        throw listenFailed(endpoint, `it is ${found.kind}, not a socket, and is left untouched`);
      case 'unknown':
        throw listenFailed(endpoint, `cannot tell whether that socket is still served (${found.reason}); it is left in place`);
      case 'stale':
        await removeSocketIfSame(endpoint.path, found.stats);
    }
    try {
      await listenPrivately(this.server, endpoint.path);
    } catch (error) {
      throw listenFailed(endpoint, (error as NodeJS.ErrnoException).code ?? (error as Error).message, error);
    }
  }

  /** Stop listening and end every connection; the socket file goes with it (Node unlinks what it bound). */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
