/** Stable codes of this plugin's errors: match on `err.code` (or `err.cause.code` when wrapped by the master). */
export const UnixSocketErrorCode = {
  /** Something that is not a socket (file, directory, symlink...) is at the path: nothing is deleted, start is refused. */
  NOT_A_SOCKET: 'MP_ERR_UNIX_SOCKET_NOT_A_SOCKET',
  /** A live process serves the socket at the path (a connect succeeded or could not be ruled out). */
  IN_USE: 'MP_ERR_UNIX_SOCKET_IN_USE',
  /** The socket's folder does not exist or cannot be written: no worker could ever listen there. */
  NO_FOLDER: 'MP_ERR_UNIX_SOCKET_NO_FOLDER',
  /** The path cannot be inspected (e.g. no permission to search its directory). */
  UNUSABLE: 'MP_ERR_UNIX_SOCKET_UNUSABLE',
} as const;
