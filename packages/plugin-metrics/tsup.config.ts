import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.base';

// The worker half is a module of its own: the preload loads it (with require) in every worker.
export default defineConfig(packageConfig({ index: 'src/index.ts', worker: 'src/worker.ts' }, { external: ['prom-client'] }));
