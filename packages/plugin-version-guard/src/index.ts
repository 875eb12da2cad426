import { versionGuard } from './version-guard.js';

export { versionGuard, CHANGED_EVENT, VersionGuardErrorCode, type VersionChange, type VersionGuardApi } from './version-guard.js';
export type { GuardedPackage, VersionGuardAction, VersionGuardOptions } from './options.js';
export default versionGuard;
