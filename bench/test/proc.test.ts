// The /proc readings the benchmark's figures rest on, checked against real processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { waitUntil } from '@master-process/testkit';
import { cpuTimeMs, descendantsOf, isRunning, rssOf, treeRss, watchExits } from '../src/proc.js';

test('descendantsOf, treeRss and watchExits follow a real process tree', async () => {
  // A child that forks a grandchild which holds 30 MB, then both wait.
  const child = spawn(process.execPath, ['-e', `
    const { spawn } = require('node:child_process');
    const g = spawn(process.execPath, ['-e', 'globalThis.keep = Buffer.alloc(30 * 2 ** 20, 1); console.log(process.pid); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'inherit', 'inherit'] });
    setInterval(() => {}, 1000);
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  let grandchild = 0;
  child.stdout!.on('data', (chunk: Buffer) => (grandchild = Number(chunk.toString().trim())));
  try {
    await waitUntil(() => grandchild > 0 && rssOf(grandchild) > 30 * 2 ** 20, 30_000, 'the grandchild to hold its 30 MB');
    assert.deepEqual(descendantsOf(process.pid).filter((p) => p === child.pid || p === grandchild).sort(), [child.pid!, grandchild].sort());
    const tree = treeRss(child.pid!);
    assert.ok(tree.root > 0, 'the root has an RSS');
    assert.ok(tree.workers[grandchild]! >= 30 * 2 ** 20, 'the grandchild RSS counts its 30 MB');
    assert.equal(tree.total, tree.root + Object.values(tree.workers).reduce((a, b) => a + b, 0));
    assert.ok((cpuTimeMs(child.pid!) ?? -1) >= 0, 'CPU time readable');

    const exits = watchExits([child.pid!, grandchild], { timeout: 30_000 });
    const killedAt = Date.now();
    process.kill(grandchild, 'SIGKILL');
    process.kill(child.pid!, 'SIGKILL');
    const gone = await exits;
    assert.equal(gone.size, 2, 'both exits seen');
    for (const t of gone.values()) assert.ok(t >= killedAt, 'an exit is seen after the kill, not before');
    assert.equal(isRunning(grandchild), false);
  } finally {
    for (const pid of [grandchild, child.pid!]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});
