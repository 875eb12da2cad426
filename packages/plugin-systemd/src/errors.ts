/** Stable codes of this plugin's errors: match on `err.code` (or `err.cause.code` when wrapped by the master). */
export const SystemdErrorCode = {
  /** NOTIFY_SOCKET is set, but neither node-unix-socket nor systemd-notify can send to it: the start is refused. */
  NO_SENDER: 'MP_ERR_SYSTEMD_NO_SENDER',
} as const;
