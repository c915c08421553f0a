import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { FrameRingReader, FrameRingWriter, PixelFormat, type Rect } from '../src/index.js';
import { fillPattern, tempDir } from './helpers.js';

let dir = '';
let remove = (): void => undefined;
before(() => {
  ({ dir, remove } = tempDir());
});
after(() => {
  remove();
});

function makeRing(name: string, opts: { slots?: number; generation?: number } = {}): FrameRingWriter {
  return FrameRingWriter.create({
    dir,
    name,
    width: 64,
    height: 48,
    stride: 64 * 4 + 32,
    format: PixelFormat.BGRX,
    slots: opts.slots ?? 3,
    generation: opts.generation ?? 7,
  });
}

/** Writes one frame with a pattern derived from `seq`; returns the slot and a copy of the bytes. */
function writeFrame(w: FrameRingWriter, seq: number): { slot: number; bytes: Uint8Array } {
  const { slot, pixels } = w.beginWrite();
  fillPattern(pixels, seq);
  w.commitWrite(slot, seq, 1_700_000_000_000_000 + seq);
  return { slot, bytes: pixels.slice() };
}

describe('FrameRingWriter and FrameRingReader', () => {
  test('a written frame reads back equal, with its header fields', () => {
    const w = makeRing('roundtrip');
    assert.equal(w.path, `${dir}/roundtrip`);
    assert.equal(statSync(w.path).mode & 0o777, 0o600);
    assert.equal(statSync(w.path).size, 4096 + 3 * w.slotSize);
    assert.equal(w.slotSize % 4096, 0);
    const r = FrameRingReader.open(w.path);
    assert.deepEqual(
      [r.generation, r.slotCount, r.width, r.height, r.stride, r.format],
      [7, 3, 64, 48, 288, PixelFormat.BGRX],
    );

    const { slot, bytes } = writeFrame(w, 1);
    const frame = r.read(slot, 1);
    assert.ok(frame);
    assert.deepEqual(
      [frame.width, frame.height, frame.stride, frame.format, frame.writtenUs],
      [64, 48, 288, PixelFormat.BGRX, 1_700_000_000_000_001],
    );
    assert.equal(frame.pixels.length, 288 * 48);
    assert.deepEqual(frame.pixels, bytes);
    assert.ok(r.stillValid(slot, 1));
    assert.ok(r.stillValid(slot, 1n), 'bigint sequences work too');

    assert.equal(r.read(slot, 2), null, 'another sequence is not this frame');
    assert.equal(r.read((slot + 1) % 3, 1), null, 'an empty slot holds no frame');
    w.destroy();
    r.close();
  });

  test('slots go round robin, never reusing the slot completed last', () => {
    const w = makeRing('roundrobin', { slots: 3 });
    const slots = [1, 2, 3, 4, 5].map((seq) => writeFrame(w, seq).slot);
    assert.deepEqual(slots, [0, 1, 2, 0, 1]);
    w.destroy();
  });

  test('the sequence check rejects a stale or overwritten slot', () => {
    const w = makeRing('stale');
    const r = FrameRingReader.open(w.path);
    const first = writeFrame(w, 1);
    writeFrame(w, 2);
    writeFrame(w, 3);
    assert.ok(r.read(first.slot, 1), 'still there after two newer frames');
    const fourth = writeFrame(w, 4);
    assert.equal(fourth.slot, first.slot);
    assert.equal(r.read(first.slot, 1), null, 'frame 1 was overwritten by frame 4');
    const frame = r.read(fourth.slot, 4);
    assert.ok(frame);
    assert.deepEqual(frame.pixels, fourth.bytes);
    w.destroy();
  });

  test('stillValid turns false when the writer reuses the slot mid-read', () => {
    const w = makeRing('midread', { slots: 2 });
    const r = FrameRingReader.open(w.path);
    const first = writeFrame(w, 1);
    const frame = r.read(first.slot, 1);
    assert.ok(frame);
    const copy = frame.pixels.slice(0, 16); // "encoding" begins
    writeFrame(w, 2); // the other slot: no effect
    assert.ok(r.stillValid(first.slot, 1));
    const reuse = w.beginWrite();
    assert.equal(reuse.slot, first.slot);
    assert.equal(r.stillValid(first.slot, 1), false, 'invalid as soon as the writer takes the slot');
    fillPattern(reuse.pixels, 3);
    assert.notDeepEqual(frame.pixels.slice(0, 16), copy, 'the zero-copy view saw the overwrite');
    w.commitWrite(reuse.slot, 3, 0);
    assert.equal(r.stillValid(first.slot, 1), false);
    assert.ok(r.stillValid(first.slot, 3));
    w.destroy();
  });

  test('damage: a fresh slot is stale everywhere, then only where marked', () => {
    const w = makeRing('damage', { slots: 2 });
    const full: Rect = { x: 0, y: 0, width: 64, height: 48 };
    const a = w.beginWrite();
    assert.deepEqual(a.damage, [full]);
    w.commitWrite(a.slot, 1, 0);
    const rect: Rect = { x: 4, y: 5, width: 6, height: 7 };
    w.markDamage(rect);
    const b = w.beginWrite();
    assert.deepEqual(b.damage, [full], 'slot 1 was never written');
    w.commitWrite(b.slot, 2, 0);
    const c = w.beginWrite();
    assert.equal(c.slot, a.slot);
    assert.deepEqual(c.damage, [rect], 'slot 0 missed only the marked rect');
    w.commitWrite(c.slot, 3, 0);
    const d = w.beginWrite();
    assert.deepEqual(d.damage, [], 'slot 1 was written after the mark');
    w.commitWrite(d.slot, 4, 0);

    w.markDamage({ x: 60, y: 40, width: 100, height: 100 });
    w.markDamage({ x: 61, y: 41, width: 1, height: 1 }); // inside the previous one
    assert.deepEqual(w.beginWrite().damage, [{ x: 60, y: 40, width: 4, height: 8 }], 'clipped, deduplicated');
    w.destroy();
  });

  test('damage: more than 16 rectangles coalesce into their bounding box', () => {
    const w = makeRing('coalesce', { slots: 2 });
    w.commitWrite(w.beginWrite().slot, 1, 0);
    w.commitWrite(w.beginWrite().slot, 2, 0);
    for (let i = 0; i < 16; i++) w.markDamage({ x: i * 2, y: i, width: 1, height: 1 });
    const sixteen = w.beginWrite();
    assert.equal(sixteen.damage.length, 16);
    w.commitWrite(sixteen.slot, 3, 0);
    for (let i = 0; i < 17; i++) w.markDamage({ x: i * 2, y: i, width: 1, height: 1 });
    assert.deepEqual(w.beginWrite().damage, [{ x: 0, y: 0, width: 33, height: 17 }]);
    w.destroy();
  });

  test('an abandoned write leaves its slot empty and stale everywhere', () => {
    const w = makeRing('abandon', { slots: 2 });
    const r = FrameRingReader.open(w.path);
    const a = writeFrame(w, 1);
    writeFrame(w, 2);
    w.markDamage({ x: 0, y: 0, width: 1, height: 1 });
    const pending = w.beginWrite();
    assert.equal(pending.slot, a.slot);
    const again = w.beginWrite();
    assert.equal(again.slot, a.slot);
    assert.equal(again.damage.length, 1);
    assert.deepEqual(again.damage[0], { x: 0, y: 0, width: 64, height: 48 });
    assert.equal(r.read(a.slot, 1), null);
    assert.throws(() => {
      w.commitWrite((a.slot + 1) % 2, 3, 0);
    }, /is not being written/);
    w.destroy();
  });

  test('commitWrite checks its arguments', () => {
    const w = makeRing('args');
    assert.throws(() => {
      w.commitWrite(0, 1, 0);
    }, /call beginWrite\(\) first/);
    const { slot } = w.beginWrite();
    assert.throws(() => {
      w.commitWrite(slot, 0, 0);
    }, TypeError);
    assert.throws(() => {
      w.commitWrite(slot, 1.5, 0);
    }, TypeError);
    w.commitWrite(slot, 5, 0);
    const next = w.beginWrite();
    assert.throws(() => {
      w.commitWrite(next.slot, 5, 0);
    }, RangeError);
    w.commitWrite(next.slot, 6n, 0n);
    assert.throws(
      () => FrameRingWriter.create({ dir, name: 'a/b', width: 1, height: 1, format: 1, generation: 0 }),
      TypeError,
    );
    assert.throws(
      () => FrameRingWriter.create({ dir, name: 'x', width: 0, height: 1, format: 1, generation: 0 }),
      TypeError,
    );
    assert.throws(
      () =>
        FrameRingWriter.create({ dir, name: 'x', width: 8, height: 1, stride: 16, format: 1, generation: 0 }),
      TypeError,
    );
    assert.throws(
      () =>
        FrameRingWriter.create({ dir, name: 'x', width: 8, height: 1, format: 1, generation: 0, slots: 17 }),
      TypeError,
    );
    w.destroy();
  });

  test('destroy unlinks the file, is safe twice, and later calls throw ClosedError', () => {
    const w = makeRing('destroy');
    const r = FrameRingReader.open(w.path);
    const { slot } = writeFrame(w, 1);
    w.destroy();
    w.destroy();
    assert.equal(existsSync(w.path), false);
    assert.throws(() => w.beginWrite(), { name: 'ClosedError' });
    assert.throws(
      () => {
        w.markDamage({ x: 0, y: 0, width: 1, height: 1 });
      },
      { name: 'ClosedError' },
    );
    assert.equal(r.read(slot, 1), null, 'a destroyed ring holds no frames');
    r.close();
    r.close();
    assert.throws(() => r.read(slot, 1), { name: 'ClosedError' });
  });

  test('re-creating a ring under the same name leaves readers of the old one intact', () => {
    const old = makeRing('recreate', { generation: 1 });
    const oldReader = FrameRingReader.open(old.path);
    const frame = writeFrame(old, 1);
    const fresh = makeRing('recreate', { generation: 2 });
    assert.equal(FrameRingReader.open(fresh.path).generation, 2);
    const still = oldReader.read(frame.slot, 1);
    assert.ok(still);
    assert.deepEqual(still.pixels, frame.bytes);
    old.destroy();
    assert.ok(existsSync(fresh.path), "destroying the old writer keeps the new ring's file");
    fresh.destroy();
    assert.equal(existsSync(fresh.path), false);
  });
});
