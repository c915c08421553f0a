// Checks a --vm address before anything starts: the socket is there, something listens on it, it
// speaks D-Bus (a raw AUTH exchange first, so a QMP socket or anything else gets a plain message
// rather than whatever the D-Bus library makes of it), and QEMU's display is on that bus with at
// least one console. Each failure is a StartCheckError: one line, what is wrong and what to do.
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { StartCheckError } from './start-check-error.mjs';

const PROBE_TIMEOUT_MS = 3000;
const BUS_TIMEOUT_MS = 10_000;
/** How long a bus without QEMU is watched for QEMU to arrive. */
const QEMU_WAIT_MS = 5000;

/** @typedef {import('./vm-address.mjs').VmAddress} VmAddress */
/** @typedef {typeof import('../../packages/qemu-dbus/dist/src/index.js')} QemuDbus */

/**
 * The commands a user runs to put a QEMU display on `address` (the README's own-VM steps).
 * @param {string} address
 */
const listenAddress = (address) => address.replace(/,guid=[^,]*/, '');
/** @param {string} address */
export const busCommand = (address) => `dbus-daemon --session --fork --address=${listenAddress(address)}`;
/** QEMU's option parser takes a doubled comma for a comma in a value. */
/** @param {string} address */
export const displayOption = (address) => `-display dbus,addr=${address.replaceAll(',', ',,')}`;

/**
 * Checks `vm` (from parseVmAddress) and returns QEMU's VM properties { name, uuid, consoleIds }.
 * Throws StartCheckError.
 * @param {VmAddress} vm
 */
export async function checkVm(vm) {
  // Loaded first: on Node 20.20, fs.statSync of a socket (below) before dbus-next's first import
  // left that module's exports empty (`dbus.sessionBus is not a function`).
  const qemuDbus = await import('../../packages/qemu-dbus/dist/src/index.js');
  const where = vm.path ?? `abstract socket ${vm.abstract}`;
  const startBoth = `start the bus with \`${busCommand(vm.address)}\`, then QEMU with ${displayOption(vm.address)}`;
  const example = 'unix:path=/run/qemu-vm1/bus.sock';
  const notTheBus =
    `give --vm the address of QEMU's -display dbus,addr=ADDRESS (none yet? start a bus with ` +
    `\`${busCommand(example)}\` and QEMU with ${displayOption(example)})`;
  if (vm.path !== undefined) {
    let st;
    try {
      st = statSync(vm.path);
    } catch (e) {
      const error = /** @type {NodeJS.ErrnoException} */ (e);
      if (error.code === 'ENOENT') throw new StartCheckError(`--vm: no socket at ${vm.path}: ${startBoth}`);
      throw new StartCheckError(
        `--vm: cannot look at ${vm.path} (${error.code}): check its folder's permissions`,
      );
    }
    if (!st.isSocket()) {
      throw new StartCheckError(`--vm: ${vm.path} is not a socket: ${notTheBus}`);
    }
  }
  // Node cannot reach another program's abstract socket (it counts the whole sun_path in the
  // address): there the D-Bus library's own socket (usocket) is the only check.
  if (vm.abstract !== undefined) return queryDisplay(qemuDbus, vm, where);
  const said = await probe(vm);
  if (said.error === 'ECONNREFUSED' || said.error === 'ENOENT') {
    throw new StartCheckError(
      `--vm: nothing listens on ${where} (left over from a bus that stopped?): ${startBoth}`,
    );
  }
  if (said.error === 'EACCES' || said.error === 'EPERM') {
    throw new StartCheckError(
      `--vm: this user may not connect to ${where} (permission denied): run the start command as the bus's user`,
    );
  }
  if (said.error !== undefined) throw new StartCheckError(`--vm: cannot connect to ${where} (${said.error})`);
  const first = said.text.split(/\r?\n/)[0] ?? '';
  if (/^\s*\{\s*"QMP"/.test(said.text)) {
    throw new StartCheckError(`--vm: ${where} is a QEMU QMP monitor, not a D-Bus bus: ${notTheBus}`);
  }
  if (said.text === '') {
    throw new StartCheckError(
      `--vm: ${where} ${said.closed ? 'closed the connection' : `said nothing in ${PROBE_TIMEOUT_MS / 1000} s`} ` +
        `instead of answering as a D-Bus bus: ${notTheBus}`,
    );
  }
  if (first.startsWith('REJECTED')) {
    throw new StartCheckError(
      `--vm: the D-Bus bus at ${where} does not accept uid ${process.getuid?.()}: ` +
        'run the start command as the user the bus runs as',
    );
  }
  if (!first.startsWith('OK ')) {
    throw new StartCheckError(
      `--vm: ${where} is not a D-Bus bus (it answered ${JSON.stringify(first.slice(0, 40))}): ${notTheBus}`,
    );
  }
  return queryDisplay(qemuDbus, vm, where);
}

/**
 * Connects, offers EXTERNAL auth as a D-Bus client would, and collects the first answer.
 * @param {{ path: string }} vm
 * @returns {Promise<{ text: string, closed: boolean, error?: undefined } | { error: string }>}
 */
function probe(vm) {
  return new Promise((resolve) => {
    const socket = connect({ path: vm.path });
    let text = '';
    /** @param {{ text: string, closed: boolean } | { error: string }} result */
    const done = (result) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ text, closed: false }), PROBE_TIMEOUT_MS);
    socket.once('connect', () => {
      const uid = Buffer.from(String(process.getuid?.() ?? 0)).toString('hex');
      socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
    });
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\n') || text.length > 4096) done({ text, closed: false });
    });
    socket.once('error', (/** @type {NodeJS.ErrnoException} */ error) =>
      done({ error: error.code ?? error.message }),
    );
    socket.once('close', () => done({ text, closed: true }));
  });
}

