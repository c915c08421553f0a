// Capture against QemuDisplayDouble (the test kit), which plays QEMU's side of the D-Bus display where
// real QEMU cannot run here: gl=on needs a GPU render node. The DMA-BUFs are memfds, which Mesa's
// llvmpipe imports as LINEAR buffers on the surfaceless platform (see egl-import.test.ts). The same
// double also drives the inline and Unix.Map paths with exact, known pixels and malformed calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ftruncateSync, writeSync } from 'node:fs';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { subjects } from '@qemu-webrtc/common';
import { QemuDisplayDouble, waitFor, type GuestScreenImage } from '@qemu-webrtc/test-kit';
import { IFACE } from '@qemu-webrtc/qemu-dbus';
import {
  DRM_FORMAT_MOD_LINEAR,
  DRM_FORMAT_XRGB8888,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  addSeals,
  closeFd,
  createMemfd,
  fourcc,
} from '@qemu-webrtc/capture/native';
import type { CaptureService } from '@qemu-webrtc/capture/service';
import { ringImage, setup, startCapture, type Env, type TestContext } from './capture-harness.js';

const { PixelFormat } = qemu_webrtc.v1;

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A B,G,R,X pixel distinct per position and per `salt`. */
function pixel(x: number, y: number, salt: number): [number, number, number, number] {
  return [(x + salt) & 0xff, (y * 3 + salt) & 0xff, (x * 7 + y * 13 + salt * 5) & 0xff, 0xff];
}

/** width x height pixels in rows of `stride` bytes; padding bytes are 0xee. */
function pattern(width: number, height: number, stride: number, salt: number): Buffer {
  const buf = Buffer.alloc(stride * height, 0xee);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) buf.set(pixel(x, y, salt), y * stride + x * 4);
  }
  return buf;
}

/** The seals QEMU puts on the memfds of its shareable surfaces (qemu_memfd_alloc). */
const QEMU_SEALS = F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;

function memfdWith(bytes: Buffer, name: string, t: TestContext, offset = 0): number {
  const fd = createMemfd(name, offset + bytes.length);
  t.after(() => closeFd(fd));
  writeSync(fd, bytes, 0, bytes.length, offset);
  return fd;
}

async function startDouble(
  env: Env,
  t: TestContext,
  width: number,
  height: number,
): Promise<QemuDisplayDouble> {
  const double = await QemuDisplayDouble.start({ busAddress: env.bus.address, width, height });
  t.after(() => double.stop());
  return double;
}

/** The first FrameReady after index `seen` (env.frames.length before the action). */
function nextFrame(env: Env, seen: number): Promise<qemu_webrtc.v1.FrameReady> {
  return waitFor(`a FrameReady after #${seen}`, () => env.frames[seen], 10_000, 20);
}

function ringOf(env: Env, frame: qemu_webrtc.v1.FrameReady): GuestScreenImage {
  const img = ringImage(env, frame);
  assert.ok(img, `ring slot ${frame.slot} still holds frame ${frame.sequence}`);
  return img;
}

/**
 * Asserts B,G,R of every ring pixel equal `source` (rows of `stride`), whose image row r is source
 * row `flip ? height - 1 - r : r`.
 */
function assertRingEquals(
  ring: GuestScreenImage,
  source: Uint8Array,
  stride: number,
  opts: { flip?: boolean; what: string },
): void {
  let mismatches = 0;
  let first = '';
  for (let y = 0; y < ring.height; y++) {
    const sy = opts.flip === true ? ring.height - 1 - y : y;
    for (let x = 0; x < ring.width; x++) {
      const r = y * ring.stride + x * 4;
      const s = sy * stride + x * 4;
      for (let c = 0; c < 3; c++) {
        if (ring.data[r + c] !== source[s + c]) {
          if (mismatches === 0) {
            first = ` first at (${x}, ${y}): ring [${[...ring.data.subarray(r, r + 3)].join(',')}], want [${[...source.subarray(s, s + 3)].join(',')}]`;
          }
          mismatches++;
          break;
        }
      }
    }
  }
  assert.equal(mismatches, 0, `${opts.what}: ${mismatches} pixels differ;${first}`);
}

