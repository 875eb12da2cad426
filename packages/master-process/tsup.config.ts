import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

export default defineConfig(packageConfig({ index: 'src/index.ts', worker: 'src/worker.ts', cli: 'src/cli.ts' }));
