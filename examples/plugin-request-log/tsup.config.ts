import { defineConfig } from 'tsup';

// Two entries: the plugin (master side) and its worker half; ESM + CJS, with types.
export default defineConfig({
  entry: { index: 'src/index.ts', worker: 'src/worker.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  target: 'node20',
  platform: 'node',
  shims: true,
});
