// The one place that knows the bundler: every package's tsup.config.ts spreads this,
// so a later move (tsdown) touches a single file.
import type { Options } from 'tsup';

export function packageConfig(entry: Record<string, string>, extra: Partial<Options> = {}): Options {
  return {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    shims: true,
    ...extra,
  };
}