async function droppedCount(service: CaptureService, reason: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${service.metricsPort ?? 0}/metrics`).then((r) => r.text());
  const m = new RegExp(`capture_frames_dropped_total\\{reason="${reason}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** Copies `rect` of `from` into `into` (both rows of `stride`). */
function pasteRect(into: Buffer, from: Buffer, stride: number, rect: Rect): void {
  for (let y = rect.y; y < rect.y + rect.height; y++) {
    from.copy(into, y * stride + rect.x * 4, y * stride + rect.x * 4, y * stride + (rect.x + rect.width) * 4);
  }
}

const W = 200;
const H = 120;
const DMABUF_STRIDE = 256 * 4; // a GPU-like pitch, wider than W * 4

test('gl=on: UpdateDMABUF is acknowledged and the ring holds the DMA-BUF pixels (y0_top, bottom-up, partial)', async (t) => {
  const env = await setup(t);
  await startCapture(env, t);
  const double = await startDouble(env, t, W, H);
  const listener = await double.waitForListener();
  assert.ok(listener.hadInterfacesProperty, 'the listener answers GetAll with Interfaces');
  assert.ok(listener.interfaces.includes(IFACE.listenerUnixScanoutDmabuf2));

  const a = pattern(W, H, DMABUF_STRIDE, 1);
  const fd = memfdWith(a, 'gl-double-scanout', t);

  await double.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true);
  let seen = env.frames.length;
  await double.updateDmabuf(0, 0, W, H); // resolves on capture's reply: QEMU's frame acknowledgement
  let frame = await nextFrame(env, seen);
  assert.equal(frame.width, W);
  assert.equal(frame.height, H);
  assert.equal(frame.format, PixelFormat.PIXEL_FORMAT_BGRX);
  assert.equal(frame.topDown, true);
  assertRingEquals(ringOf(env, frame), a, DMABUF_STRIDE, { what: 'y0_top=true' });

  // y0_top=false: the buffer's row 0 is the bottom; the ring stays top-down.
  await double.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, false);
  seen = env.frames.length;
  await double.updateDmabuf(0, 0, W, H);
  frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), a, DMABUF_STRIDE, { flip: true, what: 'y0_top=false' });

  // A partial update: the whole buffer changes, but only the updated rectangle is read back.
  await double.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true);
  seen = env.frames.length;
  await double.updateDmabuf(0, 0, W, H);
  await nextFrame(env, seen);
  const b = pattern(W, H, DMABUF_STRIDE, 77);
  writeSync(fd, b, 0, b.length, 0);
  const rect = { x: 37, y: 21, width: 64, height: 50 };
  seen = env.frames.length;
  await double.updateDmabuf(rect.x, rect.y, rect.width, rect.height);
  frame = await nextFrame(env, seen);
  assert.deepEqual(
    frame.damage.map((d) => ({ x: d.x, y: d.y, width: d.width, height: d.height })),
    [rect],
  );
  const expected = Buffer.from(a);
  pasteRect(expected, b, DMABUF_STRIDE, rect);
  assertRingEquals(ringOf(env, frame), expected, DMABUF_STRIDE, { what: 'partial UpdateDMABUF' });
});

test('gl=on bad input: unsupported fourcc, too-small fd: UpdateDMABUF gets an error reply, capture goes on', async (t) => {
  const env = await setup(t);
  const service = await startCapture(env, t);
  const double = await startDouble(env, t, W, H);
  await double.waitForListener();
  const good = pattern(W, H, DMABUF_STRIDE, 5);
  const fd = memfdWith(good, 'gl-double-good', t);

  await double.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true);
  await double.updateDmabuf(0, 0, W, H);

  // A format capture cannot carry: the scanout is refused, so an update of it cannot succeed.
  await double.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, fourcc('NV12'), DRM_FORMAT_MOD_LINEAR, true);
  await assert.rejects(double.updateDmabuf(0, 0, W, H), {
    name: 'DbusErrorReply',
    errorName: 'org.qemu.Display1.Error.Failed',
  });

  // A buffer smaller than stride * height: EGL refuses the import.
  const small = memfdWith(Buffer.alloc(1000), 'gl-double-small', t);
  await double.scanoutDmabuf(small, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true);
  await assert.rejects(double.updateDmabuf(0, 0, W, H), {
    name: 'DbusErrorReply',
    errorName: 'org.qemu.Display1.Error.Failed',
  });
  assert.ok((await droppedCount(service, 'bad-input')) >= 1, 'the bad fourcc is counted');
  assert.ok((await droppedCount(service, 'dmabuf-import')) >= 1, 'the failed import is counted');

  // Capture is still there: a good scanout works again.
  await double.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true);
  const seen = env.frames.length;
  await double.updateDmabuf(0, 0, W, H);
  const frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), good, DMABUF_STRIDE, { what: 'after bad input' });
  assert.equal(double.displayListeners.length, 1, 'the same listener link is still up');
});

