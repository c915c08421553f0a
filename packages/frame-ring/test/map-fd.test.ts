import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { closeFd, mapFd, mapFile } from '../src/index.js';
import { fillPattern, tempDir } from './helpers.js';

let dir = '';
let remove = (): void => undefined;
before(() => {
  ({ dir, remove } = tempDir());
});
after(() => {
  remove();
});

// Node has no memfd_create: a plain file's fd is mapped the same way (both are regular files).
function memfdLike(size: number): { path: string; fd: number; bytes: Uint8Array } {
  const path = join(dir, `fd-${size}`);
  const bytes = new Uint8Array(size);
  fillPattern(bytes, size);
  writeFileSync(path, bytes);
  return { path, fd: openSync(path, 'r+'), bytes };
}

test('mapFd maps from a non-page-aligned offset', () => {
  const { fd, bytes } = memfdLike(3 * 4096 + 100);
  const offset = 4096 + 1234;
  const length = 5000;
  const buffer = mapFd(fd, offset, length, false);
  assert.equal(buffer.byteLength, length);
  assert.deepEqual(new Uint8Array(buffer), bytes.subarray(offset, offset + length));
  closeFd(fd);
  assert.deepEqual(
    new Uint8Array(buffer).subarray(0, 8),
    bytes.subarray(offset, offset + 8),
    'outlives the fd',
  );
});

test('a writable mapFd mapping writes through to the file', () => {
  const { path, fd } = memfdLike(8192);
  const view = new Uint8Array(mapFd(fd, 4095, 4, true));
  view.set([1, 2, 3, 4]);
  closeFd(fd);
  assert.deepEqual(readFileSync(path).subarray(4095, 4099), Buffer.from([1, 2, 3, 4]));
});

test('mapFd refuses offset + length beyond the file, and bad arguments', () => {
  const { fd } = memfdLike(10_000);
  assert.throws(() => mapFd(fd, 9_990, 11, false), {
    name: 'RangeError',
    message: /beyond the end of fd \d+ \(10000 bytes\)/,
  });
  assert.throws(() => mapFd(fd, 20_000, 1, false), RangeError);
  assert.ok(mapFd(fd, 9_990, 10, false).byteLength === 10, 'up to the last byte is fine');
  assert.throws(() => mapFd(fd, 0, 0, false), TypeError);
  assert.throws(() => mapFd(fd, -1, 10, false), TypeError);
  assert.throws(() => mapFd(fd, 0.5, 10, false), TypeError);
  closeFd(fd);
  assert.throws(() => mapFd(fd, 0, 10, false), { code: 'EBADF', message: /mapFd: fstat fd \d+ failed/ });
  assert.throws(
    () => {
      closeFd(fd);
    },
    { code: 'EBADF' },
  );
});

test('mapFd of a read-only fd refuses a writable mapping with the errno text', () => {
  const { path, fd } = memfdLike(4096);
  closeSync(fd);
  const ro = openSync(path, 'r');
  assert.throws(() => mapFd(ro, 0, 4096, true), { code: 'EACCES', message: /Permission denied/ });
  closeFd(ro);
});

test('mapFile creates, sizes and maps a file; errors name the path', () => {
  const path = join(dir, 'mapped');
  const rw = new Uint8Array(mapFile(path, 10_000, { create: true, writable: true }));
  rw[9_999] = 42;
  assert.equal(readFileSync(path).length, 10_000);
  const ro = new Uint8Array(mapFile(path, 0, { create: false, writable: false }));
  assert.equal(ro.length, 10_000);
  assert.equal(ro[9_999], 42);
  assert.throws(() => mapFile(path, 10_001, { create: false, writable: false }), RangeError);
  assert.throws(() => mapFile(join(dir, 'missing'), 0, { create: false, writable: false }), {
    code: 'ENOENT',
    path: join(dir, 'missing'),
    message: /open '.*missing' failed: No such file or directory/,
  });
  assert.throws(() => mapFile(path, 10, { create: true, writable: false }), TypeError);
  assert.throws(() => mapFile('', 10, { create: true, writable: true }), TypeError);
});
