export { fixtures, MasterHandle, startMaster, type MasterEvent, type MasterSpec, type StartOptions } from './harness.js';
export { runLoad, summarize, type LatencySummary, type LoadOptions, type LoadResult, type LoadTarget } from './load.js';
export { freePort, isAlive, sleep, staleSocket, tempDir, waitUntil, within } from './process.js';
