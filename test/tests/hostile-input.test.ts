// Hostile peers against the system as the start command runs it (demo VM, one control page
// playing): garbage and absurd-valued protobuf on every subject a service subscribes to, then a
// burst of 20,000 messages; WebSocket garbage, 1 MB frames, bad tokens and 500 connections at once;
// malformed SDP and giant bodies to WHEP; DataChannel garbage from the page. Afterwards every
// service runs under the same pid, QEMU runs, the page plays and a key still reaches the guest,
// and what was dropped is counted by reason in each service's /metrics.
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import type { Page } from 'playwright-core';
import { subjects, type StreamKey } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  guestStatusInPage,
  launchWebrtcChromium,
  metricSamples,
  metricValue,
  openPlayer,
  processAlive,
  scrapeMetrics,
  type GuestStatus,
  type PlayerHooks,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';
import { connectSystemBus } from '../harness/system-bus.js';

const v1 = qemu_webrtc.v1;
const VM_ID = 'hostile';
const CONTROL = 'hostile-input-control-token';
const STREAM: StreamKey = { vmId: VM_ID, consoleId: 0, rendition: 'full' };
const U32 = 2 ** 32 - 1;
const SERVICES = ['capture', 'encoder', 'input', 'signaling'] as const;
/** Everything start.mjs runs: none may have been restarted at the end. */
const CHILDREN = ['nats', 'dbus', 'demo-vm', ...SERVICES];
/** Unauthenticated WebSockets signaling holds at once, at most, whatever is asked of it. */
const PENDING_SOCKETS_BOUND = 100;
/** What the whole system may print while all of this goes on (warnings are rate-limited). */
const LOG_BOUND_BYTES = 64 * 1024;

// --- a raw WebSocket client: what a hostile peer sends need not be what a library allows ---

interface RawWs {
  socket: Socket;
  /** Resolves when the server closes the connection (with the close code it sent, if any). */
  closed: Promise<number | undefined>;
}

/** One client frame (masked, as RFC 6455 wants from clients). */
function wsFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.byteLength;
  const head =
    len < 126
      ? Buffer.from([0x80 | opcode, 0x80 | len])
      : len < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), bigLength(len)]);
  const mask = randomBytes(4);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = (payload[i] ?? 0) ^ (mask[i & 3] ?? 0);
  return Buffer.concat([head, mask, body]);
}

function bigLength(len: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(len));
  return b;
}

/** Opens /ws with a plain HTTP upgrade; rejects unless the server switches protocols. */
function openRawWs(port: number): Promise<RawWs> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    let head = Buffer.alloc(0);
    let upgraded = false;
    let closeCode: number | undefined;
    let closedBy: ((code: number | undefined) => void) | undefined;
    // Closed: a close frame came (the server then waits for ours), or the connection ended.
    const closed = new Promise<number | undefined>((res) => {
      closedBy = res;
      socket.once('close', () => res(closeCode));
    });
    // The server's frames (unmasked), read as they come: a close frame (opcode 8) ends it.
    let frames = Buffer.alloc(0);
    const closeFrame = (chunk: Buffer): void => {
      frames = Buffer.concat([frames, chunk]);
      for (;;) {
        if (frames.byteLength < 2) return;
        const opcode = (frames[0] ?? 0) & 0x0f;
        let len = (frames[1] ?? 0) & 0x7f;
        let at = 2;
        if (len === 126) {
          if (frames.byteLength < 4) return;
          len = frames.readUInt16BE(2);
          at = 4;
        } else if (len === 127) {
          if (frames.byteLength < 10) return;
          len = Number(frames.readBigUInt64BE(2));
          at = 10;
        }
        if (frames.byteLength < at + len) return;
        if (opcode === 8) {
          closeCode = len >= 2 ? frames.readUInt16BE(at) : undefined;
          closedBy?.(closeCode);
        }
        frames = frames.subarray(at + len);
      }
    };
    socket.on('error', (e) => {
      if (!upgraded) reject(e);
    });
    socket.once('connect', () => {
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      if (upgraded) {
        closeFrame(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = head.subarray(0, head.indexOf('\r\n')).toString();
      if (!/^HTTP\/1\.1 101/.test(status)) {
        socket.destroy();
        reject(new Error(`no upgrade: ${status}`));
        return;
      }
      upgraded = true;
      resolve({ socket, closed });
      closeFrame(head.subarray(end + 4));
    });
  });
}

