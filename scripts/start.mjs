// Starts the whole system on this machine: NATS, the demo VM (the test guest under QEMU, on a
// private D-Bus bus) unless a VM's D-Bus address is given, and the four services, each its own
// process. A child that dies unexpectedly is restarted with backoff (like a compose restart
// policy). Ctrl-C (or SIGTERM) stops everything it started.
//
// Besides the human-readable output, it prints one machine-readable line per event, for tests and
// benchmarks:  @qemu-webrtc {"event":"started","name":"encoder","pid":123}
//              @qemu-webrtc {"event":"exited","name":"encoder","pid":123,"code":null,"signal":"SIGKILL"}
//              @qemu-webrtc {"event":"ready","url":"http://127.0.0.1:8080/",...}
// A control token generated for the run is shown once, to the person at the terminal, in the
// "Open http://…/#token=…" line; never in an event line, and never in a service's log.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeNatsAuthConfig } from './nats-auth.mjs';

const root = new URL('..', import.meta.url).pathname;
/** The demo guest draws through virtio-gpu when QEMU gives it one (60 fps), else Bochs VBE. */
const DEFAULT_DEMO_VIDEO = 'virtio';
const EVENT_PREFIX = '@qemu-webrtc ';

const { values } = parseArgs({
  options: {
    vm: { type: 'string' }, // D-Bus address of a running QEMU's -display dbus bus
    'vm-id': { type: 'string', default: 'demo' },
    'demo-size': { type: 'string', default: '1280x720' },
    'demo-video': { type: 'string', default: DEFAULT_DEMO_VIDEO },
    port: { type: 'string', default: '8080' },
    'nats-port': { type: 'string', default: '4222' },
    'metrics-port': { type: 'string', default: '9101' },
    'max-fps': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(`usage: bash scripts/start.sh [options]
  --vm ADDRESS       the D-Bus address a QEMU started with -display dbus,addr=... is on
                     (default: start the demo VM)
  --vm-id ID         the VM's id in URLs and subjects (default demo)
  --port N           HTTP port of the browser client (default 8080; 0: a free one)
  --nats-port N      NATS port (default 4222; 0: a free one)
  --metrics-port N   capture's metrics port; encoder N+1, signaling N+2, input N+3
                     (default 9101; 0: free ones)
  --max-fps N        frames per second captured and encoded at most
                     (default 60; 30 for the demo VM on VGA, which QEMU refreshes at ~30 Hz)
  --demo-size WxH    the demo VM's resolution (default 1280x720)
  --demo-video KIND  the demo VM's display device: virtio (virtio-gpu, 60 fps) or vga
                     (default ${DEFAULT_DEMO_VIDEO})
Service settings not set by these options can be given as environment variables (e.g.
SIGNALING_TOKENS="tok:control,tok2:view", ENCODER_RENDITIONS, LOG_LEVEL).`);
  process.exit(0);
}

function fail(message) {
  console.error(message);
  process.exit(2);
}
function portOption(name) {
  const v = values[name];
  if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) fail(`--${name} takes a port number, got ${v}`);
  return Number(v);
}
if (!/^[A-Za-z0-9_-]{1,64}$/.test(values['vm-id'])) {
  fail(`--vm-id takes letters, digits, _ and - only, got ${values['vm-id']}`);
}
const size = /^(\d{3,4})x(\d{3,4})$/.exec(values['demo-size']);
if (!size) fail(`--demo-size must look like 1280x720, got ${values['demo-size']}`);
const video = values['demo-video'];
if (video !== 'vga' && video !== 'virtio') fail(`--demo-video takes vga or virtio, got ${video}`);
const demo = values.vm === undefined;
let maxFps = demo && video === 'vga' ? 30 : 60;
if (values['max-fps'] !== undefined) {
  maxFps = Number(values['max-fps']);
  if (!Number.isInteger(maxFps) || maxFps < 1 || maxFps > 240) fail('--max-fps takes 1..240');
}

/** A TCP port nobody listens on right now (the kernel's choice). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
/** Ports are fixed before anything starts, so a restarted service comes back on the same one. */
const pick = async (port) => (port === 0 ? freePort() : port);
const httpPort = await pick(portOption('port'));
const natsPort = await pick(portOption('nats-port'));
const metricsBase = portOption('metrics-port');
const metricsPorts =
  metricsBase === 0
    ? {
        capture: await freePort(),
        encoder: await freePort(),
        signaling: await freePort(),
        input: await freePort(),
      }
    : { capture: metricsBase, encoder: metricsBase + 1, signaling: metricsBase + 2, input: metricsBase + 3 };

const dir = mkdtempSync(join(tmpdir(), 'qemu-webrtc-'));
// Frames travel between capture and encoder in shared memory: a ring directory of this run's own.
const ringDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'qemu-webrtc-'));

function emit(event) {
  process.stdout.write(`${EVENT_PREFIX}${JSON.stringify(event)}\n`);
}

const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 15_000;
/** A child that ran this long before dying starts over at the first backoff step. */
const RESTART_RESET_AFTER_MS = 30_000;
const STOP_GRACE_MS = 5000;

