import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from '@master-process/testkit';
import { checkCompatibility } from '../src/compat.js';
import { createMaster, packageCompatibility, version } from '../src/index.js';
import { get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const compat = (options: Record<string, unknown>) => ({ module: fileURLToPath(new URL('./fixtures/compat-plugin.mjs', import.meta.url)), options });

describe('declared compatibility, checked by createMaster before any fork (real masters)', () => {
  for (const [what, plugins, code, pattern] of [
    ['a core range this core is not in', [compat({ name: 'future', version: '3.1.0', core: '^99.0.0' })], 'MP_ERR_PLUGIN_VERSION_MISMATCH',
      new RegExp(`Plugin "future" 3\\.1\\.0 works with @master-process/core \\^99\\.0\\.0, but this is @master-process/core ${version.replace(/\./g, '\\.')}\\. Install a version of the plugin made for`)],
    ['a missing required plugin', [compat({ name: 'dashboard', requires: [{ name: 'monitor', version: '^1.0.0', package: '@master-process/plugin-monitor' }] })], 'MP_ERR_PLUGIN_DEPENDENCY_MISSING',
      /Plugin "dashboard" requires plugin "monitor" \^1\.0\.0, which is not in this master's plugins \(dashboard\)\. Install @master-process\/plugin-monitor@"\^1\.0\.0" and add its plugin to `plugins`/],
  ] as const) {
    it(`${what}: its own error code and message, and no worker forked`, async () => {
      const { m } = await master({ inlinePlugins: [...plugins] }, {}, cleanups);
      const failed = await m.waitFor('create-failed');
      assert.equal(failed.error.code, code);
      assert.match(failed.error.message, pattern);
      assert.equal((await m.exited).code, 3);
      assert.equal(m.count('worker:fork'), 0);
    });
  }

  it('an absent optional plugin, a present required one within range, and falsy entries: the master serves', async () => {
    const { m, port } = await master({
      options: { workers: 1 },
      inlinePlugins: [
        compat({ falsy: true }),
        compat({ name: 'dashboard', core: `>=${version}`, requires: ['store', { name: 'metrics', version: '^2.0.0', optional: true }, { name: 'store', version: '~1.2.0' }] }),
        compat({ name: 'store', version: '1.2.5' }),
      ],
    }, {}, cleanups);
    await m.started();
    assert.equal((await get(port)).gen, 0);
  });
});

describe('compatibility rules (pure logic)', () => {
  const check = (plugins: object[], core = '1.4.0') => () => checkCompatibility(plugins as never, core);
  const refuses = (fn: () => unknown, code: string, pattern: RegExp) =>
    assert.throws(fn, (error: Error & { code?: string }) => (assert.equal(error.code, code), assert.match(error.message, pattern), true));

  it('ranges, prereleases, versions of required plugins', () => {
    assert.doesNotThrow(check([{ name: 'a', core: '^1.2.0' }]));
    assert.doesNotThrow(check([{ name: 'a', core: '>=1.0.0' }], '2.0.0-beta.1'), 'a prerelease core within a range that reaches it');
    refuses(check([{ name: 'a', core: '^1.5.0' }]), 'MP_ERR_PLUGIN_VERSION_MISMATCH', /install @master-process\/core@"\^1\.5\.0"/);
    refuses(check([{ name: 'a', requires: [{ name: 'b', version: '^2.0.0' }] }, { name: 'b', version: '1.9.0' }]), 'MP_ERR_PLUGIN_VERSION_MISMATCH', /requires plugin "b" \^2\.0\.0, but the registered "b" is 1\.9\.0\. Install a version of "b" within \^2\.0\.0/);
    refuses(check([{ name: 'a', requires: [{ name: 'b', version: '^2.0.0', optional: true }] }, { name: 'b' }]), 'MP_ERR_PLUGIN_VERSION_MISMATCH', /"b" declares no version/);
    refuses(check([{ name: 'a', requires: ['b'] }]), 'MP_ERR_PLUGIN_DEPENDENCY_MISSING', /requires plugin "b", which is not in this master's plugins \(a\)\. Add its plugin/);
  });

  it('bad declarations are refused by createMaster as invalid plugins', () => {
    const bad = (plugin: object, pattern: RegExp) => refuses(() => createMaster({ exec: 'a.js', plugins: [plugin as never] }), 'MP_ERR_INVALID_PLUGIN', pattern);
    bad({ name: 'a', version: 'one' }, /`version` must be a semver version such as "1\.2\.0"; got "one"/);
    bad({ name: 'a', core: 'latest' }, /`core` must be a semver range/);
    bad({ name: 'a', requires: 'b' }, /`requires` must be an array/);
    bad({ name: 'a', requires: ['a'] }, /cannot require "a".*not itself/);
    bad({ name: 'a', requires: [{ name: 'b', version: 'soon' }] }, /cannot require \{"name":"b","version":"soon"\}/);
    assert.doesNotThrow(() => createMaster({ exec: 'a.js', plugins: [false, null, undefined, 0, '', { name: 'a' }] }));
  });

  it('packageCompatibility reads version and the core peer range from the nearest package.json with a name', () => {
    const dir = tempDir();
    cleanups.push(async () => dir.remove());
    const at = (pkg: object) => {
      writeFileSync(join(dir.path, 'package.json'), JSON.stringify(pkg));
      return packageCompatibility(pathToFileURL(join(dir.path, 'dist', 'index.js')).href);
    };
    assert.deepEqual(at({ name: 'p', version: '1.2.3', peerDependencies: { '@master-process/core': '^1.0.0' } }), { version: '1.2.3', core: '^1.0.0' });
    assert.deepEqual(at({ name: 'p', version: '1.2.3', peerDependencies: { '@master-process/core': 'workspace:^' } }), { version: '1.2.3' });
    assert.deepEqual(at({ name: 'p', version: '1.2.3', peerDependencies: { '@master-process/core': 'workspace:>=1.1' } }), { version: '1.2.3', core: '>=1.1' });
    assert.equal(packageCompatibility(import.meta.url).version, version, 'the core knows its own version');
  });
});
