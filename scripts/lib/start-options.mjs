// The start command's options: parsed and validated before anything starts; a bad one ends the
// command with one line (exit 2).
import { parseArgs } from 'node:util';

/** The demo guest draws through virtio-gpu when QEMU gives it one (60 fps), else Bochs VBE. */
export const DEFAULT_DEMO_VIDEO = 'virtio';

export const HELP = `usage: bash scripts/start.sh [options]
  --vm ADDRESS       the D-Bus address of the bus a running QEMU shows its display on, as given to
                     QEMU's -display dbus,addr=ADDRESS, e.g. unix:path=/run/qemu-vm1/bus.sock
                     (default: start the demo VM). Checked before anything starts: the socket,
                     D-Bus on it, QEMU's display with a console.
  --vm-id ID         the VM's id in URLs and subjects (default: the VM's -name with anything but
                     letters, digits, _ and - turned into -; without a name its -uuid, else "vm";
                     the demo VM is "demo")
  --port N           HTTP port of the browser client (default 8080; 0: a free one)
  --nats-port N      NATS port (default 4222; 0: a free one)
  --metrics-port N   capture's metrics port; encoder N+1, signaling N+2, input N+3
                     (default 9101; 0: free ones)
  --max-fps N        frames per second captured and encoded at most
                     (default 60; 30 for the demo VM on VGA, which QEMU refreshes at ~30 Hz)
  --demo-size WxH    the demo VM's resolution (default 1280x720)
  --demo-video KIND  the demo VM's display device: virtio (virtio-gpu, 60 fps) or vga
                     (default ${DEFAULT_DEMO_VIDEO})
  --demo-heads N     the demo VM's display heads, 1 or 2 (default 1; 2 needs virtio: a second
                     console, 960x600, with its own page)
  --rebuild          run setup and the build even when nothing changed (start.sh only)
Fast start: start.sh runs scripts/setup.sh (packages, dependencies, build) only when something
changed since the last setup finished: the sources (any file git tracks, the lockfile included),
the installed Debian packages, Node, node_modules, or a build output is missing
(scripts/build-stamp.mjs decides). Otherwise it starts at once; --rebuild forces setup.
Every port is checked free before anything starts.
Service settings not set by these options can be given as environment variables (e.g.
SIGNALING_TOKENS="tok:control,tok2:view", ENCODER_RENDITIONS, LOG_LEVEL).`;

/**
 * @param {string} message
 * @returns {never}
 */
function fail(message) {
  console.error(message);
  process.exit(2);
}

/** Parses process.argv; prints the help and exits for --help, exits 2 on a bad option. */
export function readStartOptions() {
  /** @type {ReturnType<typeof parseOptions>} */
  let values;
  try {
    values = parseOptions();
  } catch (error) {
    fail(`${/** @type {Error} */ (error).message.split('\n')[0]} (--help lists the options)`);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  if (values.rebuild) fail('--rebuild is an option of scripts/start.sh (it runs setup before this script)');
  /** @param {'port' | 'nats-port' | 'metrics-port'} name */
  const portOption = (name) => {
    const v = values[name];
    if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) fail(`--${name} takes a port number, got ${v}`);
    return Number(v);
  };
  const vmId = values['vm-id'];
  if (vmId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(vmId)) {
    fail(`--vm-id takes letters, digits, _ and - only, got ${vmId}`);
  }
  const size = /^(\d{3,4})x(\d{3,4})$/.exec(values['demo-size']);
  if (!size) fail(`--demo-size must look like 1280x720, got ${values['demo-size']}`);
  const videoText = values['demo-video'];
  if (videoText !== 'vga' && videoText !== 'virtio')
    fail(`--demo-video takes vga or virtio, got ${videoText}`);
  const video = /** @type {'vga' | 'virtio'} */ (videoText);
  const heads = Number(values['demo-heads']);
  if (heads !== 1 && heads !== 2) fail(`--demo-heads takes 1 or 2, got ${values['demo-heads']}`);
  if (heads === 2 && video !== 'virtio') fail('--demo-heads 2 needs --demo-video virtio');
  const demo = values.vm === undefined;
  let maxFps = demo && video === 'vga' ? 30 : 60;
  if (values['max-fps'] !== undefined) {
    maxFps = Number(values['max-fps']);
    if (!Number.isInteger(maxFps) || maxFps < 1 || maxFps > 240) fail('--max-fps takes 1..240');
  }
  const httpPort = portOption('port');
  const natsPort = portOption('nats-port');
  const metricsPort = portOption('metrics-port');
  if (metricsPort > 65532) fail('--metrics-port takes a port up to 65532 (input uses N+3)');
  return {
    vm: values.vm,
    vmId,
    demo: demo
      ? { width: Number(size[1]), height: Number(size[2]), video, heads, sizeText: values['demo-size'] }
      : null,
    maxFps,
    maxFpsGiven: values['max-fps'] !== undefined,
    httpPort,
    natsPort,
    metricsPort,
  };
}

/** The command line's options, with their defaults (throws on an unknown or malformed one). */
function parseOptions() {
  return parseArgs({
    options: {
      vm: { type: 'string' },
      'vm-id': { type: 'string' },
      'demo-size': { type: 'string', default: '1280x720' },
      'demo-video': { type: 'string', default: DEFAULT_DEMO_VIDEO },
      'demo-heads': { type: 'string', default: '1' },
      port: { type: 'string', default: '8080' },
      'nats-port': { type: 'string', default: '4222' },
      'metrics-port': { type: 'string', default: '9101' },
      'max-fps': { type: 'string' },
      rebuild: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
}
