// Someone who can publish on the bus (a leaked NATS credential) forges what the services trust:
// an access unit with the largest epoch, one from an encoder that holds nothing, an EncoderControl
// that starves the stream, heartbeats of encoders that do not exist (a burst, and a few that keep
// talking), claims, and consoles. The system as a user starts it (demo VM, one Chromium page)
// must keep playing: after each forgery the same page shows new guest frames again (time
// reported), a forged control ends by itself and a new viewer gets the rendition's own bitrate,
// and the log stays small (bad input is counted, and logged rate-limited).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import type { Page } from 'playwright-core';
import { claimEpoch, publishProto, subjects, type StreamKey } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  launchWebrtcChromium,
  openPlayer,
  statusFromPage,
  waitFor,
  type GuestStatus,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';
import { connectSystemBus } from '../harness/system-bus.js';

const { EncodedFrame, EncoderControl, EncoderHeartbeat, StreamClaim, ConsoleInfo } = qemu_webrtc.v1;

const VM_ID = 'forge';
const CONTROL = 'forgery-control-token';
const NOMINAL_BPS = 4_000_000;
const STREAM: StreamKey = { vmId: VM_ID, consoleId: 0, rendition: 'full' };
/** What the whole system may print during all the forgeries (it printed ~10 MB before). */
const LOG_BOUND_BYTES = 64 * 1024;

async function guestFrame(
  page: Page,
  accept: (s: GuestStatus) => boolean,
  what: string,
): Promise<GuestStatus> {
  return waitFor(
    what,
    async () => {
      const s = await statusFromPage(page);
      return s && accept(s) ? s : undefined;
    },
    30_000,
    100,
  );
}

