// The watchdog as it was before issue 11 §5, kept only so the boot scenario can measure it side by side
// with its replacement (one reaper process per master): a worker_thread in every worker, started before
// the app, that SIGKILLs the worker once its parent is no longer the master. Loaded with `--require`.
'use strict';
const cluster = require('node:cluster');
const { Worker } = require('node:worker_threads');

const SOURCE = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.master) process.kill(workerData.pid, 'SIGKILL');
}, workerData.interval);
`;
const master = Number(process.env.PPID);
// Not in the thread itself (it inherits `--require`), nor in any thread the app starts: as the core preload did.
if (cluster.isWorker && process.env.MASTER_PROCESS_WORKER === '1' && Number.isInteger(master) && master > 1) {
  const thread = new Worker(SOURCE, {
    eval: true,
    workerData: { master, pid: process.pid, interval: 1000 },
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 },
    stdout: false,
    stderr: false,
  });
  thread.unref();
  thread.on('error', () => {});
}
