import dbus from 'dbus-next';
import { callMethod, getAllProperties, type MessageBus } from './bus-call.js';
import { IFACE, QEMU_BUS_NAME, VM_PATH, consolePath } from './names.js';

/** Connects to a bus (QEMU's `-display dbus,addr=`), with fd passing for RegisterListener. */
export function connectBus(address: string): MessageBus {
  // dbus-next supports negotiateUnixFd (through usocket) but its type declarations omit it.
  const options: dbus.SessionBusOptions & { negotiateUnixFd: boolean } = {
    busAddress: address,
    negotiateUnixFd: true,
  };
  return dbus.sessionBus(options);
}

export interface VmProperties {
  name: string;
  uuid: string;
  consoleIds: number[];
}

export interface ConsoleProperties {
  label: string;
  head: number;
  type: string;
  width: number;
  height: number;
}

/** MultiTouch SendEvent kinds (QEMU's InputMultiTouchType; `data` is not accepted over D-Bus). */
export const TouchKind = { begin: 0, update: 1, end: 2, cancel: 3 } as const;
export type TouchKind = (typeof TouchKind)[keyof typeof TouchKind];

const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** QEMU's VM object. */
export async function readVmProperties(bus: MessageBus, destination = QEMU_BUS_NAME): Promise<VmProperties> {
  const p = await getAllProperties(bus, destination, VM_PATH, IFACE.vm);
  return {
    name: str(p.Name),
    uuid: str(p.UUID),
    consoleIds: Array.isArray(p.ConsoleIDs)
      ? p.ConsoleIDs.filter((x): x is number => typeof x === 'number')
      : [],
  };
}

/** One of QEMU's consoles: its properties and input interfaces. Calls go straight to QEMU. */
export class QemuConsole {
  readonly path: string;
  constructor(
    readonly bus: MessageBus,
    readonly id: number,
    readonly destination = QEMU_BUS_NAME,
  ) {
    this.path = consolePath(id);
  }

  private call(iface: string, member: string, signature?: string, body?: unknown[]): Promise<unknown[]> {
    return callMethod(this.bus, {
      destination: this.destination,
      path: this.path,
      interface: iface,
      member,
      ...(signature !== undefined ? { signature, body: body ?? [] } : {}),
    });
  }

  async properties(): Promise<ConsoleProperties> {
    const p = await getAllProperties(this.bus, this.destination, this.path, IFACE.console);
    return {
      label: str(p.Label),
      head: num(p.Head),
      type: str(p.Type),
      width: num(p.Width),
      height: num(p.Height),
    };
  }

  /** Hands QEMU one end of a socket pair; QEMU then speaks D-Bus (as the auth server) on it. */
  async registerListener(fd: number): Promise<void> {
    await this.call(IFACE.console, 'RegisterListener', 'h', [fd]);
  }

  async setUiInfo(
    widthMm: number,
    heightMm: number,
    x: number,
    y: number,
    width: number,
    height: number,
  ): Promise<void> {
    await this.call(IFACE.console, 'SetUIInfo', 'qqiiuu', [widthMm, heightMm, x, y, width, height]);
  }

  /** Keyboard: a qnum keycode (AT set 1; 0xE0-prefixed codes as 0x80|code). */
  async keyPress(qnum: number): Promise<void> {
    await this.call(IFACE.keyboard, 'Press', 'u', [qnum]);
  }
  async keyRelease(qnum: number): Promise<void> {
    await this.call(IFACE.keyboard, 'Release', 'u', [qnum]);
  }

  /** Mouse buttons by QEMU's numbering (0 left, 1 middle, 2 right, 3/4 wheel up/down ...). */
  async mousePress(button: number): Promise<void> {
    await this.call(IFACE.mouse, 'Press', 'u', [button]);
  }
  async mouseRelease(button: number): Promise<void> {
    await this.call(IFACE.mouse, 'Release', 'u', [button]);
  }
  async setAbsPosition(x: number, y: number): Promise<void> {
    await this.call(IFACE.mouse, 'SetAbsPosition', 'uu', [x, y]);
  }
  async relMotion(dx: number, dy: number): Promise<void> {
    await this.call(IFACE.mouse, 'RelMotion', 'ii', [dx, dy]);
  }
  async mouseIsAbsolute(): Promise<boolean> {
    const p = await getAllProperties(this.bus, this.destination, this.path, IFACE.mouse);
    return p.IsAbsolute === true;
  }

  /**
   * MultiTouch (QEMU 8.1+): one touch point event, `kind` from TouchKind, `slot` below MaxSlots,
   * x/y in console pixels.
   */
  async touchSendEvent(kind: TouchKind, slot: number, x: number, y: number): Promise<void> {
    await this.call(IFACE.multiTouch, 'SendEvent', 'utdd', [kind, BigInt(slot), x, y]);
  }
  /** MultiTouch's MaxSlots, or undefined when this QEMU has no MultiTouch interface (before 8.1). */
  async multiTouchMaxSlots(): Promise<number | undefined> {
    try {
      const p = await getAllProperties(this.bus, this.destination, this.path, IFACE.multiTouch);
      return typeof p.MaxSlots === 'number' ? p.MaxSlots : undefined;
    } catch {
      return undefined;
    }
  }
}
