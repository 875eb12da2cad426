import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// Splitting (ESM): the CLI loads a command's code, and the plugins only `start` needs, on demand.
export default defineConfig(packageConfig({ index: 'src/index.ts', worker: 'src/worker.ts', cli: 'src/cli.ts' }, { splitting: true }));
