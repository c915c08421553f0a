// Starts the whole system on this machine: NATS, the demo VM (the test guest under QEMU, on a
// private D-Bus bus) unless a VM's D-Bus address is given, and the four services, each its own
// process. What it is given is checked first (scripts/lib: options, the VM, ports); a child that
// dies after the system is ready is restarted with backoff (like a compose restart policy), one
// that dies before ends the start. Ctrl-C (or SIGTERM) stops everything it started.
//
// Besides the human-readable output, it prints one machine-readable line per event, for tests and
// benchmarks:  @qemu-webrtc {"event":"started","name":"encoder","pid":123}
//              @qemu-webrtc {"event":"exited","name":"encoder","pid":123,"code":null,"signal":"SIGKILL"}
//              @qemu-webrtc {"event":"ready","url":"http://127.0.0.1:8080/",...}
// A control token generated for the run is shown once, to the person at the terminal, in the
// "Open http://…/#token=…" line; never in an event line, and never in a service's log.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPortsFree, freePort } from './lib/ports.mjs';
import { StartCheckError } from './lib/start-check-error.mjs';
import { readStartOptions } from './lib/start-options.mjs';
import { Supervised, SupervisorContext } from '@qemu-webrtc/process-supervisor';
import { checkVm } from './lib/vm-check.mjs';
import { parseVmAddress } from './lib/vm-address.mjs';
import { writeNatsAuthConfig } from './nats-auth.mjs';

const root = new URL('..', import.meta.url).pathname;
const EVENT_PREFIX = '@qemu-webrtc ';

const options = readStartOptions();
const { demo, maxFps } = options;
const httpHost = process.env.HTTP_HOST || '127.0.0.1';

// Everything the user gave is checked before anything starts: the VM (socket, D-Bus, QEMU's
// display) and every port. A failure is one line and exit code 2.
/** @type {string} */
let vmId;
/** @type {number} */
let httpPort;
/** @type {number} */
let natsPort;
/** @type {{ capture: number, encoder: number, signaling: number, input: number }} */
let metricsPorts;
try {
  if (demo) vmId = options.vmId ?? 'demo';
  else {
    // Not the demo: --vm was given.
    const vm = await checkVm(parseVmAddress(/** @type {string} */ (options.vm)));
    const { defaultVmId } = await import('../packages/common/dist/src/subjects.js');
    vmId = options.vmId ?? defaultVmId(vm);
  }
  // Ports are fixed before anything starts, so a restarted service comes back on the same one.
  // Port 0 draws a free one; a drawn port stays free until its service binds it, so two draws can
  // give the same port: draw again until it differs from every port taken so far.
  /** @type {Set<number>} */
  const taken = new Set();
  /** @type {(port: number, host: string) => Promise<number>} */
  const pick = async (port, host) => {
    let chosen = port;
    while (chosen === 0 || (port === 0 && taken.has(chosen))) chosen = await freePort(host);
    taken.add(chosen);
    return chosen;
  };
  httpPort = await pick(options.httpPort, httpHost);
  natsPort = await pick(options.natsPort, '127.0.0.1');
  const base = options.metricsPort;
  metricsPorts =
    base === 0
      ? {
          capture: await pick(0, httpHost),
          encoder: await pick(0, httpHost),
          signaling: await pick(0, httpHost),
          input: await pick(0, httpHost),
        }
      : { capture: base, encoder: base + 1, signaling: base + 2, input: base + 3 };
  const ports = [
    { port: httpPort, host: httpHost, what: 'HTTP', option: '--port' },
    { port: natsPort, host: '127.0.0.1', what: 'NATS', option: '--nats-port' },
    .../** @type {const} */ (['capture', 'encoder', 'signaling', 'input']).map((name) => ({
      port: metricsPorts[name],
      host: httpHost,
      what: `${name} metrics`,
      option: '--metrics-port',
    })),
  ];
  for (const [i, a] of ports.entries()) {
    const b = ports.slice(i + 1).find((x) => x.port === a.port);
    if (b)
      throw new StartCheckError(
        `port ${a.port} is given for both ${a.what} and ${b.what}: pass ${b.option} N`,
      );
  }
  await checkPortsFree(ports);
} catch (error) {
  if (!(error instanceof StartCheckError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'qemu-webrtc-'));
// Frames travel between capture and encoder in shared memory: a ring directory of this run's own.
const ringDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'qemu-webrtc-'));

/** @param {import('@qemu-webrtc/process-supervisor').SupervisorEvent | Record<string, unknown>} event */
function emit(event) {
  process.stdout.write(`${EVENT_PREFIX}${JSON.stringify(event)}\n`);
}

/** @type {Supervised[]} */
const children = [];
// A child that dies before the system is ready ends the start: nothing retries a bad setup.
const ctx = new SupervisorContext(emit, (child, code, signal) => {
  console.error(
    `could not start: ${child.name} exited (${signal ?? `code ${code}`}) before the system was ready` +
      (child.lastLine ? `; it said: ${child.lastLine.replace(/^\s+/, '')}` : ''),
  );
  void stop(1);
});

/**
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {Record<string, string>} [env]
 * @param {NodeJS.Signals} [stopSignal]
 */
function start(name, command, args, env = {}, stopSignal) {
  const s = new Supervised(ctx, name, command, args, env, stopSignal);
  children.push(s);
  return s;
}

