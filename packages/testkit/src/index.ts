export { fixtures, MasterHandle, startMaster, type MasterEvent, type MasterSpec, type StartOptions } from './harness.js';
export { runLoad, summarize, type LatencySummary, type LoadOptions, type LoadResult, type LoadTarget } from './load.js';
export { freePort, isAlive, parentOf, sleep, tempDir, waitUntil } from './process.js';