/** Sends `data` on a fresh socket and waits (up to 5 s) for the server to close it. */
async function sendAndAwaitClose(port: number, data: Buffer): Promise<number | undefined | 'open'> {
  const ws = await openRawWs(port);
  ws.socket.write(data);
  const timeout = new Promise<'open'>((r) => setTimeout(() => r('open'), 5000).unref());
  const result = await Promise.race([ws.closed, timeout]);
  ws.socket.destroy();
  return result;
}

// --- bus messages ---

/** Numbers outside protobuf enums, on purpose: a peer can put any varint there. */
const BAD_FORMAT = 99 as unknown as qemu_webrtc.v1.PixelFormat;
const BAD_PHASE = 99 as unknown as qemu_webrtc.v1.TouchPhase;

const enc = <I>(codec: { encode(m: I): { finish(): Uint8Array } }, m: I): Uint8Array =>
  codec.encode(m).finish();

/** Bytes that are no protobuf of anything (or of something absurd). */
function garbage(): Uint8Array[] {
  return [
    new Uint8Array(0),
    randomBytes(1),
    randomBytes(64),
    Buffer.alloc(200, 0xff),
    Buffer.from('{"json":"not protobuf"}'),
    // A length-delimited field claiming 2 GB.
    Buffer.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x07, 0x01]),
    // Deep nesting: group starts without end.
    Buffer.alloc(10_000, 0x0b),
    randomBytes(4 * 1024 * 1024),
  ];
}

function absurdFrames(ringName: string, ringGeneration: number): Uint8Array[] {
  const base = {
    vmId: VM_ID,
    consoleId: 0,
    width: 640,
    height: 480,
    stride: 2560,
    format: v1.PixelFormat.PIXEL_FORMAT_BGRX,
    sequence: 1,
  };
  return [
    { ...base, ringName: '../../../../etc/passwd', ringGeneration },
    { ...base, ringName: '..', ringGeneration },
    { ...base, ringName: 'a/../../b', ringGeneration },
    { ...base, ringName: '/dev/zero', ringGeneration },
    { ...base, ringName: 'x'.repeat(100_000), ringGeneration },
    { ...base, ringName, ringGeneration, slot: U32 },
    { ...base, ringName, ringGeneration, slot: 1000 },
    { ...base, ringName, ringGeneration: U32, slot: 0 },
    { ...base, ringName, ringGeneration, slot: 0, width: U32, height: U32, stride: U32 },
    { ...base, ringName, ringGeneration, slot: 0, width: 16384, height: 16384, stride: 65536 },
    { ...base, ringName, ringGeneration, slot: 0, format: BAD_FORMAT },
    { ...base, ringName, ringGeneration, slot: 0, sequence: Number.MAX_SAFE_INTEGER },
    {
      ...base,
      ringName,
      ringGeneration,
      slot: 0,
      damage: Array.from({ length: 1000 }, () => ({ x: U32, y: U32, width: U32, height: U32 })),
    },
  ].map((f) => enc(v1.FrameReady, f));
}

function absurdConsoles(): Uint8Array[] {
  return [
    { vmId: VM_ID, consoleId: 0, graphic: true, enabled: true, width: U32, height: U32, touchMaxSlots: U32 },
    { vmId: VM_ID, consoleId: 0, graphic: true, enabled: true, label: 'x'.repeat(200_000) },
    { vmId: VM_ID, consoleId: 0, graphic: true, enabled: true, vmName: '\u0000'.repeat(1000) },
  ].map((c) => enc(v1.ConsoleInfo, c));
}

