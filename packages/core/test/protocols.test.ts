// Long-lived connections across reloads: WebSocket (the real `ws`), Server-Sent Events, HTTP/2.
// The app is testkit's protocols-app.mjs, a plain app (nothing but its server holds the loop).
import assert from 'node:assert/strict';
import https from 'node:https';
import { afterEach, describe, it } from 'node:test';
import {
  fixtures, runEventStreamClients, runHttp2Load, runWebSocketClients, type MasterHandle, type WebSocketSession,
} from '@master-process/testkit';
import { master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const protocolMaster = (options: Record<string, unknown>, env: Record<string, string>) =>
  master({ options: { exec: fixtures.protocolsApp, ...options } }, env, cleanups);

const exits = (m: MasterHandle) => m.events.filter((e) => e.ev === 'worker:exit').map((e) => ({ pid: e.args![0].pid as number, ...e.args![1] }));

/** `n` reloads one after the other; returns, per reload, the pids it retired and the generation it made. */
async function reloads(m: MasterHandle, n: number): Promise<{ old: number[]; generation: number; duration: number }[]> {
  const done = [];
  for (let i = 0; i < n; i++) {
    const old = (await m.workers()).map((w) => w.pid);
    const result = await m.command('reload');
    done.push({ old, generation: result.generation, duration: result.duration });
  }
  return done;
}

describe('long-lived connections across reloads', () => {
  for (const recipe of ['retiring', 'sigterm'] as const) {
    it(`WebSocket, app closing with 1001 ${recipe === 'retiring' ? 'on onRetiring()' : 'on SIGTERM (the 4.x way)'}: no 1006, every client moves to the new generation`, async () => {
      // A long kill timeout: the app must hear of its retirement long before the SIGTERM fallback (15 s).
      const { m, port } = await protocolMaster({ workers: 2, killTimeout: '30s' }, { PROTO: 'ws', WS_CLOSE: recipe });
      await m.started();
      const clients = runWebSocketClients({ url: `ws://127.0.0.1:${port}`, clients: 8 });
      cleanups.push(async () => void (await clients.stop()));
      const connectedTo = async (generation: number) =>
        m.until(`8 clients on generation ${generation}`, () => liveSessions(clients.sessions).every((s) => s.gen === generation) && liveSessions(clients.sessions).length === 8);
      await connectedTo(0);
      const done = await reloads(m, 2);
      for (const { duration } of done) assert.ok(duration < 15_000, `reload took ${duration} ms: the app heard too late`);
      await connectedTo(done.at(-1)!.generation);
      const result = await clients.stop();
      assert.equal(result.closes[1006] ?? 0, 0, `abnormal closes: ${JSON.stringify(result.closes)}`);
      for (const { old, generation } of done) {
        const onOld = result.sessions.filter((s) => old.includes(s.pid));
        assert.ok(onOld.length >= 8, 'the clients were on the old workers');
        for (const s of onOld) {
          assert.equal(s.code, 1001, `client ${s.client} on ${s.pid} closed with 1001`);
          const next = result.sessions.find((n) => n.client === s.client && n.openedAt >= s.closedAt!);
          assert.ok(next && next.gen >= generation, `client ${s.client} reconnected to generation ${generation}`);
        }
      }
      // The new generation serves before any old worker closes a client, so every reconnect lands on it at
      // the first try. (Whether it is open before the old process is gone is a race of a few ms either way.)
      assert.deepEqual(result.failedConnects, {}, 'every reconnect landed on a live worker');
      assert.ok(exits(m).every((e) => !e.killed), 'no worker had to be killed');
    });
  }

  it('the drain leaves upgraded connections to the app: a worker that never closes them is killed, and the kill is reported', async () => {
    const { m, port } = await protocolMaster({ workers: 1, killTimeout: '1500ms' }, { PROTO: 'ws', WS_CLOSE: 'never' });
    const started = await m.started();
    const old = started.workers[0].pid;
    const clients = runWebSocketClients({ url: `ws://127.0.0.1:${port}`, clients: 3 });
    cleanups.push(async () => void (await clients.stop()));
    await m.until('3 clients connected', () => clients.sessions.length === 3);
    await m.command('reload');
    const exit = exits(m).find((e) => e.pid === old)!;
    assert.equal(exit.killed, true);
    assert.equal(exit.signal, 'SIGKILL');
    // Had the drain closed them (as an idle socket), the worker would have reported none left.
    assert.deepEqual(exit.open, { http: 0, upgraded: 3, eventStreams: 0, http2: 0 });
    // The warning comes on the master's stderr, which may be read after the reload's result on stdout.
    await m.until('the kill warning', () =>
      m.output.some((l) => l.includes(`master-process: worker ${old} (slot 0, generation 0) was killed (SIGKILL) at the kill timeout (1500 ms) with 3 upgraded (WebSocket) connection(s) still open.`)),
    );
    await clients.stop();
  });

  it('Server-Sent Events: each stream ends cleanly and reconnects (Last-Event-ID) to the new generation, no reset, no kill', async () => {
    const { m, port } = await protocolMaster({ workers: 2 }, { PROTO: 'sse' });
    await m.started();
    const clients = runEventStreamClients({ port, clients: 6 });
    cleanups.push(async () => void (await clients.stop()));
    const onGeneration = (generation: number) =>
      m.until(`6 streams on generation ${generation}`, () => {
        const current = latestByClient(clients.sessions);
        return current.length === 6 && current.every((s) => s.gen === generation && s.events > 1);
      });
    await onGeneration(0);
    const done = await reloads(m, 2);
    await onGeneration(done.at(-1)!.generation);
    const result = await clients.stop();
    assert.deepEqual(result.resets, {}, 'no stream was cut');
    assert.deepEqual(result.failedConnects, {});
    assert.equal(result.gaps, 0, 'every reconnect went on from its Last-Event-ID');
    for (const { old } of done) {
      for (const s of result.sessions.filter((x) => old.includes(x.pid))) assert.equal(s.end, 'end', `stream of client ${s.client} on ${s.pid} ended cleanly`);
    }
    // Left open, the streams would hold the old workers until SIGKILL at the kill timeout.
    assert.ok(exits(m).every((e) => !e.killed), 'no worker had to be killed');
  });

  const h2Variants: { name: string; env: Record<string, string>; url: string; http1?: boolean }[] = [
    { name: 'cleartext HTTP/2 (http2.createServer)', env: { PROTO: 'h2c' }, url: 'http' },
    { name: 'HTTP/2 over TLS', env: { PROTO: 'h2' }, url: 'https' },
    { name: 'HTTP/2 over TLS with allowHTTP1 (and HTTPS/1.1 keep-alive clients beside)', env: { PROTO: 'h2', H2_ALLOW_HTTP1: '1' }, url: 'https', http1: true },
  ];
  for (const variant of h2Variants) {
    it(`${variant.name}: GOAWAY, no failed stream, no warning, no kill`, async () => {
      const { m, port } = await protocolMaster({ workers: 2 }, variant.env);
      await m.started();
      const load = runHttp2Load({ url: `${variant.url}://127.0.0.1:${port}`, sessions: 4, streams: 4 });
      let stopped = false;
      cleanups.push(async () => void (stopped || (await load.stop())));
      const http1 = variant.http1 ? httpsLoad(port, 4) : undefined;
      if (http1) cleanups.push(async () => void (await http1.stop()));
      const done = await reloads(m, 2);
      const newest = (await m.workers()).map((w) => w.pid);
      const answeredBy = async () => {
        const probe = runHttp2Load({ url: `${variant.url}://127.0.0.1:${port}`, sessions: 1, streams: 1 });
        await new Promise((r) => setTimeout(r, 200));
        return (await probe.stop()).samples.pid;
      };
      const result = await load.stop();
      stopped = true;
      if (http1) {
        const h1 = await http1.stop();
        assert.ok(h1.ok > 20, `HTTPS/1.1 load ran (${h1.ok})`);
        assert.deepEqual(h1.failures, {}, 'no HTTPS/1.1 request failed');
        assert.ok(h1.closes > 0, 'the draining workers told HTTPS/1.1 clients Connection: close');
      }
      assert.equal(result.failed, 0, `failed streams: ${JSON.stringify(result.failures)} (retried unprocessed: ${result.retried})`);
      assert.ok(result.ok > 100, `load ran (${result.ok} streams)`);
      assert.ok(result.goaways >= 2 * 4, `sessions got GOAWAY (${result.goaways})`);
      for (const { old } of done) assert.ok(result.samples.pid.some((p) => old.includes(p)));
      const after = await answeredBy();
      assert.ok(after.length > 0 && after.every((p) => newest.includes(p)), 'a new session lands on the newest generation');
      assert.ok(!m.output.some((l) => l.includes('UnsupportedWarning')), m.output.filter((l) => l.includes('Warning')).join('\n'));
      assert.ok(exits(m).every((e) => !e.killed), 'no worker had to be killed');
    });
  }
});

/** HTTPS/1.1 keep-alive request loops (self-signed cert); counts answers, failures and `Connection: close` seen. */
function httpsLoad(port: number, connections: number) {
  const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
  const result = { ok: 0, closes: 0, failures: {} as Record<string, number> };
  let stopped = false;
  const once = () => new Promise<void>((resolve) => {
    https.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      if (res.headers.connection === 'close') result.closes++;
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) result.ok++;
        else result.failures[`status ${res.statusCode}`] = (result.failures[`status ${res.statusCode}`] ?? 0) + 1;
        resolve();
      });
    }).on('error', (error: NodeJS.ErrnoException) => {
      const kind = error.code ?? error.message;
      result.failures[kind] = (result.failures[kind] ?? 0) + 1;
      resolve();
    });
  });
  const loops = Array.from({ length: connections }, async () => {
    while (!stopped) await once();
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}

/** Each client's open session (no close yet). */
function liveSessions(sessions: WebSocketSession[]): WebSocketSession[] {
  return sessions.filter((s) => s.closedAt === undefined);
}

/** Each client's latest session. */
function latestByClient<T extends { client: number }>(sessions: T[]): T[] {
  const latest = new Map<number, T>();
  for (const s of sessions) latest.set(s.client, s);
  return [...latest.values()];
}
