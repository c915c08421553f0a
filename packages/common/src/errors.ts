/** Base class: every error the project throws has a stable `name` and an optional cause. */
export class QemuWebrtcError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Configuration (environment variables) that is missing or invalid. */
export class ConfigError extends QemuWebrtcError {}

/** A peer (QEMU, a browser, another service) sent something that does not fit the protocol. */
export class ProtocolError extends QemuWebrtcError {}

/** A resource was used after `destroy()`/`close()`. */
export class ClosedError extends QemuWebrtcError {}
