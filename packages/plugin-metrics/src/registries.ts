// Registries a worker's app exposes beside prom-client's default one. Kept on `globalThis` under a global
// symbol, so the app's copy of this package (it may import the ESM build, the worker half is the CJS
// build, or another version) and the worker half meet in one place.

/** What the worker half needs of a registry: prom-client's `Registry`, any version since 13. */
export interface RegistryLike {
  getMetricsAsJSON(): Promise<unknown[]> | unknown[];
}

const kRegistries = Symbol.for('master-process.metrics.registries');

export function exposedRegistries(): Set<RegistryLike> {
  const holder = globalThis as { [kRegistries]?: Set<RegistryLike> };
  holder[kRegistries] ??= new Set();
  return holder[kRegistries];
}
