import assert from 'node:assert/strict';
import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { FrameRingWriter, PixelFormat } from '../src/index.js';
import { fillPattern, tempDir } from './helpers.js';

let dir = '';
let remove = (): void => undefined;
before(() => {
  ({ dir, remove } = tempDir());
});
after(() => {
  remove();
});

const childPath = fileURLToPath(new URL('./fixtures/ring-reader-child.js', import.meta.url));

async function ask(child: ChildProcess, request: object): Promise<Record<string, unknown>> {
  const reply = once(child, 'message');
  child.send(request);
  const [message] = (await reply) as [Record<string, unknown>];
  return message;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test("a reader in another process sees the writer's pixels and detects overwrites", async () => {
  const w = FrameRingWriter.create({
    dir,
    name: 'xproc',
    width: 320,
    height: 200,
    format: PixelFormat.BGRA,
    slots: 2,
    generation: 3,
  });
  const child = fork(childPath, [w.path], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const [ready] = (await once(child, 'message')) as [Record<string, unknown>];
    assert.deepEqual(ready, { ready: true, generation: 3, width: 320, height: 200 });

    const a = w.beginWrite();
    fillPattern(a.pixels, 11);
    w.commitWrite(a.slot, 1, 123);
    const seen = await ask(child, { op: 'read', slot: a.slot, sequence: 1 });
    assert.deepEqual(seen, {
      found: true,
      hash: sha256(a.pixels),
      width: 320,
      height: 200,
      stride: 1280,
      format: PixelFormat.BGRA,
      writtenUs: 123,
      valid: true,
    });

    const b = w.beginWrite();
    fillPattern(b.pixels, 12);
    w.commitWrite(b.slot, 2, 124);
    assert.equal((await ask(child, { op: 'read', slot: b.slot, sequence: 2 })).hash, sha256(b.pixels));
    assert.deepEqual(await ask(child, { op: 'check', slot: a.slot, sequence: 1 }), { valid: true });

    const c = w.beginWrite(); // reuses slot a while the child "encodes" frame 1
    assert.equal(c.slot, a.slot);
    assert.deepEqual(await ask(child, { op: 'check', slot: a.slot, sequence: 1 }), { valid: false });
    w.commitWrite(c.slot, 3, 125);
    assert.deepEqual(await ask(child, { op: 'read', slot: a.slot, sequence: 1 }), { found: false });
  } finally {
    const exited = once(child, 'exit');
    child.disconnect();
    await exited;
    w.destroy();
  }
});
