// The only module in the repository that reaches below dbus-next's public API: its wire format code
// (QEMU's listener link is peer-to-peer with fd passing, which dbus-next cannot speak) and the
// private stream of a bus connection (dbus-next does not report that it closed). These files are not
// part of dbus-next's contract, so the version they were read from is pinned exactly in every
// package.json that lists dbus-next, and checked here when the module loads.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type dbus from 'dbus-next';

const require = createRequire(import.meta.url);

/** The dbus-next version this package pins (its package.json, dist/src/ -> ../../). */
const pinned = (require('../../package.json') as { dependencies: Record<string, string> }).dependencies[
  'dbus-next'
];
const installed = (require('dbus-next/package.json') as { version: string }).version;
if (installed !== pinned) {
  throw new Error(
    `@qemu-webrtc/qemu-dbus uses dbus-next ${String(pinned)}'s private lib/ files, but dbus-next ` +
      `${installed} is installed: check packages/qemu-dbus/src/dbus-next-internals.ts against ` +
      `dbus-next ${installed}, then pin that version in every package.json that lists dbus-next`,
  );
}
export const DBUS_NEXT_VERSION: string = installed;

/** dbus-next's reader of the wire format (lib/dbus-buffer.js). */
export interface DBusBuffer {
  fds: number[] | null;
  align(power: number): void;
  read(signature: string): unknown[];
  readArray(elementType: unknown, length: number): unknown[];
}
export const DBusBuffer = require('dbus-next/lib/dbus-buffer.js') as new (
  buffer: Buffer,
  startPos: number,
  endian: number,
  fds: number[] | null,
  options?: { ayBuffer?: boolean },
) => DBusBuffer;

/** The element type of a message header's field array, a(yv) (lib/header-signature.json). */
export const headerFieldType: unknown = (
  require('dbus-next/lib/header-signature.json') as { child: unknown[] }[]
)[0]?.child[0];

/** Header field names by code: path, interface, member, errorName, replySerial ... (lib/constants.js). */
export const headerFieldName = (
  require('dbus-next/lib/constants.js') as { headerTypeName: (string | null)[] }
).headerTypeName;

const marshallCompat = require('dbus-next/lib/marshall-compat.js') as {
  marshallMessage(msg: object): [Buffer, number[]];
  messageToJsFmt(msg: { signature: string; body: unknown[] }): { body: unknown[] };
};

/** A whole message (type, serial, flags, header fields, signature, body) -> its bytes and fds. */
export function marshallMessage(message: object): [Buffer, number[]] {
  return marshallCompat.marshallMessage(message);
}

/** A decoded body -> dbus-next's plain JS form (Variants, objects for a{sv}). */
export function bodyToJs(signature: string, body: unknown[]): unknown[] {
  return marshallCompat.messageToJsFmt({ signature, body }).body;
}

/**
 * The client side of the D-Bus authentication on a stream (lib/handshake.js): NUL, AUTH with each
 * method in turn, NEGOTIATE_UNIX_FD when `stream.supportsUnixFd` (set to false when refused), BEGIN.
 */
export const clientHandshake = require('dbus-next/lib/handshake.js') as (
  stream: Duplex,
  opts: { authMethods?: string[] },
  done: (error: unknown, guid?: string) => void,
) => void;

/** The stream under a bus connection (its private `_connection`), to learn when it ends. */
export function busConnectionEvents(bus: dbus.MessageBus): EventEmitter | undefined {
  const connection: unknown = Reflect.get(bus, '_connection');
  return connection instanceof EventEmitter ? connection : undefined;
}
