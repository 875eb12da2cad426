import http from 'node:http';

/** One `text/event-stream` response, from its head to its end. */
export interface EventStreamSession {
  client: number;
  /** The worker that sent the stream's first event ({"pid","slot","gen","n"}). */
  pid: number;
  gen: number;
  /** Id of the first event, and the Last-Event-ID the client asked with. */
  firstId: number;
  lastEventId: number;
  events: number;
  openedAt: number;
  endedAt?: number;
  /** `end`: the server ended the response cleanly; anything else is an error (ECONNRESET, aborted, ...). */
  end?: string;
}

export interface EventStreamClientsResult {
  sessions: EventStreamSession[];
  /** Streams that ended in an error instead of a clean end, by kind. */
  resets: Record<string, number>;
  /** Requests that got no stream (refused, not 200), by kind. */
  failedConnects: Record<string, number>;
  /** Ids a client missed between two of its streams (0 when every reconnect picked up where it left). */
  gaps: number;
}

/**
 * C clients reading `text/event-stream` as EventSource does: on the end of a stream they wait the
 * server's `retry:` time, then reconnect with `Last-Event-ID`. Keep-alive connections, so a server that
 * ends a stream but keeps its connection would see the reconnect on it. Records every stream until `stop()`.
 */
export function runEventStreamClients(options: { port: number; path?: string; clients: number }): {
  sessions: EventStreamSession[];
  stop: () => Promise<EventStreamClientsResult>;
} {
  const sessions: EventStreamSession[] = [];
  const resets: Record<string, number> = {};
  const failedConnects: Record<string, number> = {};
  const agent = new http.Agent({ keepAlive: true });
  const live = new Set<http.ClientRequest>();
  let gaps = 0;
  let stopped = false;
  const count = (into: Record<string, number>, kind: string) => (into[kind] = (into[kind] ?? 0) + 1);

  const connect = (client: number, lastEventId: number, retry: number) => {
    if (stopped) return;
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId > 0) headers['last-event-id'] = String(lastEventId);
    let session: EventStreamSession | undefined;
    let last = lastEventId;
    let again = retry;
    let settled = false;
    const finish = (end: string | undefined, connectFailure?: string) => {
      if (settled) return;
      settled = true;
      live.delete(req);
      if (stopped) return;
      if (session) {
        session.endedAt = Date.now();
        session.end = end;
        if (end !== 'end') count(resets, end ?? 'closed');
      } else count(failedConnects, connectFailure ?? end ?? 'closed before the first event');
      setTimeout(() => connect(client, last, again), session ? again : 50);
    };
    const req = http.get({ host: '127.0.0.1', port: options.port, path: options.path ?? '/events', agent, headers }, (res) => {
      if (res.statusCode !== 200 || !/^text\/event-stream/.test(String(res.headers['content-type']))) {
        res.resume();
        return finish(undefined, `status ${res.statusCode}`);
      }
      res.setEncoding('utf8');
      let buffer = '';
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          let id: number | undefined;
          let data: string | undefined;
          for (const line of block.split('\n')) {
            if (line.startsWith('retry:')) again = Number(line.slice(6)) || again;
            else if (line.startsWith('id:')) id = Number(line.slice(3));
            else if (line.startsWith('data:')) data = line.slice(5).trim();
          }
          if (data === undefined || id === undefined) continue;
          const event = JSON.parse(data);
          if (!session) {
            session = { client, pid: event.pid, gen: event.gen, firstId: id, lastEventId, events: 0, openedAt: Date.now() };
            sessions.push(session);
            if (lastEventId > 0 && id !== lastEventId + 1) gaps += id - lastEventId - 1;
          }
          session.events++;
          last = id;
        }
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
      res.on('close', () => finish(res.complete ? 'end' : 'aborted'));
    });
    live.add(req);
    req.on('error', (error: NodeJS.ErrnoException) => finish(error.code ?? error.message));
  };
  for (let i = 0; i < options.clients; i++) connect(i, 0, 100);

  const stop = async (): Promise<EventStreamClientsResult> => {
    stopped = true;
    for (const req of live) req.destroy();
    agent.destroy();
    return { sessions, resets, failedConnects, gaps };
  };
  return { sessions, stop };
}