test('inline Scanout and Update through the double give exact ring pixels', async (t) => {
  const env = await setup(t);
  await startCapture(env, t);
  const double = await startDouble(env, t, W, H);
  await double.waitForListener();

  const stride = W * 4 + 24; // QEMU's Scanout stride can exceed width * 4
  const a = pattern(W, H, stride, 9);
  let seen = env.frames.length;
  await double.scanout(W, H, stride, a);
  let frame = await nextFrame(env, seen);
  assert.equal(frame.width, W);
  assertRingEquals(ringOf(env, frame), a, stride, { what: 'Scanout' });

  const rect = { x: 150, y: 90, width: 50, height: 30 }; // touches the right and bottom edges
  const b = pattern(W, H, stride, 200);
  const packed = Buffer.alloc(rect.width * rect.height * 4);
  for (let y = 0; y < rect.height; y++) {
    b.copy(
      packed,
      y * rect.width * 4,
      (rect.y + y) * stride + rect.x * 4,
      (rect.y + y) * stride + (rect.x + rect.width) * 4,
    );
  }
  seen = env.frames.length;
  await double.update(rect.x, rect.y, rect.width, rect.height, packed);
  frame = await nextFrame(env, seen);
  const expected = Buffer.from(a);
  pasteRect(expected, b, stride, rect);
  assertRingEquals(ringOf(env, frame), expected, stride, { what: 'Update' });
});

test('Unix.Map ScanoutMap and UpdateMap through the double give exact ring pixels', async (t) => {
  const env = await setup(t);
  await startCapture(env, t);
  const double = await startDouble(env, t, W, H);
  const listener = await double.waitForListener();
  assert.ok(listener.interfaces.includes(IFACE.listenerUnixMap), 'capture offers Unix.Map');

  const stride = W * 4;
  const offset = 8192; // QEMU passes the pixman image's offset in the memfd
  const a = pattern(W, H, stride, 3);
  const fd = memfdWith(a, 'gl-double-map', t, offset);
  addSeals(fd, QEMU_SEALS);
  let seen = env.frames.length;
  await double.scanoutMap(fd, offset, W, H, stride);
  let frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), a, stride, { what: 'ScanoutMap' });

  const rect = { x: 0, y: 10, width: 120, height: 7 };
  const b = pattern(W, H, stride, 99);
  const expected = Buffer.from(a);
  pasteRect(expected, b, stride, rect);
  writeSync(fd, expected, 0, expected.length, offset); // the guest draws into shared memory
  seen = env.frames.length;
  await double.updateMap(rect.x, rect.y, rect.width, rect.height);
  frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), expected, stride, { what: 'UpdateMap' });
});

test('malformed inline calls are dropped and counted; capture keeps running', async (t) => {
  const env = await setup(t);
  const service = await startCapture(env, t);
  const double = await startDouble(env, t, W, H);
  await double.waitForListener();
  const stride = W * 4;
  const a = pattern(W, H, stride, 11);
  let seen = env.frames.length;
  await double.scanout(W, H, stride, a);
  await nextFrame(env, seen);
  const before = await droppedCount(service, 'bad-input');

  // Outside the scanout, and with fewer bytes than 16x16 pixels need.
  await double.update(W + 100, H + 100, 16, 16, Buffer.alloc(100));
  // A stride shorter than a row.
  await double.scanout(W, H, W * 4 - 4, Buffer.alloc(W * 4 * H));
  // A pixman format capture does not know (a8b8g8r8).
  await double.scanout(W, H, stride, Buffer.alloc(stride * H), 0x20038888);
  await waitFor(
    'three bad-input drops',
    async () => (await droppedCount(service, 'bad-input')) >= before + 3,
    10_000,
    50,
  );

  const b = pattern(W, H, stride, 42);
  seen = env.frames.length;
  await double.scanout(W, H, stride, b);
  const frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), b, stride, { what: 'a good Scanout after bad ones' });
  assert.equal(double.displayListeners.length, 1, 'the listener link survived');
});

