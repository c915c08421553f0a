// ConsoleTarget against a recording stand-in for QEMU's console object (the D-Bus calls it would
// make): mouse-mode fallbacks on QEMU's errors, clamping, shared holds, touch slots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TouchKind } from '@qemu-webrtc/qemu-dbus';
import { ConsoleTarget, type ConsoleCalls, type Outcome } from '../src/console-target.js';
import { CallRunner } from '../src/dbus-calls.js';
import { InputMetrics } from '../src/metrics.js';

/** Records calls like QEMU would receive them; refuses pointer calls for the wrong mouse mode. */
class RecordingConsole implements ConsoleCalls {
  readonly calls: string[] = [];
  absolute = true;
  keyPress(q: number): Promise<void> {
    return this.record(`press ${q}`);
  }
  keyRelease(q: number): Promise<void> {
    return this.record(`release ${q}`);
  }
  mousePress(b: number): Promise<void> {
    return this.record(`mouse press ${b}`);
  }
  mouseRelease(b: number): Promise<void> {
    return this.record(`mouse release ${b}`);
  }
  setAbsPosition(x: number, y: number): Promise<void> {
    if (!this.absolute) return Promise.reject(new Error('Mouse is not absolute'));
    return this.record(`abs ${x},${y}`);
  }
  relMotion(dx: number, dy: number): Promise<void> {
    if (this.absolute) return Promise.reject(new Error('Mouse is not relative'));
    return this.record(`rel ${dx},${dy}`);
  }
  touchSendEvent(kind: TouchKind, slot: number, x: number, y: number): Promise<void> {
    return this.record(`touch ${kind} ${slot} ${x},${y}`);
  }
  private record(call: string): Promise<void> {
    this.calls.push(call);
    return Promise.resolve();
  }
}

function setup(state: { absolute: boolean; maxSlots?: number }) {
  const qemu = new RecordingConsole();
  qemu.absolute = state.absolute;
  const metrics = new InputMetrics();
  let refreshes = 0;
  const target = new ConsoleTarget(
    0,
    qemu,
    new CallRunner(metrics, 1000),
    metrics,
    { width: 800, height: 600, absolute: state.absolute, maxSlots: state.maxSlots },
    () => refreshes++,
  );
  return { qemu, target, refreshes: () => refreshes };
}

const done = async (o: Outcome): Promise<void> => {
  if ('sent' in o) await o.sent;
};

test('absolute: positions are rounded and clamped to the console', async () => {
  const { qemu, target } = setup({ absolute: true });
  await done(target.move(10.4, 20.6));
  await done(target.move(-5, 9999));
  await done(target.relative(3, -4));
  assert.deepEqual(qemu.calls, ['abs 10,21', 'abs 0,599', 'abs 3,595']);
});

test('relative: motion from the last position; sub-pixel motion accumulates', async () => {
  const { qemu, target } = setup({ absolute: false });
  await done(target.move(100, 100)); // the reference: nothing sent
  await done(target.move(130, 90));
  for (let i = 0; i < 4; i++) await done(target.relative(0.25, -0.5));
  assert.deepEqual(qemu.calls, ['rel 30,-10', 'rel 0,-1', 'rel 1,-1']);
});

test('QEMU refusing the mouse mode is followed both ways, and the motion still happens', async () => {
  const { qemu, target, refreshes } = setup({ absolute: true });
  await done(target.move(100, 100));
  qemu.absolute = false; // the guest switched to a relative mouse
  await done(target.move(150, 120));
  assert.equal(target.absolute, false);
  await done(target.move(160, 120));
  qemu.absolute = true; // and back
  await done(target.move(170, 130));
  assert.equal(target.absolute, true);
  assert.deepEqual(qemu.calls, ['abs 100,100', 'rel 50,20', 'rel 10,0', 'abs 170,130']);
  assert.equal(refreshes(), 2);
});

test('keys and buttons held by two viewers are released only when both let go', async () => {
  const { qemu, target } = setup({ absolute: true });
  await done(target.key('a', 0x2a, true));
  await done(target.key('b', 0x2a, true));
  await done(target.button('a', 0, true));
  assert.equal(target.heldCount, 3);
  const r = target.releaseViewer('a');
  await r.sent;
  assert.equal(r.count, 2);
  assert.ok(target.holds('b'));
  assert.ok(!target.holds('a'));
  await done(target.key('b', 0x2a, false));
  // A release by a viewer that holds nothing still goes (a key held before a restart can be lifted).
  await done(target.key('c', 0x1e, false));
  assert.deepEqual(qemu.calls, [
    'press 42',
    'press 42',
    'mouse press 0',
    'mouse release 0',
    'release 42',
    'release 30',
  ]);
});

test('touch: viewers get free QEMU slots, ends free them, leaving cancels', async () => {
  const { qemu, target } = setup({ absolute: true, maxSlots: 2 });
  await done(target.touch('a', 5, 'begin', 1, 2));
  await done(target.touch('b', 5, 'begin', 3, 4));
  assert.deepEqual(target.touch('c', 0, 'begin', 5, 6), { dropped: 'touch_slots_full' });
  assert.deepEqual(target.touch('a', 6, 'update', 5, 6), { dropped: 'touch_not_active' });
  await done(target.touch('a', 5, 'update', 9000, 7));
  await done(target.touch('a', 5, 'end', 10, 7));
  await target.releaseViewer('b').sent;
  assert.deepEqual(qemu.calls, [
    'touch 0 0 1,2',
    'touch 0 1 3,4',
    'touch 1 0 799,7',
    'touch 2 0 10,7',
    'touch 3 1 0,0',
  ]);
  assert.equal(target.heldCount, 0);
  const none = setup({ absolute: true });
  assert.deepEqual(none.target.touch('a', 0, 'begin', 1, 1), { dropped: 'no_touch' });
});
