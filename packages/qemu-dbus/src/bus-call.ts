import { EventEmitter } from 'node:events';
import dbus from 'dbus-next';

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
  const connection: unknown = Reflect.get(bus, '_connection');
  if (connection instanceof EventEmitter) connection.once('end', onClosed);
}
