import { systemd } from './systemd.js';

export { systemd };
export { SystemdErrorCode } from './errors.js';
export type { SystemdOptions } from './systemd.js';
export default systemd;
