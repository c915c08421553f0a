// Every message of the contract survives encode -> decode with every field set, and garbage is
// rejected with an error rather than decoded into nonsense.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemu_webrtc } from '@qemu-webrtc/proto';

const v1 = qemu_webrtc.v1;

interface Codec {
  encode(m: object): { finish(): Uint8Array };
  decode(b: Uint8Array): { toJSON(): Record<string, unknown> };
  fromObject(o: Record<string, unknown>): { toJSON(): Record<string, unknown> };
}

const stream = { vmId: 'vm-1', consoleId: 2, rendition: 'full' };
const samples: Record<string, Record<string, unknown>> = {
  ConsoleInfo: {
    vmId: 'vm-1',
    consoleId: 1,
    label: 'VGA',
    width: 1920,
    height: 1080,
    graphic: true,
    hasKeyboard: true,
    hasMouse: true,
    hasMultitouch: true,
    mouseIsAbsolute: true,
    touchMaxSlots: 10,
    enabled: true,
    vmUuid: '0f8fad5b-d9cb-469f-a165-70867728950e',
    vmName: 'demo',
    hasAudio: true,
  },
  AudioFormat: {
    bits: 16,
    isSigned: true,
    isFloat: false,
    rate: 44100,
    channels: 2,
    bytesPerFrame: 4,
    bigEndian: false,
  },
  AudioChunk: {
    vmId: 'vm-1',
    voice: 94_339_721_343_584,
    format: {
      bits: 32,
      isSigned: true,
      isFloat: true,
      rate: 48000,
      channels: 1,
      bytesPerFrame: 4,
      bigEndian: true,
    },
    data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
    ptsUs: 1_763_700_000_000_000,
    sequence: 2 ** 40 + 1,
  },
  OpusPacket: {
    vmId: 'vm-1',
    data: new Uint8Array([0xfc, 0xff, 0xfe]),
    ptsUs: 1_763_700_000_020_000,
    samples: 960,
    channels: 2,
    encoderId: 'enc-1',
    sequence: 12,
  },
  Rect: { x: 1, y: 2, width: 3, height: 4 },
  FrameReady: {
    vmId: 'vm-1',
    consoleId: 0,
    ringName: 'qw-vm-1-0',
    ringGeneration: 3,
    slot: 2,
    sequence: 2 ** 40 + 7,
    width: 1280,
    height: 720,
    stride: 5120,
    format: v1.PixelFormat.PIXEL_FORMAT_BGRX,
    damage: [
      { x: 0, y: 0, width: 16, height: 16 },
      { x: 100, y: 200, width: 300, height: 1 },
    ],
    qemuReceivedUs: 1_763_700_000_000_000,
    publishedUs: 1_763_700_000_000_123,
    topDown: true,
  },
  CursorShape: {
    vmId: 'vm-1',
    consoleId: 0,
    width: 2,
    height: 1,
    hotX: -1,
    hotY: 1,
    pixels: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
    serial: 9,
  },
  CursorPosition: { vmId: 'vm-1', consoleId: 0, x: -5, y: 700, visible: true },
  StreamId: stream,
  EncodedFrame: {
    stream,
    data: new Uint8Array([0, 0, 0, 1, 0x65, 0x88]),
    ptsUs: 1_763_700_000_000_000,
    keyframe: true,
    sourceSequence: 41,
    width: 1023,
    height: 767,
    qemuReceivedUs: 1,
    capturedUs: 2,
    encodeStartedUs: 3,
    encodedUs: 4,
    encoderId: 'enc-a',
    epoch: 5,
    sequence: 6,
  },
  KeyframeRequest: { stream, requester: 'viewer-7', reason: 'pli' },
  EncoderControl: { stream, bitrateBps: 4_000_000, maxFps: 30 },
  StreamClaim: { stream, encoderId: 'enc-a', epoch: 3, released: true, sentUs: 1_763_700_000_000_000 },
  StreamDemand: { stream, consumer: 'signaling-host-1234', ttlMs: 7000, released: true },
  EncoderHeartbeat: {
    encoderId: 'enc-a',
    streams: [stream, { ...stream, rendition: 'half' }],
    cpuFraction: 0.25,
    framesEncoded: 1000,
    sentUs: 17,
    leaving: true,
    renditions: [
      { name: 'full', scale: 1, bitrateBps: 12_000_000 },
      { name: 'half', scale: 0.5, bitrateBps: 3_000_000 },
    ],
  },
  RenditionSpec: { name: 'quarter', scale: 0.25, bitrateBps: 800_000 },
  KeyEvent: { code: 'KeyA', down: true },
  PointerMove: { x: 10.5, y: 719 },
  PointerRelative: { dx: -3, dy: 4.25 },
  PointerButton: { button: 2, down: true },
  Wheel: { dx: 0.5, dy: -120 },
  Touch: { slot: 3, phase: v1.TouchPhase.TOUCH_PHASE_UPDATE, x: 1, y: 2 },
  ReleaseAll: {},
  UiInfo: { width: 1600, height: 870, widthMm: 423, heightMm: 230 },
  UiInfoResult: {
    vmId: 'vm-1',
    consoleId: 1,
    viewerId: 'viewer-7',
    sequence: 42,
    outcome: v1.UiInfoOutcome.UI_INFO_OUTCOME_IGNORED,
    width: 1600,
    height: 870,
    consoleWidth: 1280,
    consoleHeight: 720,
  },
  InputEvent: {
    vmId: 'vm-1',
    consoleId: 0,
    viewerId: 'viewer-7',
    sequence: 99,
    clientTimeMs: 12345.678,
    receivedUs: 1_763_700_000_000_000,
    key: { code: 'ShiftLeft', down: false },
  },
  SerialData: {
    vmId: 'vm-1',
    chardev: 'ser0',
    epoch: 12345,
    offset: 300_000,
    data: Buffer.from([0, 1, 0xff, 0x0d, 0x0a]).toString('base64'),
    replayId: 9,
    lost: 44,
  },
  SerialInput: {
    vmId: 'vm-1',
    chardev: 'ser0',
    viewerId: 'ws-abc',
    data: Buffer.from('ls\r').toString('base64'),
  },
  SerialReplay: { vmId: 'vm-1', chardev: 'ser0', replayId: 9, epoch: 12345, fromOffset: 1024 },
  SerialChardev: {
    chardev: 'ser0',
    name: 'org.qemu.console.serial.0',
    connected: true,
    feOpened: true,
    epoch: 12345,
    endOffset: 300_005,
    problem: 'QEMU closed the stream',
    inputDropped: 7,
  },
  SerialState: { vmId: 'vm-1', qemuUp: true, chardevs: [{ chardev: 'ser0', connected: true }] },
};

