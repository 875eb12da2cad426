// The downtime baseline: a plain `cluster` primary that, on SIGHUP, kills every worker and forks
// new ones at once — what a hand-written "reload" often looks like. Nothing waits for readiness,
// nothing drains. Usage: node naive-cluster.cjs <app> <workers>
// Prints one JSON line per event: {"ev":"reload:start"|"reload:done"|"worker:fork"|"cluster:online"|
// "worker:listening"|"worker:exit"|"stopped","t",...} (the worker events carry its pid, for the reload breakdown).
// A worker that dies on its own is not replaced (that is not what this baseline measures).
'use strict';
const cluster = require('node:cluster');

const [app, workersArg] = process.argv.slice(2);
const workers = Number(workersArg);
if (!app || !Number.isInteger(workers) || workers < 1) {
  process.stderr.write('usage: node naive-cluster.cjs <app> <workers>\n');
  process.exit(2);
}
const out = (ev, data = {}) => process.stdout.write(JSON.stringify({ ev, t: Date.now(), ...data }) + '\n');

cluster.setupPrimary({ exec: app });
let generation = 0;
let stopping = false;

/** Fork one generation; resolves when every one of its workers listens. */
function forkAll() {
  const env = { RELOAD_INDEX: String(generation) };
  return Promise.all(
    Array.from({ length: workers }, (_, slot) => new Promise((resolve) => {
      const worker = cluster.fork({ ...env, WORKER_INDEX: String(slot) });
      const pid = worker.process.pid;
      out('worker:fork', { pid, slot });
      worker.once('online', () => out('cluster:online', { pid }));
      worker.once('listening', () => {
        out('worker:listening', { pid, slot });
        resolve(pid);
      });
      worker.once('exit', () => resolve(undefined));
    })),
  );
}

cluster.on('exit', (worker, code, signal) => {
  out('worker:exit', { pid: worker.process.pid, code, signal });
  if (stopping && Object.keys(cluster.workers).length === 0) {
    out('stopped');
    process.exit(0);
  }
});

process.on('SIGHUP', async () => {
  generation++;
  out('reload:start', { generation });
  for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGTERM');
  const pids = await forkAll();
  out('reload:done', { generation, pids });
});

const stop = () => {
  if (stopping) return;
  stopping = true;
  const left = Object.values(cluster.workers);
  if (left.length === 0) process.exit(0);
  for (const worker of left) worker.process.kill('SIGTERM');
  // Bound the stop: whatever still runs after 5 s is killed.
  setTimeout(() => {
    for (const worker of Object.values(cluster.workers)) worker.process.kill('SIGKILL');
  }, 5000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

forkAll().then((pids) => out('started', { pids }));