function absurdStreams(): qemu_webrtc.v1.IStreamId[] {
  return [
    STREAM,
    { vmId: '../../etc', consoleId: 0, rendition: 'full' },
    { vmId: VM_ID, consoleId: U32, rendition: 'full' },
    { vmId: VM_ID, consoleId: 0, rendition: 'x'.repeat(10_000) },
    {},
  ];
}

function absurdEncoderMessages(): { subject: string; data: Uint8Array }[] {
  const out: { subject: string; data: Uint8Array }[] = [];
  for (const stream of absurdStreams()) {
    out.push({
      subject: subjects.keyframeRequest(STREAM),
      data: enc(v1.KeyframeRequest, { stream, reason: 'x'.repeat(10_000) }),
    });
    for (const [bitrateBps, maxFps] of [
      [U32, U32],
      [0, 0],
      [1, U32],
    ] as const)
      out.push({
        subject: subjects.encoderControl(STREAM),
        data: enc(v1.EncoderControl, { stream, bitrateBps, maxFps }),
      });
    out.push({
      subject: subjects.streamClaims,
      data: enc(v1.StreamClaim, {
        stream,
        encoderId: 'x'.repeat(10_000),
        epoch: U32,
        sentUs: Number.MAX_SAFE_INTEGER,
      }),
    });
  }
  out.push({
    subject: subjects.encoderHeartbeat,
    data: enc(v1.EncoderHeartbeat, {
      encoderId: 'hostile-hb',
      sentUs: Date.now() * 1000,
      streams: Array.from({ length: 20_000 }, (_, i) => ({ vmId: `v${i}`, consoleId: i, rendition: 'full' })),
      renditions: [
        { name: 'full', scale: Number.NaN, bitrateBps: U32 },
        { name: '../x', scale: -1, bitrateBps: 0 },
        { name: 'big', scale: 1e308, bitrateBps: 1 },
      ],
      cpuFraction: Number.POSITIVE_INFINITY,
    }),
  });
  out.push({
    subject: subjects.encoderHeartbeat,
    data: enc(v1.EncoderHeartbeat, { encoderId: '', sentUs: 0 }),
  });
  return out;
}

function absurdAccessUnits(): Uint8Array[] {
  return [
    {
      stream: STREAM,
      data: randomBytes(6 * 1024 * 1024),
      keyframe: true,
      encoderId: 'hostile',
      epoch: 1,
      width: U32,
      height: U32,
    },
    { stream: STREAM, data: new Uint8Array(0), encoderId: '', epoch: 0, sequence: Number.MAX_SAFE_INTEGER },
    { stream: { vmId: '..' }, data: randomBytes(100), epoch: U32 },
  ].map((f) => enc(v1.EncodedFrame, f));
}

function absurdCursors(): { subject: string; data: Uint8Array }[] {
  const shape = subjects.cursorShape(VM_ID, 0);
  const pos = subjects.cursorPosition(VM_ID, 0);
  return [
    {
      subject: shape,
      data: enc(v1.CursorShape, { vmId: VM_ID, width: U32, height: U32, pixels: randomBytes(16) }),
    },
    {
      subject: shape,
      data: enc(v1.CursorShape, { vmId: VM_ID, width: 65537, height: 1, pixels: randomBytes(64) }),
    },
    {
      subject: shape,
      data: enc(v1.CursorShape, { vmId: VM_ID, width: 1024, height: 1024, pixels: randomBytes(4 << 20) }),
    },
    {
      subject: shape,
      data: enc(v1.CursorShape, {
        vmId: VM_ID,
        width: 16,
        height: 16,
        hotX: -(2 ** 31),
        hotY: 2 ** 31 - 1,
        pixels: randomBytes(4),
      }),
    },
    {
      subject: pos,
      data: enc(v1.CursorPosition, { vmId: VM_ID, x: 2 ** 31 - 1, y: -(2 ** 31), visible: true }),
    },
    { subject: pos, data: enc(v1.CursorPosition, { vmId: 'other', consoleId: 9, x: -1, y: -1 }) },
  ];
}

