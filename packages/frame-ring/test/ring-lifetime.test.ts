// Ring identity and lifetime: names never repeat, rings of dead writers are found and removed, and
// a closed reader (a destroyed writer) lets go of the file at once, not at garbage collection.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  FrameRingReader,
  FrameRingWriter,
  PixelFormat,
  parseRingName,
  removeOrphanRings,
  uniqueRingName,
} from '../src/index.js';
import { fillPattern, tempDir } from './helpers.js';

let dir = '';
let remove = (): void => undefined;
before(() => {
  ({ dir, remove } = tempDir());
});
after(() => {
  remove();
});

const ring = (name: string): FrameRingWriter =>
  FrameRingWriter.create({ dir, name, width: 32, height: 16, format: PixelFormat.BGRX, generation: 1 });

/** Paths under `dir` this process maps now. */
function mappedFiles(): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .map((line) => line.slice(line.indexOf('/')))
    .filter((path) => path.startsWith(`${dir}/`));
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

test('uniqueRingName never repeats and parses back to the writer’s pid', () => {
  const names = Array.from({ length: 100 }, () => uniqueRingName('qemu-webrtc-vm-a-0'));
  assert.equal(new Set(names).size, names.length);
  const parts = parseRingName(names[0] ?? '');
  assert.ok(parts);
  assert.equal(parts.label, 'qemu-webrtc-vm-a-0');
  assert.equal(parts.pid, process.pid);
  assert.equal(parseRingName(names[1] ?? '')?.serial, parts.serial + 1);
  assert.equal(parseRingName('qemu-webrtc-vm-0-123-2'), null, 'the old naming is not taken for ours');
});

test('removeOrphanRings removes rings of dead writers and of an earlier process with our pid, nothing else', () => {
  const dead = deadPid();
  const label = 'qemu-webrtc-vm1-0';
  const files = {
    deadWriter: `${label}-${dead}-0a0b0c0d-1`,
    deadTemp: `.${label}-${dead}-0a0b0c0d-2.${dead}.tmp`,
    earlierSelf: `${label}-${process.pid}-0a0b0c0d-3`,
    liveWriter: `${label}-1-0a0b0c0d-1`, // pid 1 is alive
    otherVm: `qemu-webrtc-vm2-0-${dead}-0a0b0c0d-1`,
    notARing: 'something-else',
  };
  for (const f of Object.values(files)) writeFileSync(join(dir, f), 'x');
  const mine = ring(uniqueRingName(label));
  try {
    const removed = removeOrphanRings(dir, (l) => l.startsWith('qemu-webrtc-vm1-')).sort();
    assert.deepEqual(removed, [files.deadTemp, files.deadWriter, files.earlierSelf].sort());
    const left = readdirSync(dir);
    for (const f of [files.liveWriter, files.otherVm, files.notARing]) assert.ok(left.includes(f), f);
    assert.ok(existsSync(mine.path), 'this process’s own ring stays');
  } finally {
    mine.destroy();
  }
  assert.deepEqual(
    removeOrphanRings(join(dir, 'missing'), () => true),
    [],
  );
});

test('close() releases the ring file at once: it leaves /proc/self/maps, old views read zeros', () => {
  const w = ring(uniqueRingName('release'));
  const { slot, pixels } = w.beginWrite();
  fillPattern(pixels, 3);
  w.commitWrite(slot, 1, 1);
  const r = FrameRingReader.open(w.path);
  const frame = r.read(slot, 1);
  assert.ok(frame);
  assert.ok(frame.pixels.some((b) => b !== 0));
  assert.equal(mappedFiles().filter((p) => p === w.path).length, 2, 'writer and reader map the ring');

  r.close();
  r.close();
  assert.equal(mappedFiles().filter((p) => p === w.path).length, 1, 'only the writer maps it now');
  assert.ok(
    frame.pixels.every((b) => b === 0),
    'a view from before close() reads zeros',
  );
  assert.throws(() => r.read(slot, 1), { name: 'ClosedError' });

  const path = w.path;
  w.destroy();
  assert.equal(existsSync(path), false);
  assert.deepEqual(
    mappedFiles().filter((p) => p.startsWith(path)),
    [],
    'a destroyed writer maps nothing (not even the unlinked file)',
  );
  pixels[0] = 1; // a stale writable view stays writable (private memory now), never a crash
});
