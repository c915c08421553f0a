// CallRunner's in-flight count against a QEMU that answers late: a call the caller gave up on is
// still counted until QEMU answers it or the link drops, so a stalled QEMU cannot be handed an
// unbounded number of calls (the in-flight limit of VmInput reads this count).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallRunner } from '../src/dbus-calls.js';
import { InputMetrics } from '../src/metrics.js';

/** A D-Bus call QEMU has not answered yet; `answer()` is its reply arriving. */
function lateCall(): { call: () => Promise<void>; answer: () => void } {
  let answer = (): void => undefined;
  const p = new Promise<void>((resolve) => (answer = resolve));
  return { call: () => p, answer };
}

test('a timed-out call counts as in flight until QEMU answers it', async () => {
  const runner = new CallRunner(new InputMetrics(), 30);
  const late = lateCall();
  const result = await runner.run('Keyboard.Press', late.call);
  assert.deepEqual(
    { ok: result.ok, timedOut: 'timedOut' in result ? result.timedOut : undefined },
    { ok: false, timedOut: true },
  );
  assert.equal(runner.inFlight, 1, 'the unanswered call is still in flight after its timeout');
  late.answer();
  await new Promise((r) => setImmediate(r));
  assert.equal(runner.inFlight, 0);
});

test('calls left unanswered on a dropped link stop counting; an answered call is counted once', async () => {
  const runner = new CallRunner(new InputMetrics(), 30);
  const stuck = [lateCall(), lateCall(), lateCall()];
  await Promise.all(stuck.map((s) => runner.run('Mouse.SetAbsPosition', s.call)));
  assert.equal(runner.inFlight, 3);
  runner.linkDropped();
  assert.equal(runner.inFlight, 0);
  // A reply of the old link arriving late must not make the count negative or touch new calls.
  const fresh = lateCall();
  const pending = runner.run('Keyboard.Release', fresh.call);
  stuck[0]?.answer();
  await new Promise((r) => setImmediate(r));
  assert.equal(runner.inFlight, 1);
  fresh.answer();
  assert.deepEqual(await pending, { ok: true });
  assert.equal(runner.inFlight, 0);
});
