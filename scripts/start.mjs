// Starts the whole system on this machine: NATS, a private D-Bus bus with the demo VM (the test
// guest under QEMU) unless a VM's D-Bus address is given, and the services built so far.
// Ctrl-C (or SIGTERM) stops everything it started.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    vm: { type: 'string' }, // D-Bus address of a running QEMU's -display dbus bus
    'demo-size': { type: 'string', default: '1280x720' },
    'nats-port': { type: 'string', default: '4222' },
    'vm-id': { type: 'string', default: 'demo' },
    port: { type: 'string', default: '8080' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`usage: bash scripts/start.sh [--vm DBUS_ADDRESS] [--demo-size WxH] [--nats-port N]
  --vm         the D-Bus address a QEMU started with -display dbus,addr=... is on (default: start the demo VM)
  --vm-id      the VM's id in URLs and subjects (default demo)
  --port       the HTTP port of the browser client (default 8080)
  --demo-size  the demo VM's resolution (default 1280x720)`);
  process.exit(0);
}
if (!/^[A-Za-z0-9_-]{1,64}$/.test(values['vm-id'])) {
  console.error(`--vm-id takes letters, digits, _ and - only, got ${values['vm-id']}`);
  process.exit(2);
}
if (!/^\d{3,4}x\d{3,4}$/.test(values['demo-size'])) {
  console.error(`--demo-size must look like 1280x720, got ${values['demo-size']}`);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'qemu-webrtc-'));
const children = [];
let stopping = false;

function start(name, command, args, env = {}) {
  const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', command, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const prefix = `[${name}] `;
  const forward = (stream) => (chunk) => stream.write(chunk.toString().replace(/^(?=.)/gm, prefix));
  child.stdout.on('data', forward(process.stdout));
  child.stderr.on('data', forward(process.stderr));
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${prefix}exited (${signal ?? code}); stopping everything`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

function waitForLine(child, pattern, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}`)), timeoutMs);
    const onData = (chunk) => {
      seen += chunk.toString();
      const m = seen.match(pattern);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  });
}

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  for (const child of children.reverse()) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(
    children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)),
  );
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

const natsConf = join(dir, 'nats.conf');
writeFileSync(natsConf, `listen: 127.0.0.1:${values['nats-port']}\nmax_payload: 8MB\n`);
const nats = start('nats', 'nats-server', ['-c', natsConf]);
await waitForLine(nats, /Server is ready/);

let busAddress = values.vm;
if (busAddress === undefined) {
  const bus = start('dbus', 'dbus-daemon', [
    '--session',
    '--nofork',
    '--nopidfile',
    '--print-address=1',
    `--address=unix:path=${join(dir, 'bus.sock')}`,
  ]);
  busAddress = (await waitForLine(bus, /^(unix:path=[^\n]+)$/m))[1].trim().replace(/,guid=.*/, '');
  start('demo-vm', 'qemu-system-x86_64', [
    '-accel',
    'tcg',
    '-machine',
    'pc',
    '-m',
    '64',
    '-nodefaults',
    '-no-user-config',
    '-vga',
    'std',
    '-name',
    'demo',
    '-kernel',
    join(root, 'test/guest/build/guest.elf'),
    '-append',
    values['demo-size'],
    '-display',
    `dbus,addr=${busAddress}`,
  ]);
}

// The services, each its own process as in a deployment.
const natsUrl = `nats://127.0.0.1:${values['nats-port']}`;
const service = (name, env) =>
  start(name, process.execPath, [join(root, `services/${name}/dist/src/main.js`)], {
    NATS_URL: natsUrl,
    ...env,
  });
service('capture', { DBUS_ADDRESS: busAddress, VM_ID: values['vm-id'], METRICS_PORT: '9101' });
service('encoder', { METRICS_PORT: '9102', ENCODER_MAX_FPS: '30' });
service('input', { INPUT_VMS: `${values['vm-id']}=${busAddress}`, METRICS_PORT: '9104' });
// Signaling prints the URL to open, with its generated control token (or set SIGNALING_TOKENS).
service('signaling', { SIGNALING_PORT: values.port });

console.log(`
qemu-webrtc is running (Ctrl-C stops everything):
  NATS         ${natsUrl}
  VM display   ${busAddress}${values.vm === undefined ? `  (demo VM, ${values['demo-size']})` : ''}
  metrics      capture http://127.0.0.1:9101/metrics  encoder :9102  input :9104
  browser      the signaling service prints the URL to open (with its token) below
`);
