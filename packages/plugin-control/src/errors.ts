/** Stable codes of this plugin's errors: match on `code`, never on the message. */
export const ControlErrorCode = {
  // Replies of the master to a request it cannot run.
  /** The line is not a JSON object, or a field has the wrong type. */
  BAD_REQUEST: 'MP_ERR_CONTROL_BAD_REQUEST',
  /** A line longer than `maxLineBytes`: the connection is closed after this reply. */
  LINE_TOO_LONG: 'MP_ERR_CONTROL_LINE_TOO_LONG',
  UNKNOWN_COMMAND: 'MP_ERR_CONTROL_UNKNOWN_COMMAND',
  /** `maxClients` are connected already: sent instead of the hello, then the connection is closed. */
  BUSY: 'MP_ERR_CONTROL_BUSY',
  /** The master could not run the request (a bug, or another plugin's api threw): it carries on. */
  INTERNAL: 'MP_ERR_CONTROL_INTERNAL',
  // What a client (the CLI) meets before it gets an answer.
  /** Nothing at the socket path. */
  NO_MASTER: 'MP_ERR_CONTROL_NO_MASTER',
  /** A socket file nobody serves: its master was killed. */
  STALE: 'MP_ERR_CONTROL_STALE',
  /** The socket (or its folder) belongs to another user. */
  DENIED: 'MP_ERR_CONTROL_DENIED',
  /** Something answered, but not a master of this protocol version (or not within the hello timeout). */
  PROTOCOL: 'MP_ERR_CONTROL_PROTOCOL',
  /** The connection closed before the reply: the outcome is unknown. */
  LOST: 'MP_ERR_CONTROL_LOST',
} as const;
