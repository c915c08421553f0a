// The methods QEMU calls on our display listener (ui/dbus-display1.xml), with their signatures.
export const LISTENER_METHODS = {
  'org.qemu.Display1.Listener': {
    Scanout: 'uuuuay',
    Update: 'iiiiuuay',
    ScanoutDMABUF: 'huuuutb',
    UpdateDMABUF: 'iiii',
    Disable: '',
    MouseSet: 'iii',
    CursorDefine: 'iiiiay',
  },
  'org.qemu.Display1.Listener.Unix.Map': {
    ScanoutMap: 'huuuuu',
    UpdateMap: 'iiii',
  },
  'org.qemu.Display1.Listener.Unix.ScanoutDMABUF2': {
    ScanoutDMABUF2: 'ahuuuuauauuuuutb',
  },
} as const;

export type ListenerInterface = keyof typeof LISTENER_METHODS;

/** Introspection data for /org/qemu/Display1/Listener (some peers ask). */
export function listenerIntrospection(offered: readonly string[]): string {
  const ifaces = Object.entries(LISTENER_METHODS)
    .filter(([name]) => name === 'org.qemu.Display1.Listener' || offered.includes(name))
    .map(([name, methods]) => {
      const ms = Object.entries(methods)
        .map(
          ([m, sig]) =>
            `<method name="${m}">${splitSignature(sig)
              .map((t) => `<arg type="${t}" direction="in"/>`)
              .join('')}</method>`,
        )
        .join('');
      const prop =
        name === 'org.qemu.Display1.Listener' ? '<property name="Interfaces" type="as" access="read"/>' : '';
      return `<interface name="${name}">${ms}${prop}</interface>`;
    })
    .join('');
  return `<node>${ifaces}</node>`;
}

/** Splits a D-Bus signature of basic types and arrays of them into single complete types. */
function splitSignature(sig: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < sig.length; i++) {
    if (sig[i] === 'a') {
      out.push(sig.slice(i, i + 2));
      i++;
    } else {
      out.push(sig.charAt(i));
    }
  }
  return out;
}