/** One supervised child: started now, restarted with backoff whenever it dies unasked. */
class Supervised {
  child = undefined;
  restarts = 0;
  failures = 0;
  startedAt = 0;
  retryTimer = undefined;
  listeners = [];
  /** Called after each restart (not the first start). */
  restartHooks = [];
  /** Set by restart(): the next exit is ours, start again at once. */
  planned = false;

  constructor(name, command, args, env, stopSignal = 'SIGTERM') {
    this.name = name;
    this.stopSignal = stopSignal;
    this.command = command;
    this.args = args;
    this.env = env;
    this.prefix = `[${name}] `;
    this.spawn();
  }

  spawn() {
    // setpriv: the kernel stops the child if we die, even by SIGKILL. Its own process group: a
    // terminal's Ctrl-C reaches only us, and we stop the children in order.
    const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', this.command, ...this.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, ...this.env },
    });
    this.child = child;
    this.startedAt = Date.now();
    // Whole lines only, each with the child's name in front.
    const forward = (stream) => {
      let partial = '';
      return (chunk) => {
        const text = partial + chunk.toString();
        const end = text.lastIndexOf('\n') + 1;
        partial = text.slice(end);
        if (partial.length > 64 * 1024) {
          stream.write(`${this.prefix}${partial}\n`);
          partial = '';
        }
        if (end > 0) stream.write(text.slice(0, end).replace(/^(?=.)/gm, this.prefix));
        for (const l of this.listeners) l(chunk.toString());
      };
    };
    child.stdout.on('data', forward(process.stdout));
    child.stderr.on('data', forward(process.stderr));
    child.on('error', (error) => console.error(`${this.prefix}could not start: ${error.message}`));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    if (child.pid !== undefined) emit({ event: 'started', name: this.name, pid: child.pid });
    if (this.restarts > 0) for (const hook of this.restartHooks) hook();
  }

  onExit(child, code, signal) {
    emit({ event: 'exited', name: this.name, pid: child.pid ?? null, code, signal });
    if (stopping || child !== this.child) return;
    if (this.planned) {
      this.planned = false;
      this.restarts++;
      this.spawn();
      return;
    }
    const ranMs = Date.now() - this.startedAt;
    if (ranMs >= RESTART_RESET_AFTER_MS) this.failures = 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** this.failures);
    this.failures++;
    this.restarts++;
    console.error(
      `${this.prefix}exited (${signal ?? `code ${code}`}) after ${(ranMs / 1000).toFixed(1)} s; ` +
        `restarting in ${delay} ms (restart ${this.restarts})`,
    );
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!stopping) this.spawn();
    }, delay);
  }

  /** Stops the child and starts it again at once (a peer it depends on was restarted). */
  restart() {
    if (!this.running || this.planned) return;
    console.error(`${this.prefix}restarting`);
    this.planned = true;
    const child = this.child;
    child.kill(this.stopSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('exit', () => clearTimeout(timer));
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the match once this child prints `pattern` (any incarnation). */
  waitForOutput(pattern, timeoutMs = 30_000) {
    return new Promise((resolve, reject) => {
      let seen = '';
      const listener = (text) => {
        seen = (seen + text).slice(-64 * 1024);
        const m = seen.match(pattern);
        if (m) done(undefined, m);
      };
      const timer = setTimeout(
        () => done(new Error(`${this.name}: timed out waiting for ${pattern}`)),
        timeoutMs,
      );
      const done = (error, m) => {
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== listener);
        if (error) reject(error);
        else resolve(m);
      };
      this.listeners.push(listener);
    });
  }

  async stop() {
    clearTimeout(this.retryTimer);
    const child = this.child;
    if (!this.running || !child) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill(this.stopSignal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await gone;
    clearTimeout(timer);
  }
}

const children = [];
let stopping = false;

function start(name, command, args, env = {}, stopSignal = undefined) {
  const s = new Supervised(name, command, args, env, stopSignal);
  children.push(s);
  return s;
}

async function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  console.error('stopping…');
  // Last started first: services before the VM, the bus and NATS.
  for (const s of [...children].reverse()) await s.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(ringDir, { recursive: true, force: true });
  emit({ event: 'stopped' });
  process.exit(code);
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void stop(0));