/**
 * On the bus: QEMU (org.qemu), its VM object, at least one console.
 * @param {QemuDbus} qemuDbus
 * @param {VmAddress} vm
 * @param {string} where
 */
async function queryDisplay(qemuDbus, vm, where) {
  const { connectBus, callMethod, onBusClosed, readVmProperties, QEMU_BUS_NAME, VM_PATH, IFACE } = qemuDbus;
  const bus = connectBus(vm.address);
  // A bus that drops us (another user's bus does, after authentication) fails every pending call.
  /** @type {(error?: Error) => void} */
  let lost;
  /** @type {Promise<never>} */
  const dropped = new Promise((_, reject) => {
    lost = (error) =>
      reject(
        /ECONNREFUSED|ENOENT/.test(error?.message ?? '')
          ? new StartCheckError(
              `--vm: nothing listens on ${where}: start the bus with \`${busCommand(vm.address)}\`, ` +
                `then QEMU with ${displayOption(vm.address)}`,
            )
          : new StartCheckError(
              `--vm: the D-Bus bus at ${where} ${error ? `failed (${error.message})` : 'closed the connection'}: ` +
                `is it another user's bus? run the start command as the user that runs the bus and QEMU`,
            ),
      );
  });
  dropped.catch(() => undefined);
  bus.on('error', (/** @type {Error} */ error) => {
    lost(error);
  });
  onBusClosed(bus, () => lost());
  /**
   * @template T
   * @param {string} what
   * @param {Promise<T>} promise
   * @returns {Promise<T>}
   */
  const within = async (what, promise) => {
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    /** @type {Promise<never>} */
    const late = new Promise((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StartCheckError(`--vm: ${what} on ${where} did not answer in ${BUS_TIMEOUT_MS / 1000} s`),
          ),
        BUS_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([promise, late, dropped]);
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    // A QEMU started just before us (the README's steps, one after the other) may not be on the bus
    // yet: give it a few seconds.
    const qemuOnBus = () =>
      within(
        'the bus',
        callMethod(bus, {
          destination: IFACE.dbus,
          path: '/org/freedesktop/DBus',
          interface: IFACE.dbus,
          member: 'NameHasOwner',
          signature: 's',
          body: [QEMU_BUS_NAME],
        }),
      ).then(([owned]) => owned === true);
    let owned = false;
    for (const deadline = Date.now() + QEMU_WAIT_MS; ;) {
      owned = await qemuOnBus().catch((/** @type {unknown} */ error) => {
        if (error instanceof StartCheckError) throw error;
        throw new StartCheckError(`--vm: cannot use the D-Bus bus at ${where} (${messageOf(error)})`);
      });
      if (owned || Date.now() >= deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (!owned) {
      throw new StartCheckError(
        `--vm: the D-Bus bus at ${where} has no QEMU on it (waited ${QEMU_WAIT_MS / 1000} s): ` +
          `start QEMU with ${displayOption(vm.address)}`,
      );
    }
    const props = await within("QEMU's display", readVmProperties(bus)).catch(
      (/** @type {unknown} */ error) => {
        if (error instanceof StartCheckError) throw error;
        throw new StartCheckError(
          `--vm: QEMU is on the bus at ${where} but its display is not (${VM_PATH}: ${messageOf(error)}): ` +
            `start QEMU with ${displayOption(vm.address)}`,
        );
      },
    );
    if (props.consoleIds.length === 0) {
      throw new StartCheckError(
        `--vm: QEMU's display at ${where} has no console: give the VM a display device ` +
          '(e.g. -device virtio-gpu-pci or -vga std)',
      );
    }
    return props;
  } finally {
    bus.disconnect();
  }
}

/** @param {unknown} error */
const messageOf = (error) => (error instanceof Error ? error.message : String(error));
