// The serial scrollback: bounded, addressed by stream offset, says what fell out of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scrollback } from '../src/serial/scrollback.js';

test('keeps the newest bytes up to its capacity, offsets counting every byte', () => {
  const s = new Scrollback(8);
  s.append(Buffer.from('abcde'));
  s.append(Buffer.from('fghij'));
  assert.equal(s.end, 10);
  assert.equal(s.start, 2);
  assert.deepEqual(s.since(0), { offset: 2, data: Buffer.from('cdefghij'), lost: 2 });
  assert.deepEqual(s.since(7), { offset: 7, data: Buffer.from('hij'), lost: 0 });
  assert.deepEqual(s.since(99), { offset: 10, data: Buffer.alloc(0), lost: 0 });
});

test('a chunk larger than the capacity keeps only its tail; the caller may reuse its buffer', () => {
  const s = new Scrollback(4);
  const chunk = Buffer.from('0123456789');
  s.append(chunk);
  chunk.fill(0);
  assert.deepEqual(s.since(0), { offset: 6, data: Buffer.from('6789'), lost: 6 });
  s.append(new Uint8Array(0));
  assert.equal(s.end, 10);
});

test('binary bytes are kept as they are', () => {
  const s = new Scrollback(1024);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  s.append(all);
  assert.deepEqual(s.since(0).data, all);
});