async function metric(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`${name}${labels} `) || l.startsWith(`${name}${labels}{`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('forged bus messages do not freeze the page, a forged control expires, the log stays small', async (t) => {
  const system = await StartedSystem.start(['--vm-id', VM_ID, '--demo-size', '640x480', ...FREE_PORT_ARGS], {
    env: {
      SIGNALING_TOKENS: `${CONTROL}:control`,
      ENCODER_RENDITIONS: `full:1:${NOMINAL_BPS}`,
      LOG_LEVEL: 'warn',
    },
    timeoutMs: 120_000,
  });
  t.after(() => system.stop());
  const nc: NatsConnection = await connectSystemBus(system, 'forger');
  t.after(() => nc.close());
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);
  await guestFrame(page, () => true, 'the guest in the page');

  // The real encoder's id, from its heartbeats (a forger can read them too).
  const realEncoder = await new Promise<string>((resolve) => {
    const sub = nc.subscribe(subjects.encoderHeartbeat, {
      callback: (_e, m) => {
        const hb = EncoderHeartbeat.decode(m.data);
        if (hb.streams.length > 0) {
          sub.unsubscribe();
          resolve(hb.encoderId);
        }
      },
    });
  });

  let logBytes = 0;
  const countLog = (chunk: Buffer): void => {
    logBytes += chunk.byteLength;
  };
  system.process.child.stdout?.on('data', countLog);
  system.process.child.stderr?.on('data', countLog);

  // The guest frame the page shows, sampled all along: the longest wait for a newer one, during a
  // forgery and until the page moves on after it, is what a user would call a freeze.
  const samples: { at: number; frame: number }[] = [];
  const sampling = { on: true };
  const sampler = (async () => {
    while (sampling.on) {
      const s = await statusFromPage(page).catch(() => null);
      if (s) samples.push({ at: Date.now(), frame: s.frame });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  const longestFreeze = (from: number): number => {
    let longest = 0;
    let since = from;
    let frame = -1;
    for (const s of samples) {
      if (s.at < from) {
        frame = s.frame;
        continue;
      }
      if (s.frame > frame) {
        longest = Math.max(longest, s.at - since);
        since = s.at;
        frame = s.frame;
      }
    }
    return longest;
  };
  const freezes: string[] = [];
  /** Runs a forgery; then the page must show a guest frame newer than any before the forgery ended. */
  async function survives(name: string, forge: () => void | Promise<void>): Promise<void> {
    const t0 = Date.now();
    await forge();
    await nc.flush();
    const atEnd = await guestFrame(page, () => true, `the page after ${name}`);
    await guestFrame(page, (s) => s.frame > atEnd.frame, `new frames after ${name}`);
    freezes.push(`${name}: ${longestFreeze(t0)} ms`);
  }

  const garbageIdr = Buffer.from([0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0xff, 0xff]);
  const forgedAu = (encoderId: string, epoch: number, sequence: number): Uint8Array =>
    EncodedFrame.encode({
      stream: STREAM,
      data: garbageIdr,
      keyframe: true,
      encoderId,
      epoch,
      sequence,
      width: 640,
      height: 480,
    }).finish();

  await survives('access units with the largest epoch (a made-up encoder and the real one)', async () => {
    for (let i = 1; i <= 100; i++) {
      nc.publish(subjects.encoded(STREAM), forgedAu('forger', 2 ** 32 - 1, i));
      nc.publish(subjects.encoded(STREAM), forgedAu(realEncoder, 2 ** 32 - 1, i));
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 100));
    }
  });

  await survives('access units from an encoder that holds nothing', () => {
    for (let i = 1; i <= 100; i++)
      nc.publish(subjects.encoded(STREAM), forgedAu('foreign', claimEpoch() + 1, i));
  });

  await survives('claims of the stream by made-up encoders', () => {
    for (let i = 0; i < 200; i++) {
      publishProto(nc, subjects.streamClaims, StreamClaim, {
        stream: STREAM,
        encoderId: `claimer-${i}`,
        epoch: 2 ** 32 - 1,
        sentUs: Date.now() * 1000,
      });
    }
  });

  await survives('a burst of 400 made-up encoders', () => {
    for (let i = 0; i < 400; i++) {
      publishProto(nc, subjects.encoderHeartbeat, EncoderHeartbeat, {
        encoderId: `ghost-${i}`,
        sentUs: Date.now() * 1000,
      });
    }
  });

  await survives('three made-up encoders heartbeating for 6 s', async () => {
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      for (const id of ['phantom-a', 'phantom-b', 'phantom-c']) {
        publishProto(nc, subjects.encoderHeartbeat, EncoderHeartbeat, {
          encoderId: id,
          sentUs: Date.now() * 1000,
        });
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  });

  await survives('400 made-up consoles, and consoles whose body lies about their subject', () => {
    for (let i = 0; i < 400; i++) {
      publishProto(nc, subjects.consoleInfo(`fake-${i}`, 0), ConsoleInfo, {
        vmId: `fake-${i}`,
        consoleId: 0,
        graphic: true,
        enabled: true,
        width: 640,
        height: 480,
      });
    }
    for (const vmId of ['../../etc', '\u0000\u00ff', 'x'.repeat(5000)]) {
      publishProto(nc, subjects.consoleInfo(VM_ID, 0), ConsoleInfo, {
        vmId,
        consoleId: 4294967295,
        graphic: true,
        enabled: true,
      });
    }
    nc.publish(subjects.consoleInfo(VM_ID, 0), Buffer.from('garbage that is no protobuf'));
  });

  const encoderMetrics = system.ready.metricsPorts.encoder;
  const streamLabel = `{stream="${VM_ID}.0.full"}`;
  assert.equal(await metric(encoderMetrics, 'encoder_target_bitrate_bps', streamLabel), NOMINAL_BPS);
  await survives('an EncoderControl of 50 kbit/s and 1 fps', async () => {
    publishProto(nc, subjects.encoderControl(STREAM), EncoderControl, {
      stream: STREAM,
      bitrateBps: 50_000,
      maxFps: 1,
    });
    await waitFor(
      'the control to reach the encoder',
      async () => (await metric(encoderMetrics, 'encoder_controls_total', '{outcome="applied"}')) >= 1,
    );
  });
  const lowered = await metric(encoderMetrics, 'encoder_target_bitrate_bps', streamLabel);
  t.diagnostic(`the forged control set the target to ${lowered} bit/s (nominal ${NOMINAL_BPS})`);
  assert.ok(lowered >= NOMINAL_BPS / 20 && lowered < NOMINAL_BPS, `clamped, not 50 kbit/s: ${lowered}`);
  sampling.on = false;
  await sampler;
  await page.close();
  // Nobody repeats it: the control ends after its lease, and a new viewer gets the nominal bitrate.
  await waitFor(
    'the forged control to expire',
    async () => (await metric(encoderMetrics, 'encoder_controls_total', '{outcome="expired"}')) >= 1,
    30_000,
    500,
  );
  const fresh = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);
  await guestFrame(fresh, () => true, 'the guest in a new page');
  assert.equal(await metric(encoderMetrics, 'encoder_target_bitrate_bps', streamLabel), NOMINAL_BPS);

  const signalingSkipped = await fetch(`http://127.0.0.1:${system.ready.metricsPorts.signaling}/metrics`)
    .then((r) => r.text())
    .then((text) => text.split('\n').filter((l) => l.startsWith('signaling_frames_skipped_total{')));
  t.diagnostic(`longest freeze of the page during and after each forgery: ${freezes.join('; ')}`);
  t.diagnostic(`signaling drops: ${signalingSkipped.join(', ')}`);
  t.diagnostic(`the system printed ${logBytes} bytes during the forgeries (bound ${LOG_BOUND_BYTES})`);
  assert.ok(
    signalingSkipped.some((l) => l.includes('not_holder') || l.includes('implausible_epoch')),
    'forged access units were counted as dropped',
  );
  assert.ok(logBytes < LOG_BOUND_BYTES, `the log grew by ${logBytes} bytes`);
  assert.equal(system.process.running, true);
  for (const name of ['capture', 'encoder', 'signaling', 'input']) {
    assert.equal(
      system.events.filter((e) => e.event === 'exited' && e.name === name).length,
      0,
      `${name} never exited`,
    );
  }
});