async function stop(code = 0) {
  if (ctx.stopping) return;
  ctx.stopping = true;
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

  // --vm's address, or the demo VM's private bus below.
  let busAddress = /** @type {string} */ (options.vm);
  if (demo) {
    busAddress = `unix:path=${join(dir, 'bus.sock')}`;
    const bus = start('dbus', 'dbus-daemon', [
      '--session',
      '--nofork',
      '--nopidfile',
      '--print-address=1',
      `--address=${busAddress}`,
    ]);
    await bus.waitForOutput(/^unix:path=/m);
    // The demo VM is the test guest with its QEMU command line (packages/demo-vm, built by pnpm build).
    const { guestQemuArgs } = await import('@qemu-webrtc/demo-vm');
    const vm = start(
      'demo-vm',
      'qemu-system-x86_64',
      guestQemuArgs({
        name: 'demo',
        width: demo.width,
        height: demo.height,
        video: demo.video,
        heads: demo.heads,
        busAddress,
        // COM1 on D-Bus: the page's serial console (served by the input service).
        serialOnDbus: true,
        audio: true,
      }),
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
  /**
   * @param {string} name
   * @param {Record<string, string>} defaults
   * @param {Record<string, string>} env
   */
  const service = (name, defaults, env) =>
    start(name, process.execPath, [join(root, `services/${name}/dist/src/main.js`)], {
      ...defaults,
      ...pickEnv(Object.keys(defaults)),
      NATS_URL: natsUrl,
      ...natsAuth.env[name],
      ...env,
    });
  // An explicit --max-fps wins over the environment; the default does not.
  /** @param {string} name */
  const fps = (name) => ({ [name]: String(maxFps) });
  /** @param {string} name */
  const fpsDefault = (name) => (options.maxFpsGiven ? {} : fps(name));
  /** @param {string} name */
  const fpsForced = (name) => (options.maxFpsGiven ? fps(name) : {});
  service('capture', fpsDefault('CAPTURE_MAX_FPS'), {
    ...fpsForced('CAPTURE_MAX_FPS'),
    DBUS_ADDRESS: busAddress,
    VM_ID: vmId,
    RING_DIR: ringDir,
    METRICS_PORT: String(metricsPorts.capture),
  });
  service('encoder', fpsDefault('ENCODER_MAX_FPS'), {
    ...fpsForced('ENCODER_MAX_FPS'),
    RING_DIR: ringDir,
    METRICS_PORT: String(metricsPorts.encoder),
  });
  service('input', {}, { INPUT_VMS: `${vmId}=${busAddress}`, METRICS_PORT: String(metricsPorts.input) });
  // Without SIGNALING_TOKENS, one control token for this run: shown once below (in the URL's
  // fragment, which browsers never send), nowhere else; signaling's logs redact it.
  const tokens = process.env.SIGNALING_TOKENS;
  const generated = tokens === undefined || tokens === '' ? randomBytes(18).toString('base64url') : undefined;
  // Media stays on loopback like every TCP port here; ICE_BIND_ADDRESS=0.0.0.0 (or a LAN address)
  // with HTTP_HOST=0.0.0.0 serves the LAN.
  service(
    'signaling',
    { ICE_BIND_ADDRESS: '127.0.0.1' },
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
  VM           ${vmId} on ${busAddress}${demo ? `  (demo VM, ${demo.sizeText}, ${demo.video}${demo.heads > 1 ? `, ${demo.heads} heads` : ''})` : ''}
  metrics      capture http://127.0.0.1:${metricsPorts.capture}/metrics  encoder :${metricsPorts.encoder}  signaling :${metricsPorts.signaling}  input :${metricsPorts.input}

  ${generated ? `Open ${url}#token=${generated}\n  (a control token generated for this run: shown only here)` : `Open ${url}#token=<one of your SIGNALING_TOKENS>`}
`);
  ctx.ready = true;
  emit({
    event: 'ready',
    url,
    tokenGenerated: generated !== undefined,
    vmId,
    busAddress,
    natsUrl,
    // A file (0600) with the test user's credential, only with QEMU_WEBRTC_NATS_TEST_USER=1.
    natsTestCredential: natsAuth.testCredential ?? null,
    metricsPorts,
    ringDir,
    maxFps,
    demo: demo ? { width: demo.width, height: demo.height, video: demo.video } : null,
    pids: Object.fromEntries(children.map((s) => [s.name, s.pid ?? null])),
  });
} catch (error) {
  console.error(`could not start: ${error instanceof Error ? error.message : String(error)}`);
  await stop(1);
}

/**
 * Where the browser client is reached, as signaling's own start-up message says it.
 * @param {number} port
 */
function signalingBaseUrl(port) {
  const publicUrl = process.env.SIGNALING_PUBLIC_URL;
  if (publicUrl) return publicUrl.replace(/\/$/, '');
  const scheme = process.env.TLS_CERT ? 'https' : 'http';
  const host = process.env.HTTP_HOST;
  const shown = !host || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `${scheme}://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
}

/**
 * Resolves once something accepts TCP connections on `port` (signaling is listening).
 * @param {number} port
 * @param {number} timeoutMs
 */
async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    /** @type {Promise<boolean>} */
    const connected = new Promise((resolve) => {
      const socket = connect({ host: httpHost, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (await connected) return;
    if (Date.now() > deadline) throw new Error(`signaling is not listening on port ${port}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Values of `names` from our environment, where set (they override the defaults above).
 * @param {string[]} names
 * @returns {Record<string, string>}
 */
function pickEnv(names) {
  return Object.fromEntries(
    names
      .filter((n) => process.env[n] !== undefined && process.env[n] !== '')
      .map((n) => [n, process.env[n] ?? '']),
  );
}
