// The start command's --vm value: a D-Bus address the services can use. QEMU passes file
// descriptors over it (RegisterListener), so only Unix sockets will do; the services' D-Bus library
// (dbus-next) takes one address, without percent-escapes.
import { StartCheckError } from './start-check-error.mjs';

/** What the README tells a user to write, for messages. */
export const exampleAddress = (path = '/run/qemu-vm1/bus.sock') => `unix:path=${path}`;

/**
 * @typedef {{ address: string, path: string, abstract?: undefined }
 *   | { address: string, abstract: string, path?: undefined }} VmAddress
 */

/**
 * Parses `value` as a D-Bus address. Returns { address, path } (unix:path=) or
 * { address, abstract } (unix:abstract=); throws a StartCheckError saying what to write instead.
 * @param {string} value
 * @returns {VmAddress}
 */
export function parseVmAddress(value) {
  const v = value.trim();
  if (v === '') throw new StartCheckError(`--vm takes a D-Bus address, e.g. --vm ${exampleAddress()}`);
  if (v.startsWith('/') || v.startsWith('./') || v.startsWith('~')) {
    throw new StartCheckError(
      `--vm takes a D-Bus address, not a bare path: write --vm ${exampleAddress(v)} ` +
        `(the same address QEMU's -display dbus,addr= was given)`,
    );
  }
  if (v.includes(';')) {
    throw new StartCheckError(
      `--vm takes one D-Bus address, got several (${v}): give the one QEMU's bus listens on`,
    );
  }
  const m = /^([a-z]+):(.*)$/.exec(v);
  if (!m) throw new StartCheckError(`--vm takes a D-Bus address like ${exampleAddress()}, got ${v}`);
  const [, transport, rest] = m;
  if (transport !== 'unix') {
    throw new StartCheckError(
      `--vm ${v}: only unix: addresses work (QEMU hands over file descriptors, which need a Unix socket): ` +
        `start the bus with --address=${exampleAddress()}`,
    );
  }
  if (v.includes('%')) {
    throw new StartCheckError(
      `--vm ${v}: percent-escapes are not supported: put the bus on a path without , ; = or %`,
    );
  }
  /** @type {Record<string, string>} */
  const params = {};
  for (const part of (rest ?? '').split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new StartCheckError(`--vm ${v}: "${part}" is not key=value; write --vm ${exampleAddress()}`);
    params[part.slice(0, eq)] = part.slice(eq + 1);
  }
  const unknown = Object.keys(params).filter((k) => !['path', 'abstract', 'guid'].includes(k));
  if (unknown.length > 0 || (params.path === undefined) === (params.abstract === undefined)) {
    throw new StartCheckError(
      `--vm ${v}: a unix: address needs path= (or abstract=) and nothing else but guid=; ` +
        `write --vm ${exampleAddress()}`,
    );
  }
  if (params.path !== undefined) {
    if (!params.path.startsWith('/')) {
      throw new StartCheckError(`--vm ${v}: the socket path must be absolute, e.g. --vm ${exampleAddress()}`);
    }
    return { address: v, path: params.path };
  }
  if (params.abstract === '') throw new StartCheckError(`--vm ${v}: abstract= needs a name`);
  return { address: v, abstract: params.abstract ?? '' };
}
