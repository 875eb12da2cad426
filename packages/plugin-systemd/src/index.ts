import { systemd } from './systemd.js';

export { systemd };
export { activatedSockets, type ActivatedSocket } from './activation.js';
export { SystemdErrorCode } from './errors.js';
export type { SystemdOptions } from './systemd.js';
export default systemd;