/** InputEvents no QEMU should see: buttons 9, 10 and 2^32-1 abort it (field notes), and the like. */
function absurdInputs(): Uint8Array[] {
  const base = { vmId: VM_ID, consoleId: 0, viewerId: 'hostile-viewer' };
  let sequence = 1;
  const ev = (e: qemu_webrtc.v1.IInputEvent): Uint8Array =>
    enc(v1.InputEvent, { ...base, sequence: sequence++, ...e });
  return [
    ...[9, 10, U32, 2 ** 31].flatMap((button) => [
      ev({ button: { button, down: true } }),
      ev({ button: { button, down: false } }),
    ]),
    ...[
      [1e9, 1e9],
      [-1e9, -1e9],
      [Number.NaN, 0],
      [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
      [U32, U32],
    ].flatMap(([x, y]) => [
      ev({ move: { x, y } }),
      ev({ relative: { dx: x, dy: y } }),
      ev({ wheel: { dx: x, dy: y } }),
      ev({ touch: { slot: 0, phase: v1.TouchPhase.TOUCH_PHASE_BEGIN, x, y } }),
    ]),
    ev({ touch: { slot: U32, phase: v1.TouchPhase.TOUCH_PHASE_BEGIN, x: 1, y: 1 } }),
    ev({ touch: { slot: 0, phase: BAD_PHASE, x: 1, y: 1 } }),
    // The wire names keys by KeyboardEvent.code; a qnum such as 0xFFFF cannot be named, only codes
    // that map to nothing.
    ...['0xFFFF', '65535', 'Unidentified', '__proto__', 'constructor', 'Key\u0000', 'x'.repeat(100_000)].map(
      (code) => ev({ key: { code, down: true } }),
    ),
    ev({ consoleId: U32, key: { code: 'KeyA', down: true } }),
    ev({ vmId: '../../etc', key: { code: 'KeyA', down: true } }),
    ev({ viewerId: '', key: { code: 'KeyA', down: true } }),
    ev({ viewerId: 'v'.repeat(100_000), key: { code: 'KeyA', down: true } }),
    ev({ sequence: Number.MAX_SAFE_INTEGER + 2, key: { code: 'KeyA', down: true } }),
    ev({ key: { code: 'KeyA', down: true }, button: { button: 0, down: true } }),
    ev({}),
  ];
}

async function dropsByReason(port: number): Promise<string[]> {
  const text = await scrapeMetrics(port);
  const names = new Set(
    text
      .split('\n')
      .map((l) => /^(\w+_(?:dropped|rejected|skipped|refused)_total)[{ ]/.exec(l)?.[1])
      .filter((n): n is string => n !== undefined),
  );
  return [...names].flatMap((n) =>
    metricSamples(text, n)
      .filter((s) => s.value > 0)
      .map((s) => `${n}${s.labels} ${s.value}`),
  );
}

test('hostile bus messages, sockets, WHEP requests and DataChannel input: nothing restarts, the page plays', async (t) => {
  const system = await StartedSystem.start(['--vm-id', VM_ID, '--demo-size', '640x480', ...FREE_PORT_ARGS], {
    env: { SIGNALING_TOKENS: `${CONTROL}:control`, LOG_LEVEL: 'warn' },
    timeoutMs: 120_000,
  });
  t.after(() => system.stop());
  const nc: NatsConnection = await connectSystemBus(system, 'hostile');
  t.after(() => nc.close());
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);
  const pids = new Map(CHILDREN.map((n) => [n, system.pidOf(n)]));
  for (const [n, pid] of pids) assert.ok(pid !== undefined, `${n} runs`);
  const httpPort = Number(new URL(system.baseUrl).port);
  const logged: Buffer[] = [];
  system.process.child.stdout?.on('data', (b: Buffer) => logged.push(b));
  system.process.child.stderr?.on('data', (b: Buffer) => logged.push(b));

  const guest = (
    p: Page,
    what: string,
    accept: (s: GuestStatus) => boolean = () => true,
  ): Promise<GuestStatus> => guestStatusInPage(p, what, { accept, timeoutMs: 30_000, intervalMs: 100 });
  /** The page shows newer guest frames than it did, and a key typed in it reaches the guest. */
  async function stillPlays(after: string): Promise<void> {
    const a = await guest(page, `the guest after ${after}`);
    await guest(page, `new frames after ${after}`, (s) => s.frame > a.frame);
    await page.waitForFunction(() => (window as PlayerHooks).qemuWebrtc?.inputOpen === true, undefined, {
      timeout: 30_000,
    });
    const before = await guest(page, 'the guest');
    await page.focus('#stage');
    await page.keyboard.press('KeyA');
    await guest(
      page,
      `a key after ${after}`,
      (s) => s.presses === (before.presses + 1) % 65536 && s.scancode === 0x1e,
    );
  }
  await stillPlays('start');

  // The real ring's name, from a real FrameReady (a forger on the bus reads them too).
  const real = await new Promise<qemu_webrtc.v1.FrameReady>((resolve) => {
    const sub = nc.subscribe(subjects.frameReady(VM_ID, 0), {
      callback: (_e, m) => {
        sub.unsubscribe();
        resolve(v1.FrameReady.decode(m.data));
      },
    });
  });

  await t.test('garbage and absurd values on every subject a service subscribes to', async () => {
    const onEvery: string[] = [
      subjects.consoleRefresh, // capture
      subjects.frameReady(VM_ID, 0), // encoder
      subjects.consoleInfo(VM_ID, 0), // encoder, signaling
      subjects.keyframeRequest(STREAM), // encoder
      subjects.encoderControl(STREAM), // encoder
      subjects.encoderHeartbeat, // encoder, signaling
      subjects.streamClaims, // encoder, signaling
      subjects.encoded(STREAM), // signaling
      subjects.cursorShape(VM_ID, 0), // signaling
      subjects.cursorPosition(VM_ID, 0), // signaling
      subjects.input(VM_ID), // input
    ];
    for (const subject of onEvery) for (const data of garbage()) nc.publish(subject, data);
    for (const data of absurdFrames(real.ringName, real.ringGeneration))
      nc.publish(subjects.frameReady(VM_ID, 0), data);
    for (const data of absurdConsoles()) nc.publish(subjects.consoleInfo(VM_ID, 0), data);
    for (const m of absurdEncoderMessages()) nc.publish(m.subject, m.data);
    for (const data of absurdAccessUnits()) nc.publish(subjects.encoded(STREAM), data);
    for (const m of absurdCursors()) nc.publish(m.subject, m.data);
    for (const data of absurdInputs()) nc.publish(subjects.input(VM_ID), data);
    await nc.flush();
    await stillPlays('absurd bus messages');
  });

  await t.test('a burst of 20,000 bus messages', async () => {
    const inputs = absurdInputs();
    const frames = absurdFrames(real.ringName, real.ringGeneration);
    const junk = garbage().slice(0, 6);
    const t0 = Date.now();
    for (let i = 0; i < 20_000; i++) {
      switch (i % 8) {
        case 0:
        case 1:
          nc.publish(subjects.input(VM_ID), inputs[i % inputs.length]);
          break;
        case 2:
          nc.publish(subjects.frameReady(VM_ID, 0), frames[i % frames.length]);
          break;
        case 3:
          // Valid (empty) refresh requests: a flood of them must share answers. Ones with a body
          // (the garbage above) are dropped outright.
          if (i % 16 === 3) nc.publish(subjects.consoleRefresh, junk[i % junk.length]);
          else nc.publish(subjects.consoleRefresh);
          break;
        case 4:
          nc.publish(
            subjects.keyframeRequest(STREAM),
            enc(v1.KeyframeRequest, { stream: STREAM, reason: 'burst' }),
          );
          break;
        case 5:
          nc.publish(
            subjects.cursorPosition(VM_ID, 0),
            enc(v1.CursorPosition, { vmId: VM_ID, x: i, y: i, visible: true }),
          );
          break;
        case 6:
          nc.publish(subjects.encoded(STREAM), junk[i % junk.length]);
          break;
        default:
          nc.publish(subjects.encoderHeartbeat, junk[i % junk.length]);
      }
      if (i % 1000 === 999) await nc.flush();
    }
    await nc.flush();
    t.diagnostic(`20,000 messages published in ${Date.now() - t0} ms`);
    await stillPlays('the burst');
  });

  await t.test('WebSocket garbage, 1 MB frames, bad tokens', async () => {
    const outcomes: string[] = [];
    const cases: [string, Buffer][] = [
      ['bytes that are no WebSocket frame', randomBytes(4096)],
      ['a binary frame', wsFrame(2, randomBytes(1000))],
      ['text that is no JSON', wsFrame(1, Buffer.from('\u0000not json{'))],
      ['a 1 MB text frame', wsFrame(1, Buffer.alloc(1_000_000, 0x61))],
      ['a frame over 1 MiB', wsFrame(1, Buffer.alloc(1024 * 1024 + 1, 0x61))],
      ['a frame claiming 2^62 bytes', Buffer.from([0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])],
      ['a wrong token', wsFrame(1, Buffer.from(JSON.stringify({ type: 'auth', token: 'wrong' })))],
      ['an empty token', wsFrame(1, Buffer.from(JSON.stringify({ type: 'auth', token: '' })))],
      [
        'a 300-character token',
        wsFrame(1, Buffer.from(JSON.stringify({ type: 'auth', token: 'x'.repeat(300) }))),
      ],
      [
        'watch before auth',
        wsFrame(1, Buffer.from(JSON.stringify({ type: 'watch', vm: VM_ID, console: 0 }))),
      ],
    ];
    for (const [what, data] of cases) {
      const code = await sendAndAwaitClose(httpPort, data);
      outcomes.push(
        `${what}: ${code === 'open' ? 'still open after 5 s' : `closed (${code ?? 'no close frame'})`}`,
      );
      assert.notEqual(code, 'open', `${what}: the server closes the socket`);
    }
    // A valid token, then a flood of bad messages: errors, then the server closes.
    const ws = await openRawWs(httpPort);
    ws.socket.write(wsFrame(1, Buffer.from(JSON.stringify({ type: 'auth', token: CONTROL }))));
    for (let i = 0; i < 300; i++)
      ws.socket.write(wsFrame(1, Buffer.from(`{"type":"watch","vm":"${'.'.repeat(i)}"}`)));
    const code = await Promise.race([
      ws.closed,
      new Promise<'open'>((r) => setTimeout(() => r('open'), 10_000)),
    ]);
    ws.socket.destroy();
    outcomes.push(
      `a valid token then 300 bad messages: ${code === 'open' ? 'still open' : `closed (${code ?? '-'})`}`,
    );
    assert.notEqual(code, 'open');
    t.diagnostic(outcomes.join('; '));
  });

  await t.test('500 WebSocket connections at once are bounded', async () => {
    const opened = await Promise.allSettled(Array.from({ length: 500 }, () => openRawWs(httpPort)));
    const sockets = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    // Give the server a moment to close what it will not keep.
    await new Promise((r) => setTimeout(r, 2000));
    const stillOpen = sockets.filter((s) => !s.socket.destroyed && s.socket.readyState === 'open');
    let serverClosed = 0;
    for (const s of sockets) if (s.socket.closed || s.socket.readableEnded) serverClosed++;
    t.diagnostic(
      `500 connections: ${sockets.length} upgraded, ${opened.length - sockets.length} refused before the upgrade, ` +
        `${stillOpen.length} still open after 2 s, ${serverClosed} closed by the server`,
    );
    assert.ok(
      stillOpen.length <= PENDING_SOCKETS_BOUND,
      `signaling holds at most ${PENDING_SOCKETS_BOUND} unauthenticated sockets, held ${stillOpen.length}`,
    );
    for (const s of sockets) s.socket.destroy();
    await stillPlays('500 connections');
  });

  await t.test('malformed SDP and giant bodies to WHEP', async () => {
    const whep = `${system.baseUrl}/whep/${VM_ID}/0`;
    const auth = { authorization: `Bearer ${CONTROL}` };
    const sdp = { ...auth, 'content-type': 'application/sdp' };
    const answers: string[] = [];
    const ask = async (what: string, url: string, init: RequestInit): Promise<number> => {
      const res = await fetch(url, init).catch((e: unknown) => e as Error);
      const status = res instanceof Error ? `connection ended (${res.message})` : res.status;
      if (!(res instanceof Error)) await res.arrayBuffer().catch(() => undefined);
      answers.push(`${what}: ${status}`);
      return typeof status === 'number' ? status : 0;
    };
    const giant = Buffer.alloc(20 * 1024 * 1024, 0x61);
    const cases: [string, string, RequestInit, (s: number) => boolean][] = [
      [
        'garbage SDP',
        whep,
        { method: 'POST', headers: sdp, body: 'v=0\r\nthis is no sdp\r\n' },
        (s) => s === 400 || s === 406,
      ],
      ['an empty offer', whep, { method: 'POST', headers: sdp, body: '' }, (s) => s >= 400 && s < 500],
      [
        'an offer without video',
        whep,
        {
          method: 'POST',
          headers: sdp,
          body: 'v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n',
        },
        (s) => s >= 400 && s < 500,
      ],
      [
        'binary garbage',
        whep,
        { method: 'POST', headers: sdp, body: randomBytes(10_000) },
        (s) => s >= 400 && s < 500,
      ],
      ['a 20 MB offer', whep, { method: 'POST', headers: sdp, body: giant }, (s) => s === 413 || s === 0],
      [
        'a 20 MB offer without a token',
        whep,
        { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: giant },
        // Its size is refused before its token is read (a readable 413, src/oversized-body.ts).
        (s) => s === 401 || s === 413 || s === 0,
      ],
      [
        'a 20 MB JSON body',
        whep,
        { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: giant },
        (s) => s === 415 || s === 413 || s === 0,
      ],
      [
        'a bad token',
        whep,
        {
          method: 'POST',
          headers: { authorization: 'Bearer nope', 'content-type': 'application/sdp' },
          body: 'v=0',
        },
        (s) => s === 401,
      ],
      [
        'PATCH of no session, 20 MB',
        `${system.baseUrl}/whep/session/nope`,
        {
          method: 'PATCH',
          headers: { ...auth, 'content-type': 'application/trickle-ice-sdpfrag' },
          body: giant,
        },
        (s) => s === 413 || s === 404 || s === 0,
      ],
      [
        'DELETE of ../../',
        `${system.baseUrl}/whep/session/..%2F..%2F`,
        { method: 'DELETE', headers: auth },
        (s) => s === 404,
      ],
    ];
    for (const [what, url, init, ok] of cases) {
      const status = await ask(what, url, init);
      assert.ok(ok(status), `${what}: answered ${status}`);
    }
    t.diagnostic(answers.join('; '));
    const health = await fetch(`${system.baseUrl}/health`);
    assert.equal(health.status, 200, 'signaling is up');
  });

  await t.test('DataChannel garbage from the page', async () => {
    const raw = [
      'not json',
      '',
      '{}',
      '[]',
      'null',
      '{"t":"key"}',
      JSON.stringify({ t: 'key', code: 'x'.repeat(600), down: true }),
      JSON.stringify({ t: 'key', code: '0xFFFF', down: true }),
      JSON.stringify({ t: 'key', code: '__proto__', down: true }),
      ...[9, 10, U32, -1, 0.5].map((button) => JSON.stringify({ t: 'button', button, down: true })),
      JSON.stringify({ t: 'move', x: 1e9, y: -1e9 }),
      JSON.stringify({ t: 'rel', dx: 1e300, dy: 0 }),
      JSON.stringify({ t: 'touch', slot: U32, phase: 'begin', x: 1, y: 1 }),
      JSON.stringify({ t: 'touch', slot: 0, phase: 'explode', x: 1, y: 1 }),
      '{"t":"move","x":1,"y":1,"__proto__":{"polluted":true}}',
      '['.repeat(500),
    ];
    await page.evaluate((msgs) => {
      const hooks = (window as PlayerHooks).qemuWebrtc;
      for (const m of msgs) hooks?.sendRaw(m);
      // A flood past the rate limit: pointer motion is coalesced, never rate-limited, so the flood
      // is of key releases (of a key nobody holds: nothing changes in the guest).
      for (let i = 0; i < 3000; i++) hooks?.sendRaw('{"t":"key","code":"KeyQ","down":false}');
      for (let i = 0; i < 3000; i++) hooks?.sendRaw('{"t":"move","x":1,"y":1}');
    }, raw);
    // The flood's bucket refills in about a second.
    await new Promise((r) => setTimeout(r, 1500));
    await stillPlays('DataChannel garbage');
  });

  // Afterwards: nothing restarted, QEMU runs, every drop counted by reason.
  for (const [name, pid] of pids) {
    assert.equal(system.pidOf(name), pid, `${name} runs under the same pid`);
    assert.ok(pid !== undefined && processAlive(pid), `${name} (${pid}) is alive`);
  }
  assert.deepEqual(
    system.events.filter((e) => e.event === 'exited'),
    [],
    'nothing exited',
  );
  const log = Buffer.concat(logged);
  if (process.env.HOSTILE_LOG) (await import('node:fs')).writeFileSync(process.env.HOSTILE_LOG, log);
  t.diagnostic(`the system printed ${log.byteLength} bytes during all of it`);
  assert.ok(log.byteLength < LOG_BOUND_BYTES, `bad input is logged rate-limited: ${log.byteLength} bytes`);
  const drops: Record<string, string[]> = {};
  for (const s of SERVICES) drops[s] = await dropsByReason(system.ready.metricsPorts[s]);
  for (const [s, lines] of Object.entries(drops)) t.diagnostic(`${s} drops: ${lines.join(', ') || 'none'}`);
  const has = (service: string, pattern: RegExp): boolean =>
    (drops[service] ?? []).some((l) => pattern.test(l));
  assert.ok(has('input', /input_events_dropped_total\{reason="bad_button"\}/), 'input counted bad buttons');
  assert.ok(has('input', /reason="undecodable"/), 'input counted undecodable events');
  assert.ok(has('input', /reason="(out_of_range|bad_number)"/), 'input counted absurd positions');
  assert.ok(
    has('encoder', /encoder_messages_rejected_total\{reason="bad_message"\}/),
    'encoder counted garbage',
  );
  assert.ok(has('encoder', /encoder_frames_dropped_total/), 'encoder counted absurd frames');
  assert.ok(
    has('signaling', /signaling_rejected_total\{reason="unauthorized"\}/),
    'signaling counted bad tokens',
  );
  assert.ok(has('signaling', /signaling_rejected_total\{reason="bad_sdp"\}/), 'signaling counted bad SDP');
  assert.ok(
    has('signaling', /signaling_rejected_total\{reason="bad_encoded_frame"\}/),
    'signaling counted garbage AUs',
  );
  const captureText = await scrapeMetrics(system.ready.metricsPorts.capture);
  const refreshes = metricSamples(captureText, 'capture_refresh_requests_total');
  t.diagnostic(`capture refresh requests: ${refreshes.map((s) => `${s.labels} ${s.value}`).join(', ')}`);
  assert.ok(
    metricValue(captureText, 'capture_refresh_requests_total', '{outcome="coalesced"}') > 0,
    'a flood of refresh requests shares answers',
  );
  const dc = metricSamples(
    await scrapeMetrics(system.ready.metricsPorts.signaling),
    'signaling_input_events_total',
  );
  t.diagnostic(`signaling DataChannel input: ${dc.map((s) => `${s.labels} ${s.value}`).join(', ')}`);
  assert.ok(
    dc.some((s) => s.labels.includes('malformed') && s.value > 0),
    'malformed DataChannel input counted',
  );
  assert.ok(
    dc.some((s) => s.labels.includes('rate_limited') && s.value > 0),
    'a DataChannel flood counted',
  );
});
