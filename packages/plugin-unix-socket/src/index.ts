import { unixSocket } from './unix-socket.js';

export { unixSocket };
export { UnixSocketErrorCode } from './errors.js';
export { DEFAULT_MODE, type UnixSocketOptions } from './options.js';
export default unixSocket;