function codecOf(name: string): Codec {
  return (v1 as unknown as Record<string, Codec>)[name] as Codec;
}

test('every message type in qemu_webrtc.v1 has a round-trip sample', () => {
  const messageTypes = Object.entries(v1)
    .filter(([, value]) => typeof value === 'function' && 'decode' in value)
    .map(([name]) => name)
    .sort();
  assert.deepEqual(messageTypes, Object.keys(samples).sort());
});

for (const [name, sample] of Object.entries(samples)) {
  test(`${name} round-trips with every field set`, () => {
    const codec = codecOf(name);
    const expected = codec.fromObject(sample).toJSON();
    const bytes = codec.encode(codec.fromObject(sample)).finish();
    const decoded = codec.decode(bytes).toJSON();
    assert.deepEqual(decoded, expected);
    for (const key of Object.keys(sample)) assert.ok(key in decoded, `${name}.${key} survives`);
  });
}

test('the oneof of InputEvent keeps exactly the event that was set', () => {
  const bytes = v1.InputEvent.encode({ viewerId: 'v', wheel: { dy: 3 } }).finish();
  const decoded = v1.InputEvent.decode(bytes);
  assert.equal(decoded.event, 'wheel');
  assert.equal(decoded.wheel?.dy, 3);
  assert.equal(decoded.key, null);
});

test('garbage and truncated messages are rejected, not decoded', () => {
  const frame = v1.FrameReady.encode(v1.FrameReady.fromObject(samples.FrameReady ?? {})).finish();
  assert.throws(() => v1.FrameReady.decode(frame.subarray(0, frame.length - 3)), RangeError);
  assert.throws(() => v1.EncodedFrame.decode(new Uint8Array([0x12, 0xff, 0xff, 0xff, 0x0f])), RangeError);
});
