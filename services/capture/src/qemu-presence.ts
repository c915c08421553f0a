import { EventEmitter } from 'node:events';
import type dbus from 'dbus-next';
import { IFACE, QEMU_BUS_NAME, callMethod, type MessageBus } from '@qemu-webrtc/qemu-dbus';

interface Events {
  /** QEMU took its name on the bus (started, or restarted). */
  up: [];
  /** QEMU's name left the bus (QEMU exited or was killed). */
  down: [];
}

/** Follows whether QEMU (the owner of org.qemu) is on the bus. */
export class QemuPresence extends EventEmitter<Events> {
  private owner = '';

  private constructor(private readonly bus: MessageBus) {
    super();
  }

  static async watch(bus: MessageBus): Promise<QemuPresence> {
    const presence = new QemuPresence(bus);
    bus.on('message', (msg: dbus.Message) => {
      if (
        msg.interface === IFACE.dbus &&
        msg.member === 'NameOwnerChanged' &&
        msg.body[0] === QEMU_BUS_NAME
      ) {
        presence.setOwner(String(msg.body[2]));
      }
    });
    await callMethod(bus, {
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: IFACE.dbus,
      member: 'AddMatch',
      signature: 's',
      body: [`type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${QEMU_BUS_NAME}'`],
    });
    const [has] = await callMethod(bus, {
      destination: 'org.freedesktop.DBus',
      path: '/org/freedesktop/DBus',
      interface: IFACE.dbus,
      member: 'GetNameOwner',
      signature: 's',
      body: [QEMU_BUS_NAME],
    }).catch(() => ['']);
    presence.setOwner(typeof has === 'string' ? has : '');
    return presence;
  }

  get present(): boolean {
    return this.owner !== '';
  }

  private setOwner(owner: string): void {
    if (owner === this.owner) return;
    const was = this.owner;
    this.owner = owner;
    if (was !== '') this.emit('down');
    if (owner !== '') this.emit('up');
  }
}
