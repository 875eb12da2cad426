import { versionGuard } from './version-guard.js';

export { versionGuard, CHANGED_EVENT, VersionGuardErrorCode, type VersionChange, type VersionGuardApi } from './version-guard.js';
export type { VersionGuardAction, VersionGuardOptions } from './options.js';
export default versionGuard;
