import dbus from 'dbus-next';
import { busConnectionEvents } from './dbus-next-internals.js';

export type MessageBus = dbus.MessageBus;

export interface MethodCall {
  destination: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
}

/** Calls a method by name, without introspection; resolves with the reply's body. */
export async function callMethod(bus: MessageBus, call: MethodCall): Promise<unknown[]> {
  const reply = await bus.call(new dbus.Message({ ...call, body: call.body ?? [] }));
  return (reply?.body ?? []) as unknown[];
}

/** Properties.GetAll as a plain object (Variants unwrapped). */
export async function getAllProperties(
  bus: MessageBus,
  destination: string,
  path: string,
  iface: string,
): Promise<Record<string, unknown>> {
  const [props] = await callMethod(bus, {
    destination,
    path,
    interface: 'org.freedesktop.DBus.Properties',
    member: 'GetAll',
    signature: 's',
    body: [iface],
  });
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((props ?? {}) as Record<string, dbus.Variant>)) out[k] = v.value;
  return out;
}

/** Calls `onClosed` when the bus connection's stream ends (dbus-next does not report it). */
export function onBusClosed(bus: MessageBus, onClosed: () => void): void {
  busConnectionEvents(bus)?.once('end', onClosed);
}

/** `p`, or a rejection naming `what` when it takes over `ms` (a D-Bus call has no timeout of its own). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`${what}: no reply in ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => {
    clearTimeout(timer);
  });
}
