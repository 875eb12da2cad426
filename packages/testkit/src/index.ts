export { cleanupAll, fixtures, MasterHandle, startMaster, type MasterEvent, type MasterSpec, type StartOptions } from './harness.js';
export { httpGet, runLoad, summarize, type LatencySummary, type LoadOptions, type LoadResult, type LoadTarget } from './load.js';
export { freePort, isAlive, sleep, tempDir, waitUntil, within } from './process.js';
