import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { FrameRingReader, FrameRingWriter, PixelFormat, RingHeaderOffset } from '../src/index.js';
import { tempDir } from './helpers.js';

let dir = '';
let remove = (): void => undefined;
let good = '';
before(() => {
  ({ dir, remove } = tempDir());
  const w = FrameRingWriter.create({
    dir,
    name: 'good',
    width: 100,
    height: 50,
    format: PixelFormat.BGRX,
    generation: 1,
  });
  good = w.path;
});
after(() => {
  remove();
});

/** A copy of the good ring with `edit` applied to its bytes. */
function variant(name: string, edit: (bytes: Buffer) => void): string {
  const path = join(dir, name);
  const bytes = readFileSync(good);
  edit(bytes);
  writeFileSync(path, bytes);
  return path;
}

test('a wrong magic is named', () => {
  const path = variant('magic', (b) => b.write('NOTARING', 0, 'latin1'));
  assert.throws(() => FrameRingReader.open(path), {
    name: 'RingFormatError',
    message: `frame ring ${path} is invalid: bad magic (not a QWRING1 frame ring)`,
  });
});

test('a truncated ring is named', () => {
  const path = join(dir, 'truncated');
  copyFileSync(good, path);
  truncateSync(path, 4096 + 1000);
  assert.throws(() => FrameRingReader.open(path), {
    name: 'RingFormatError',
    message: /is invalid: truncated: 5096 bytes, but 3 slots of 20480 bytes need 65536/,
  });
  truncateSync(path, 100);
  assert.throws(() => FrameRingReader.open(path), {
    name: 'RingFormatError',
    message: /is truncated: 100 bytes, smaller than the 4096-byte header/,
  });
});

test('bad version, slot count and format are named', () => {
  const version = variant('version', (b) => b.writeUInt32LE(2, RingHeaderOffset.version));
  assert.throws(() => FrameRingReader.open(version), /unsupported version 2 \(expected 1\)/);
  const slots = variant('slots', (b) => b.writeUInt32LE(17, RingHeaderOffset.slotCount));
  assert.throws(() => FrameRingReader.open(slots), /bad slot count 17/);
  const format = variant('format', (b) => b.writeUInt32LE(9, RingHeaderOffset.format));
  assert.throws(() => FrameRingReader.open(format), /unknown pixel format 9/);
  const slotSize = variant('slotsize', (b) => b.writeBigUInt64LE(4096n, RingHeaderOffset.slotSize));
  assert.throws(() => FrameRingReader.open(slotSize), /bad slot size 4096 for 50 rows of 400 bytes/);
});

test('a missing file throws ENOENT', () => {
  assert.throws(() => FrameRingReader.open(join(dir, 'absent')), { code: 'ENOENT' });
});
