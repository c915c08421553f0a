// Pure parts: configuration, event validation, button mapping, wheel steps, the rate limiter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { isSafeQemuButton, qemuButtonOf } from '../src/buttons.js';
import { parseVmRoutes } from '../src/config.js';
import { TokenBucket } from '../src/token-bucket.js';
import { decodeInputEvent, validateInputEvent, type Validation } from '../src/validate.js';
import { WheelAccumulator } from '../src/wheel.js';

const { InputEvent, TouchPhase } = qemu_webrtc.v1;
const base = { vmId: 'vm1', consoleId: 0, viewerId: 'v', sequence: 1 };
const reason = (v: Validation): string => (v.ok ? 'ok' : v.reason);

test('INPUT_VMS: several VMs, D-Bus addresses with commas of their own', () => {
  assert.deepEqual(parseVmRoutes('a=unix:path=/run/a/bus.sock,guid=0123,b-2=unix:path=/run/b.sock'), [
    { id: 'a', address: 'unix:path=/run/a/bus.sock,guid=0123' },
    { id: 'b-2', address: 'unix:path=/run/b.sock' },
  ]);
  assert.deepEqual(parseVmRoutes('x=unix:abstract=foo; y=tcp:host=127.0.0.1,port=1\n'), [
    { id: 'x', address: 'unix:abstract=foo' },
    { id: 'y', address: 'tcp:host=127.0.0.1,port=1' },
  ]);
  for (const bad of ['', 'novalue', 'a.b=unix:path=/x', 'a=/no/transport', 'a=unix:path=/x,a=unix:path=/y']) {
    assert.throws(() => parseVmRoutes(bad), TypeError, bad);
  }
});

test('browser buttons map to QEMU buttons; nothing QEMU aborts on ever maps', () => {
  assert.deepEqual([0, 1, 2, 3, 4].map(qemuButtonOf), [0, 1, 2, 5, 6]);
  for (const b of [5, 6, 9, 10, 255, 4294967295, -1, 0.5, NaN])
    assert.equal(qemuButtonOf(b), undefined, `${b}`);
  for (const b of [9, 10, 4294967295, -1]) assert.equal(isSafeQemuButton(b), false);
});

test('valid events become actions; malformed ones are dropped with a reason', () => {
  const ok = validateInputEvent({ ...base, key: { code: 'KeyA', down: true } }, 'vm1');
  assert.ok(ok.ok);
  assert.deepEqual(ok.event.action, { kind: 'key', code: 'KeyA', qnum: 0x1e, down: true });
  const cases: [qemu_webrtc.v1.IInputEvent, string][] = [
    [{ ...base, key: { code: 'NoSuchKey', down: true } }, 'unknown_code'],
    [{ ...base, key: { code: 'K'.repeat(10_000), down: true } }, 'unknown_code'],
    [{ ...base, move: { x: NaN, y: 1 } }, 'bad_number'],
    [{ ...base, move: { x: Infinity, y: 1 } }, 'bad_number'],
    [{ ...base, move: { x: 1e9, y: 1 } }, 'out_of_range'],
    [{ ...base, move: { x: -1e9, y: 1 } }, 'out_of_range'],
    [{ ...base, relative: { dx: 1e7, dy: 0 } }, 'out_of_range'],
    [{ ...base, wheel: { dx: 0, dy: -Infinity } }, 'bad_number'],
    [{ ...base, button: { button: 9, down: true } }, 'bad_button'],
    [{ ...base, button: { button: 10, down: true } }, 'bad_button'],
    [{ ...base, button: { button: 4294967295, down: true } }, 'bad_button'],
    [{ ...base, touch: { slot: 99, phase: TouchPhase.TOUCH_PHASE_BEGIN, x: 1, y: 1 } }, 'bad_touch'],
    [{ ...base, touch: { slot: 0, phase: TouchPhase.TOUCH_PHASE_UNSPECIFIED, x: 1, y: 1 } }, 'bad_touch'],
    [{ ...base }, 'empty'],
    [{ ...base, key: { code: 'KeyA' }, move: { x: 1, y: 1 } }, 'ambiguous'],
    [{ ...base, vmId: '', releaseAll: {} }, 'bad_vm_id'],
    [{ ...base, vmId: 'a.b', releaseAll: {} }, 'bad_vm_id'],
    [{ ...base, vmId: 'other', releaseAll: {} }, 'subject_mismatch'],
    [{ ...base, viewerId: '', releaseAll: {} }, 'bad_viewer'],
    [{ ...base, viewerId: 'a\n1', releaseAll: {} }, 'bad_viewer'],
    [{ ...base, viewerId: '../v', releaseAll: {} }, 'bad_viewer'],
    [{ ...base, consoleId: 70_000, releaseAll: {} }, 'bad_console'],
  ];
  for (const [ev, want] of cases)
    assert.equal(reason(validateInputEvent(ev, 'vm1')), want, JSON.stringify(ev));
  assert.equal(
    reason(decodeInputEvent(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), 'vm1')),
    'undecodable',
  );
  const wire = InputEvent.encode({ ...base, sequence: 2 ** 60, releaseAll: {} }).finish();
  assert.equal(reason(decodeInputEvent(wire, 'vm1')), 'bad_sequence');
});

test('wheel: fractional pixel deltas accumulate into whole clicks, a reversal starts over', () => {
  const w = new WheelAccumulator(100);
  assert.deepEqual(w.add(0, 40), []);
  assert.deepEqual(w.add(0, 40), []);
  assert.deepEqual(w.add(0, 40), [4]); // 120: one click down, 20 left
  assert.deepEqual(w.add(0, 80), [4]);
  assert.deepEqual(w.add(0, -150), [3]); // reversal: the 0 left is dropped, -150 -> one up
  assert.deepEqual(w.add(-250, 0), [7, 7]);
  assert.deepEqual(w.add(100, 0), [8]);
  assert.equal(w.add(0, 1e9).length, 20, 'clicks per event are capped');
});

test('token bucket: a burst, then the rate', () => {
  const b = new TokenBucket(10, 5, 0);
  let n = 0;
  for (let i = 0; i < 100; i++) if (b.take(0)) n++;
  assert.equal(n, 5);
  assert.equal(b.take(50), false);
  assert.equal(b.take(100), true);
  assert.equal(b.take(100), false);
});
