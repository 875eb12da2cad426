// The root README's two "Use it" snippets, read from README.md and run as written: a snippet that no
// longer works fails here, not in a user's first five minutes.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startMaster, type MasterHandle } from '@master-process/testkit';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
// Inside this package, so `master-process` (self-reference) and the plugins resolve as installed.
const dir = mkdtempSync(join(packageDir, 'test', '.readme-'));
const handles: MasterHandle[] = [];
after(async () => {
  for (const h of handles) await h.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** The first ```js block after `heading`. */
function snippet(heading: string): string {
  const at = readme.indexOf(heading);
  assert.ok(at >= 0, `README has "${heading}"`);
  const block = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, `a js block after "${heading}"`);
  return block[1]!;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function runs(script: string, env: Record<string, string>, reloaded: RegExp): Promise<void> {
  const port = await freePort();
  const m = startMaster({}, { cwd: dir, script, env: { PORT: String(port), DEBUG: 'master-process:core', ...env } });
  handles.push(m);
  await m.until('the master running', () => m.output.some((l) => /master \d+ running/.test(l)));
  assert.ok((await get(port)).length > 0);
  m.signal('SIGHUP');
  await m.until(`${reloaded}`, () => m.output.some((l) => reloaded.test(l)));
  m.signal('SIGTERM');
  assert.deepEqual(await m.exited, { code: 0, signal: null }, m.tail());
}

describe('README snippets, as written', () => {
  it('"As in master-process 4.x": server.js is the master and the workers; SIGHUP reloads, SIGTERM exits 0', async () => {
    const server = join(dir, 'server.cjs');
    writeFileSync(server, snippet('### As in master-process 4.x'));
    await runs(server, { WORKERS: '2' }, /reload 1: done/);
  });

  it('"With the core and the plugins you choose": master.js runs server.js, prints the reload', async () => {
    const own = join(dir, 'core');
    mkdirSync(own);
    writeFileSync(join(own, 'server.js'), `const server = require('node:http').createServer((req, res) => res.end('hi')).listen(process.env.PORT);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`);
    // server.js is CJS (a package.json scope of its own says so); master.mjs is the snippet (ESM, top-level await).
    writeFileSync(join(own, 'package.json'), JSON.stringify({ type: 'commonjs' }));
    const master = join(own, 'master.mjs');
    writeFileSync(master, snippet('### With the core and the plugins you choose'));
    await runs(master, { WORKERS: '2' }, /^generation 1 took over in \d+ ms$/);
  });
});