async function metricValue(service: CaptureService, name: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${service.metricsPort ?? 0}/metrics`).then((r) => r.text());
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

test('gl=on: a DMA-BUF whose import is under way when the listener link ends is released', async (t) => {
  const env = await setup(t);
  const service = await startCapture(env, t);
  const first = await QemuDisplayDouble.start({ busAddress: env.bus.address, width: W, height: H });
  t.after(() => first.stop());
  await first.waitForListener();
  const fd = memfdWith(pattern(W, H, DMABUF_STRIDE, 9), 'gl-double-teardown', t);
  await first.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true);
  await first.updateDmabuf(0, 0, W, H);
  assert.equal(await metricValue(service, 'capture_dmabuf_images'), 1, 'one buffer imported');

  // QEMU sends a new scanout and goes away at once: capture tears the console down while the
  // import of that buffer is queued or running on the GL thread.
  await first.scanoutDmabuf(fd, W, H, DMABUF_STRIDE, DRM_FORMAT_XRGB8888, DRM_FORMAT_MOD_LINEAR, true);
  first.stop();
  // QEMU comes back: capture registers a new listener (long after the old import finished).
  const second = await startDouble(env, t, W, H);
  await second.waitForListener();
  await waitFor(
    'no DMA-BUF left imported',
    async () => (await metricValue(service, 'capture_dmabuf_images')) === 0,
    5000,
  );
});

test('Unix.Map: a memfd not sealed against shrinking is read, not mapped: truncating it costs no SIGBUS', async (t) => {
  const env = await setup(t);
  const service = await startCapture(env, t);
  const double = await startDouble(env, t, W, H);
  await double.waitForListener();
  const stride = W * 4;
  const a = pattern(W, H, stride, 4);

  // Like QEMU 10's virtio-gpu memfds: F_SEAL_SEAL only, so it can still shrink under a mapping.
  const unsealed = memfdWith(a, 'map-unsealed', t);
  addSeals(unsealed, F_SEAL_SEAL);
  let seen = env.frames.length;
  await double.scanoutMap(unsealed, 0, W, H, stride);
  let frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), a, stride, { what: 'unsealed ScanoutMap (read)' });
  const rect = { x: 5, y: 20, width: 100, height: 9 };
  const expected = Buffer.from(a);
  pasteRect(expected, pattern(W, H, stride, 55), stride, rect);
  writeSync(unsealed, expected, 0, expected.length, 0);
  seen = env.frames.length;
  await double.updateMap(rect.x, rect.y, rect.width, rect.height);
  frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), expected, stride, { what: 'UpdateMap (read)' });

  // The other side truncates the file: a mapping would SIGBUS capture (and this test) on the next read.
  const before = await droppedCount(service, 'bad-input');
  ftruncateSync(unsealed, 0);
  await double.updateMap(0, 0, W, H);
  await waitFor('the short read counted', async () => (await droppedCount(service, 'bad-input')) > before);

  // A file already shorter than offset + stride * height is refused.
  const short = memfdWith(a.subarray(0, stride * (H - 1)), 'map-short', t);
  addSeals(short, QEMU_SEALS);
  await double.scanoutMap(short, 0, W, H, stride);
  await waitFor(
    'the short ScanoutMap counted',
    async () => (await droppedCount(service, 'bad-input')) > before + 1,
  );

  // Sealed like QEMU's pixman surfaces: mapped, exact pixels.
  const sealed = memfdWith(a, 'map-sealed', t);
  addSeals(sealed, QEMU_SEALS);
  seen = env.frames.length;
  await double.scanoutMap(sealed, 0, W, H, stride);
  frame = await nextFrame(env, seen);
  assertRingEquals(ringOf(env, frame), a, stride, { what: 'sealed ScanoutMap' });
});

test('refresh requests: a burst is answered a few times, not once each; one with a body is dropped; both counted', async (t) => {
  const env = await setup(t);
  const service = await startCapture(env, t);
  const double = await startDouble(env, t, W, H);
  await double.waitForListener();
  await waitFor('the console announced', () => env.infos.length > 0);
  const before = env.infos.length;
  for (let i = 0; i < 2000; i++) env.nc.publish(subjects.consoleRefresh);
  env.nc.publish(subjects.consoleRefresh, Buffer.from('not empty'));
  await env.nc.flush();
  const text = async (): Promise<string> =>
    fetch(`http://127.0.0.1:${service.metricsPort ?? 0}/metrics`).then((r) => r.text());
  await waitFor('the burst counted', async () => {
    const m = /capture_refresh_requests_total\{outcome="coalesced"\} (\d+)/.exec(await text());
    return m && Number(m[1]) >= 1990;
  });
  assert.match(await text(), /capture_refresh_requests_total\{outcome="with_body"\} 1$/m);
  await new Promise((r) => setTimeout(r, 600)); // the coalesced answer comes within 250 ms
  const answers = env.infos.length - before;
  assert.ok(answers >= 1 && answers <= 20, `${answers} ConsoleInfo for 2000 refresh requests`);
});
