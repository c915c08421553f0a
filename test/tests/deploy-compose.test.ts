// deploy/docker-compose.yml brought up for real next to the test guest in QEMU on this host: nats,
// capture, two encoder replicas, signaling (HTTPS with a token) and input in containers; headless
// Chromium plays the guest's screen through the composed signaling service; the encoder that holds
// the stream is killed and the video goes on from the other one; `down -v` leaves nothing behind.
//
// A stage of its own: deploy/test/run.sh starts a Docker engine when none runs, builds the images,
// then runs this file (`pnpm test` leaves it out; see scripts/run-tests.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import {
  DbusDaemon,
  QemuVm,
  TempDir,
  freePort,
  launchChromium,
  statusFromPage,
  waitFor,
  withToken,
} from '@qemu-webrtc/test-kit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const composeFile = `${root}deploy/docker-compose.yml`;
const WIDTH = 800;
const HEIGHT = 600;
const VM_ID = 'vm1';
/** Encoders are internal; their metrics are read from inside the container. */
const ENCODER_METRICS_PORT = 9102;

interface PageHooks {
  qemuWebrtc?: { stats: { framesDecoded: number } };
}

/** Runs a command to completion; rejects with its output when it fails. */
function run(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: root, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

async function udpPortFree(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

/** A run of `count` free UDP ports for ICE_PORT_RANGE (published 1:1 by compose). */
async function freeUdpRange(count: number): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const begin = 42_000 + Math.floor(Math.random() * 16_000);
    const ports = Array.from({ length: count }, (_, i) => begin + i);
    if ((await Promise.all(ports.map(udpPortFree))).every(Boolean)) return `${begin}-${begin + count - 1}`;
  }
  throw new Error('no free UDP port range');
}

/** Waits for `count` frame numbers read from the page, each higher than the one before and than `above`. */
async function advancingFrames(
  page: Page,
  count: number,
  above: number,
  timeoutMs: number,
): Promise<number[]> {
  const frames: number[] = [];
  await waitFor(
    `${count} advancing frame numbers above ${above} in the <video>`,
    async () => {
      const status = await statusFromPage(page);
      if (status && status.frame > (frames.at(-1) ?? above)) frames.push(status.frame);
      return frames.length >= count;
    },
    timeoutMs,
    200,
  );
  return frames;
}

