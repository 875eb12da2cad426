import WebSocket from 'ws';

/** One connection of a client, from open to close. */
export interface WebSocketSession {
  client: number;
  /** The worker that answered (its first message: {"pid","slot","gen"}). */
  pid: number;
  gen: number;
  openedAt: number;
  closedAt?: number;
  /** The close code the client saw: 1001 = going away (clean), 1006 = abnormal (no close frame). */
  code?: number;
}

export interface WebSocketClientsResult {
  sessions: WebSocketSession[];
  /** Closes seen by clients, by code (the clients' own closes at the end are not counted). */
  closes: Record<number, number>;
  /** Connection attempts that never opened, by error code. */
  failedConnects: Record<string, number>;
}

/**
 * C WebSocket clients that stay connected and reconnect at once whenever their connection closes, as a
 * browser app following a 1001 would. They record every session and every close code until `stop()`.
 */
export function runWebSocketClients(options: { url: string; clients: number }): {
  sessions: WebSocketSession[];
  stop: () => Promise<WebSocketClientsResult>;
} {
  const sessions: WebSocketSession[] = [];
  const closes: Record<number, number> = {};
  const failedConnects: Record<string, number> = {};
  const live = new Set<WebSocket>();
  let stopped = false;

  const connect = (client: number) => {
    if (stopped) return;
    const ws = new WebSocket(options.url);
    live.add(ws);
    let session: WebSocketSession | undefined;
    let failure: string | undefined;
    ws.on('message', (data) => {
      if (session) return;
      const hello = JSON.parse(String(data));
      session = { client, pid: hello.pid, gen: hello.gen, openedAt: Date.now() };
      sessions.push(session);
    });
    ws.on('error', (error: NodeJS.ErrnoException) => (failure = error.code ?? error.message));
    ws.on('close', (code) => {
      live.delete(ws);
      if (stopped) return;
      if (session) {
        session.closedAt = Date.now();
        session.code = code;
        closes[code] = (closes[code] ?? 0) + 1;
      } else {
        const kind = failure ?? `closed ${code} before the first message`;
        failedConnects[kind] = (failedConnects[kind] ?? 0) + 1;
      }
      // A refused connection is retried after a breath, a closed session at once.
      if (session) connect(client);
      else setTimeout(() => connect(client), 50);
    });
  };
  for (let i = 0; i < options.clients; i++) connect(i);

  const stop = async (): Promise<WebSocketClientsResult> => {
    stopped = true;
    await Promise.all([...live].map((ws) => new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(1000);
    })));
    return { sessions, closes, failedConnects };
  };
  return { sessions, stop };
}