try {
  // One NATS user per service, with compose's permissions; passwords never printed.
  const natsAuth = await writeNatsAuthConfig(root, dir, natsPort, {
    testUser: process.env.QEMU_WEBRTC_NATS_TEST_USER === '1',
  });
  const nats = start('nats', 'nats-server', ['-c', natsAuth.conf], {}, 'SIGINT');
  await nats.waitForOutput(/Server is ready/);

  let busAddress = values.vm;
  if (busAddress === undefined) {
    busAddress = `unix:path=${join(dir, 'bus.sock')}`;
    const bus = start('dbus', 'dbus-daemon', [
      '--session',
      '--nofork',
      '--nopidfile',
      '--print-address=1',
      `--address=${busAddress}`,
    ]);
    await bus.waitForOutput(/^unix:path=/m);
    // The demo VM is the test guest, with the test kit's QEMU command line (built by pnpm build).
    const { guestQemuArgs } = await import(join(root, 'test/dist/kit/guest-qemu-args.js'));
    const vm = start(
      'demo-vm',
      'qemu-system-x86_64',
      guestQemuArgs({ name: 'demo', width: Number(size[1]), height: Number(size[2]), video, busAddress }),
    );
    // Neither QEMU nor capture comes back to a new bus by itself.
    bus.restartHooks.push(() => {
      vm.restart();
      children.find((c) => c.name === 'capture')?.restart();
    });
  }

  // The services, each its own process as in a deployment. Settings that wire them together are
  // fixed here; anything else may come from the environment.
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const service = (name, defaults, env) =>
    start(name, process.execPath, [join(root, `services/${name}/dist/src/main.js`)], {
      ...defaults,
      ...pickEnv(Object.keys(defaults)),
      NATS_URL: natsUrl,
      ...natsAuth.env[name],
      ...env,
    });
  // An explicit --max-fps wins over the environment; the default does not.
  const fps = (name) => ({ [name]: String(maxFps) });
  const fpsDefault = (name) => (values['max-fps'] === undefined ? fps(name) : {});
  const fpsForced = (name) => (values['max-fps'] === undefined ? {} : fps(name));
  service('capture', fpsDefault('CAPTURE_MAX_FPS'), {
    ...fpsForced('CAPTURE_MAX_FPS'),
    DBUS_ADDRESS: busAddress,
    VM_ID: values['vm-id'],
    RING_DIR: ringDir,
    METRICS_PORT: String(metricsPorts.capture),
  });
  service('encoder', fpsDefault('ENCODER_MAX_FPS'), {
    ...fpsForced('ENCODER_MAX_FPS'),
    RING_DIR: ringDir,
    METRICS_PORT: String(metricsPorts.encoder),
  });
  service(
    'input',
    {},
    { INPUT_VMS: `${values['vm-id']}=${busAddress}`, METRICS_PORT: String(metricsPorts.input) },
  );
  // Without SIGNALING_TOKENS, one control token for this run: shown once below (in the URL's
  // fragment, which browsers never send), nowhere else; signaling's logs redact it.
  const tokens = process.env.SIGNALING_TOKENS;
  const generated = tokens === undefined || tokens === '' ? randomBytes(18).toString('base64url') : undefined;
  service(
    'signaling',
    {},
    {
      SIGNALING_PORT: String(httpPort),
      METRICS_PORT: String(metricsPorts.signaling),
      ...(generated ? { SIGNALING_TOKENS: `${generated}:control` } : {}),
    },
  );
  const base = signalingBaseUrl(httpPort);
  await waitForPort(httpPort, 60_000);
  const url = `${base}/`;
  console.log(`
qemu-webrtc is running (Ctrl-C stops everything):
  NATS         ${natsUrl}
  VM display   ${busAddress}${demo ? `  (demo VM, ${values['demo-size']}, ${video})` : ''}
  metrics      capture http://127.0.0.1:${metricsPorts.capture}/metrics  encoder :${metricsPorts.encoder}  signaling :${metricsPorts.signaling}  input :${metricsPorts.input}

  ${generated ? `Open ${url}#token=${generated}\n  (a control token generated for this run: shown only here)` : `Open ${url}#token=<one of your SIGNALING_TOKENS>`}
`);
  emit({
    event: 'ready',
    url,
    tokenGenerated: generated !== undefined,
    vmId: values['vm-id'],
    busAddress,
    natsUrl,
    // A file (0600) with the test user's credential, only with QEMU_WEBRTC_NATS_TEST_USER=1.
    natsTestCredential: natsAuth.testCredential ?? null,
    metricsPorts,
    maxFps,
    demo: demo ? { width: Number(size[1]), height: Number(size[2]), video } : null,
    pids: Object.fromEntries(children.map((s) => [s.name, s.child?.pid ?? null])),
  });
} catch (error) {
  console.error(`could not start: ${error instanceof Error ? error.message : String(error)}`);
  await stop(1);
}

/** Where the browser client is reached, as signaling's own start-up message says it. */
function signalingBaseUrl(port) {
  const publicUrl = process.env.SIGNALING_PUBLIC_URL;
  if (publicUrl) return publicUrl.replace(/\/$/, '');
  const scheme = process.env.TLS_CERT ? 'https' : 'http';
  const host = process.env.HTTP_HOST;
  const shown = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

/** Resolves once something accepts TCP connections on `port` (signaling is listening). */
async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise((resolve) => {
      const socket = connect({ host: process.env.HTTP_HOST || '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`signaling is not listening on port ${port}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Values of `names` from our environment, where set (they override the defaults above). */
function pickEnv(names) {
  return Object.fromEntries(
    names
      .filter((n) => process.env[n] !== undefined && process.env[n] !== '')
      .map((n) => [n, process.env[n]]),
  );
}
