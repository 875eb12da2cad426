export { PYTHON, socketActivationUnavailable, socketHolder, startActivatedMaster, startRestartedMaster, type ActivatedOptions } from './activation.js';
export { fixtures, MasterHandle, startMaster, type MasterEvent, type MasterSpec, type StartOptions } from './harness.js';
export { runLoad, summarize, type LatencySummary, type LoadOptions, type LoadResult, type LoadTarget } from './load.js';
export { freePort, isAlive, sleep, tempDir, waitUntil, within } from './process.js';
