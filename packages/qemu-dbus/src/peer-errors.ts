// How a call on a peer-to-peer link (PeerLink) can fail.

/** The peer answered a call with a D-Bus error. */
export class DbusErrorReply extends Error {
  override readonly name = 'DbusErrorReply';
  constructor(
    readonly errorName: string,
    text: string,
  ) {
    super(`${errorName}: ${text}`);
  }
}

/** The peer did not answer in time (GDBus' call timeout). */
export class DbusTimeoutError extends Error {
  override readonly name = 'DbusTimeoutError';
}

/** The link closed before the peer answered, or was not usable (authentication, a corrupt message). */
export class DbusLinkClosedError extends Error {
  override readonly name = 'DbusLinkClosedError';
}