test('docker compose: the stack plays the QEMU guest in Chromium and survives losing an encoder', async (t) => {
  const project = process.env.DEPLOY_TEST_PROJECT;
  assert.ok(
    project,
    'DEPLOY_TEST_PROJECT is not set: run this stage with `bash deploy/test/run.sh` (it starts Docker and builds the images)',
  );
  const composeCmd = (process.env.DEPLOY_TEST_COMPOSE ?? 'docker-compose').split(' ').filter(Boolean);
  const [composeBin = 'docker-compose', ...composePre] = composeCmd;

  const dir = new TempDir('qw-deploy-');
  t.after(() => dir.remove());
  const envFile = dir.join('compose.env');
  const compose = (args: string[], timeoutMs?: number): Promise<string> =>
    run(
      composeBin,
      [...composePre, '--env-file', envFile, '-p', project, '-f', composeFile, ...args],
      timeoutMs,
    );
  const projectFilter = `label=com.docker.compose.project=${project}`;
  const containers = async (service?: string): Promise<string[]> => {
    const filters = ['--filter', projectFilter];
    if (service) filters.push('--filter', `label=com.docker.compose.service=${service}`);
    return (await run('docker', ['ps', '-aq', '--no-trunc', ...filters])).split('\n').filter(Boolean);
  };

  // QEMU's side, as deploy/README.md describes it: a bus socket in a directory that compose
  // bind-mounts into capture and input, QEMU's display on that bus.
  // Its own directory: everything in it is visible to those containers.
  // As an operator would: QEMU and its bus under an ordinary user, uid:gid 1000 (the compose
  // file's default QEMU_UID/QEMU_GID), so capture, encoders and input run non-root. (Not root: the
  // processes run as the test's own user.)
  const root = process.getuid?.() === 0;
  const qemuUser = root
    ? { uid: 1000, gid: 1000 }
    : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const runAs = root ? { runAs: qemuUser } : {};
  const busDir = new TempDir('qw-deploy-bus-');
  t.after(() => busDir.remove());
  const bus = await DbusDaemon.start(busDir, runAs);
  t.after(() => bus.stop());
  const qemuDir = new TempDir('qw-deploy-qemu-');
  t.after(() => qemuDir.remove());
  const vm = await QemuVm.start(qemuDir, { busAddress: bus.address, width: WIDTH, height: HEIGHT, ...runAs });
  t.after(() => vm.stop());

  // TLS with a throwaway self-signed certificate, readable by signaling's uid.
  const tlsDir = dir.join('tls');
  mkdirSync(tlsDir);
  chmodSync(tlsDir, 0o755);
  await run('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', `${tlsDir}/key.pem`, '-out', `${tlsDir}/cert.pem`,
  ]); // prettier-ignore
  chmodSync(`${tlsDir}/key.pem`, 0o644);

  const token = `ctl${randomBytes(12).toString('hex')}`;
  const httpPort = await freePort();
  const secret = (): string => `pw${randomBytes(16).toString('hex')}`;
  writeFileSync(
    envFile,
    [
      `NATS_CAPTURE_PASSWORD=${secret()}`,
      `NATS_ENCODER_PASSWORD=${secret()}`,
      `NATS_SIGNALING_PASSWORD=${secret()}`,
      `NATS_INPUT_PASSWORD=${secret()}`,
      `QEMU_DBUS_DIR=${busDir.path}`,
      `DBUS_ADDRESS=unix:path=/run/qemu-webrtc/bus.sock`,
      // The bus belongs to the uid that runs QEMU and dbus-daemon.
      `QEMU_UID=${qemuUser.uid}`,
      `QEMU_GID=${qemuUser.gid}`,
      `VM_ID=${VM_ID}`,
      `SIGNALING_TOKENS=${token}:control`,
      // Nothing published beyond loopback.
      `SIGNALING_BIND=127.0.0.1`,
      `SIGNALING_HOST_PORT=${httpPort}`,
      `ICE_BIND=127.0.0.1`,
      `ICE_PORT_RANGE=${await freeUdpRange(4)}`,
      `TLS_DIR=${tlsDir}`,
      `TLS_CERT=/etc/qemu-webrtc/tls/cert.pem`,
      `TLS_KEY=/etc/qemu-webrtc/tls/key.pem`,
      `CAPTURE_MAX_FPS=15`,
      `ENCODER_RENDITIONS=full:1:2000000`,
      `LOG_LEVEL=info`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );

  const browser = await launchChromium([
    // Host candidates as plain addresses (no mDNS names): the host reaches the signaling
    // container's own address on the compose bridge directly.
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ]);
  t.after(() => browser.close());

  let down = false;
  try {
    await compose(['up', '-d', '--no-build', '--scale', 'encoder=2'], 300_000);

    const services = ['nats', 'capture', 'encoder', 'encoder', 'signaling', 'input'].sort();
    await waitFor(
      'every container (nats, capture, 2 encoders, signaling, input) to be healthy',
      async () => {
        const lines =
          (await run('docker', ['ps', '--filter', projectFilter, '--format', '{{.Label "com.docker.compose.service"}} {{.Status}}'])) // prettier-ignore
            .split('\n')
            .filter((l) => l.includes('(healthy)'));
        return (
          JSON.stringify(lines.map((l) => l.split(' ')[0]).sort()) === JSON.stringify(services) || undefined
        );
      },
      180_000,
      1000,
    );
    t.diagnostic('all six containers are healthy');
    // Capture, encoders and input run as QEMU's user, not root (the bus admits only that uid).
    for (const service of ['capture', 'encoder', 'input']) {
      for (const id of await containers(service)) {
        const user = (await run('docker', ['exec', id, 'id', '-u'])).trim();
        assert.equal(user, String(qemuUser.uid), `${service} runs as uid ${qemuUser.uid}`);
      }
    }
    t.diagnostic(`capture, encoders and input run as uid ${qemuUser.uid}, like QEMU and its bus`);

    const page = await browser.newPage({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 700 } });
    page.on('pageerror', (e) => {
      console.error('page error:', e.message);
    });
    await page.goto(withToken(`https://127.0.0.1:${httpPort}/view/${VM_ID}/0`, token));
    await page.waitForFunction(
      ({ w, h }) => {
        const v = document.querySelector('video');
        return v !== null && v.readyState >= 2 && !v.paused && v.videoWidth === w && v.videoHeight === h;
      },
      { w: WIDTH, h: HEIGHT },
      { timeout: 90_000 },
    );
    const before = await advancingFrames(page, 5, 0, 60_000);
    t.diagnostic(`frame numbers in the <video> through the composed signaling: ${before.join(', ')}`);

    // The encoder that holds the stream (one stream: the console at one rendition) is killed.
    const encoders = await containers('encoder');
    assert.equal(encoders.length, 2, 'two encoder replicas');
    const metrics = async (id: string): Promise<{ held: number; keyframes: number }> => {
      const text = await run('docker', [
        'exec', id, 'node', '-e',
        `fetch('http://127.0.0.1:${ENCODER_METRICS_PORT}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`,
      ]); // prettier-ignore
      const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
      return {
        held: value(/^encoder_streams_held(?:\{[^}]*\})? (\d+)/m),
        keyframes: value(/^encoder_frames_encoded_total\{[^}]*keyframe="true"[^}]*\} (\d+)/m),
      };
    };
    const holders = await waitFor('exactly one encoder to hold the stream', async () => {
      const held = await Promise.all(encoders.map(async (id) => ({ id, ...(await metrics(id)) })));
      const h = held.filter((e) => e.held > 0);
      return h.length === 1 ? { owner: h[0], other: held.find((e) => e.held === 0) } : undefined;
    });
    const owner = holders.owner?.id ?? '';
    const survivor = holders.other;
    assert.ok(survivor, 'the other encoder holds nothing');
    const lastFrame = (await statusFromPage(page))?.frame ?? before.at(-1) ?? 0;
    const decodedBefore = await page.evaluate(
      () => (window as PageHooks).qemuWebrtc?.stats.framesDecoded ?? 0,
    );
    const killedAt = Date.now();
    await run('docker', ['kill', owner]);
    t.diagnostic(`killed encoder ${owner.slice(0, 12)} (it held the stream)`);

    const taken = await waitFor(
      'the other encoder to take the stream over, starting with an IDR',
      async () => {
        const m = await metrics(survivor.id);
        return m.held === 1 && m.keyframes > survivor.keyframes ? m : undefined;
      },
      60_000,
      250,
    );
    assert.equal(taken.held, 1);
    const after = await advancingFrames(page, 5, lastFrame, 60_000);
    t.diagnostic(
      `after the kill, in ${Date.now() - killedAt} ms: frame numbers ${after.join(', ')} (last before: ${lastFrame})`,
    );
    const decodedAfter = await page.evaluate(
      () => (window as PageHooks).qemuWebrtc?.stats.framesDecoded ?? 0,
    );
    assert.ok(
      decodedAfter > decodedBefore,
      `the page decoded more frames: ${decodedBefore} -> ${decodedAfter}`,
    );
    await page.close();

    await compose(['down', '-v', '--remove-orphans', '--timeout', '20'], 180_000);
    down = true;
    const networks = await run('docker', ['network', 'ls', '-q', '--filter', projectFilter]);
    const volumes = await run('docker', ['volume', 'ls', '-q', '--filter', projectFilter]);
    const named = await run('docker', ['volume', 'ls', '-q', '--filter', `name=${project}_`]);
    assert.deepEqual(await containers(), [], 'no container of the project is left');
    assert.equal(networks.trim(), '', 'no network of the project is left');
    assert.equal(`${volumes}${named}`.trim(), '', 'no volume of the project is left');
  } catch (error) {
    // What the containers said, for the failure report.
    try {
      console.error(await run('docker', ['ps', '-a', '--filter', projectFilter]));
      console.error(await compose(['logs', '--no-color', '--tail', '80']));
    } catch (logError) {
      console.error('could not read the container logs:', logError);
    }
    throw error;
  } finally {
    if (!down)
      await compose(['down', '-v', '--remove-orphans', '--timeout', '10'], 180_000).catch(() => undefined);
  }
});
