import { Worker } from 'node:worker_threads';

// A worker whose event loop is blocked cannot notice that its master died (the IPC channel's
// 'disconnect' never gets to run). A tiny thread can: it has its own loop.
const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.master) process.kill(workerData.pid, 'SIGKILL');
}, workerData.interval);
`;

/** Kill this process once its parent is no longer `masterPid` (checked every `interval` ms). */
export function startWatchdog(masterPid: number, interval = 1000): void {
  if (!Number.isInteger(masterPid) || masterPid <= 1) return;
  const thread = new Worker(WATCHDOG_SOURCE, {
    eval: true,
    workerData: { master: masterPid, pid: process.pid, interval },
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2, stackSizeMb: 1 },
    stdout: false,
    stderr: false,
  });
  thread.unref();
  thread.on('error', () => {}); // a watchdog must never take its worker down
}
