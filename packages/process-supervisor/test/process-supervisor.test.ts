import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LineBuffer,
  ManagedProcess,
  prefixLines,
  RestartBackoff,
  Supervised,
  SupervisorContext,
} from '../src/index.js';
import type { SupervisorEvent } from '../src/index.js';

test('LineBuffer holds a line split across chunks; prefixLines leaves empty lines bare', () => {
  const lines = new LineBuffer();
  assert.deepEqual(lines.push('a\nb'), ['a']);
  assert.deepEqual(lines.push('c\n\nd'), ['bc', '']);
  assert.equal(prefixLines(['bc', ''], '[x] '), '[x] bc\n\n');
  assert.deepEqual(
    lines.push('x'.repeat(70_000)).map((l) => l.length),
    [70_001],
  );
});

test('RestartBackoff doubles up to its maximum and starts over after a long run', () => {
  const b = new RestartBackoff({ firstMs: 500, maxMs: 15_000, resetAfterMs: 30_000 });
  assert.deepEqual(
    [0, 0, 0, 0, 0, 0, 0].map((ran) => b.next(ran)),
    [500, 1000, 2000, 4000, 8000, 15_000, 15_000],
  );
  assert.equal(b.next(30_000), 500);
});

test('ManagedProcess keeps output, stops with its signal, and throws on exit before a pattern', async () => {
  const p = new ManagedProcess(
    'sh',
    'sh',
    ['-c', 'trap "echo got INT; exit 7" INT; echo ready; while :; do sleep 0.05; done'],
    {
      stopSignal: 'SIGINT',
    },
  );
  await p.waitForOutput(/ready/, 5000);
  await p.stop(5000);
  assert.deepEqual(await p.exited, { code: 7, signal: null });
  assert.match(p.output, /got INT/);
  await assert.rejects(p.waitForOutput(/never/, 1000), /exited before printing/);
});

test('Supervised: an early exit is reported, not restarted; once ready, a death is restarted', async () => {
  const events: SupervisorEvent[] = [];
  const early: string[] = [];
  const ctx = new SupervisorContext(
    (e) => events.push(e),
    (child, code) => early.push(`${child.name} ${code} ${child.lastLine}`),
  );
  const failing = new Supervised(ctx, 'failing', 'sh', ['-c', 'echo an error here; echo bye; exit 3']);
  await failing.child.exited;
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(early, ['failing 3 an error here']);

  ctx.ready = true;
  const s = new Supervised(ctx, 'sleeper', 'sh', ['-c', 'echo up; exec sleep 30']);
  await s.waitForOutput(/up/, 5000);
  const first = s.pid;
  await s.child.kill();
  await s.waitForOutput(/up/, 5000);
  assert.notEqual(s.pid, first);
  assert.equal(s.restarts, 1);
  ctx.stopping = true;
  await s.stop();
  assert.deepEqual(
    events.filter((e) => e.name === 'sleeper').map((e) => e.event),
    ['started', 'exited', 'started', 'exited'],
  );
});
