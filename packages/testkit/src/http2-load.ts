import http2 from 'node:http2';

export interface Http2LoadResult {
  /** Streams answered 200 with a pid. */
  ok: number;
  /** Streams that failed in a way a client could not safely retry, by kind. */
  failures: Record<string, number>;
  failed: number;
  /**
   * Streams the server never processed: refused (REFUSED_STREAM, above the last stream id of its GOAWAY)
   * or not even sent (the session had received GOAWAY). HTTP/2 says these are safe to retry; they were,
   * on a new session.
   */
  retried: number;
  /** GOAWAY frames received. */
  goaways: number;
  /** Per answered stream, in completion order: end time (epoch ms) and the pid that answered. */
  samples: { end: number[]; pid: number[] };
}

const REFUSED_STREAM = http2.constants.NGHTTP2_REFUSED_STREAM;

/**
 * HTTP/2 load with Node's own client: `sessions` sessions, each running `streams` request loops
 * (GET `path`, a JSON body with the pid). A session that receives GOAWAY is replaced by a new one (so the
 * primary hands it to a live worker); streams it refused are retried there, and counted as `retried`.
 */
export function runHttp2Load(options: { url: string; sessions: number; streams: number; path?: string }): {
  stop: () => Promise<Http2LoadResult>;
} {
  const result: Http2LoadResult = { ok: 0, failures: {}, failed: 0, retried: 0, goaways: 0, samples: { end: [], pid: [] } };
  const all = new Set<http2.ClientHttp2Session>();
  let stopped = false;

  const open = () => {
    const session = http2.connect(options.url, { rejectUnauthorized: false });
    all.add(session);
    session.on('goaway', () => result.goaways++);
    session.on('error', () => {}); // reported per stream
    session.on('close', () => all.delete(session));
    return session;
  };

  const fail = (kind: string) => {
    result.failed++;
    result.failures[kind] = (result.failures[kind] ?? 0) + 1;
  };

  const once = (session: http2.ClientHttp2Session) =>
    new Promise<'ok' | 'retry' | 'failed'>((resolve) => {
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request({ ':path': options.path ?? '/' });
      } catch {
        // ERR_HTTP2_GOAWAY_SESSION / ERR_HTTP2_INVALID_SESSION: nothing was sent.
        return resolve('retry');
      }
      let body = '';
      let status = 0;
      stream.setEncoding('utf8');
      stream.on('response', (headers) => (status = Number(headers[':status'])));
      stream.on('data', (chunk: string) => (body += chunk));
      stream.on('end', () => {
        try {
          const pid = Number(JSON.parse(body).pid);
          if (status !== 200 || !pid) throw new Error(`status ${status}`);
          result.ok++;
          result.samples.end.push(Date.now());
          result.samples.pid.push(pid);
          resolve('ok');
        } catch {
          fail(status === 200 ? 'bad body' : `status ${status}`);
          resolve('failed');
        }
      });
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (stream.rstCode === REFUSED_STREAM && status === 0) return resolve('retry');
        fail(error.code ?? error.message);
        resolve('failed');
      });
    });

  const loops: Promise<void>[] = [];
  for (let s = 0; s < options.sessions; s++) {
    let session = open();
    const current = () => {
      if (session.closed || session.destroyed) session = open();
      return session;
    };
    for (let k = 0; k < options.streams; k++) {
      loops.push((async () => {
        while (!stopped) {
          const outcome = await once(current());
          if (outcome === 'retry') result.retried++;
        }
      })());
    }
  }

  const stop = async (): Promise<Http2LoadResult> => {
    stopped = true;
    await Promise.all(loops);
    for (const session of all) session.close();
    return result;
  };
  return { stop };
}
