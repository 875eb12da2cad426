// The official plugins declare compatibility from their package.json (pure logic: no fork).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { defaultPlugins } from '../src/index.js';

const require = createRequire(import.meta.url);
const manifest = (name: string) => JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8'));

test('each default plugin declares its package version; in the workspace (workspace:^) no core range is needed', () => {
  const names: Record<string, string> = {
    'version-guard': '@master-process/plugin-version-guard', 'unix-socket': '@master-process/plugin-unix-socket',
    monitor: '@master-process/plugin-monitor', 'profiler-signal': '@master-process/plugin-profiler-signal',
    control: '@master-process/plugin-control', systemd: '@master-process/plugin-systemd',
  };
  const plugins = defaultPlugins();
  assert.deepEqual(plugins.map((p) => p.name).sort(), Object.keys(names).sort());
  for (const plugin of plugins) {
    const pkg = manifest(names[plugin.name]!);
    assert.equal(plugin.version, pkg.version, plugin.name);
    assert.equal(pkg.peerDependencies['@master-process/core'], 'workspace:^', `${plugin.name}: published, pnpm turns this into the core range`);
    assert.equal(plugin.core, undefined, plugin.name);
  }
});
