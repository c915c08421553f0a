// Thousands of malformed and hostile events: QEMU and the service keep running, the guest sees none
// of them, and every drop is counted in /metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { waitFor } from '@qemu-webrtc/test-kit';
import { InputHarness, VM_ID, metricValue } from './input-harness.js';

const { InputEvent, TouchPhase } = qemu_webrtc.v1;

/** A deterministic pseudo-random generator (xorshift32). */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

test('a burst of malformed and hostile events leaves QEMU, the service and the guest unaffected', async (t) => {
  const h = await InputHarness.start(t, {
    env: { INPUT_MAX_VIEWERS: '50', INPUT_RATE_PER_S: '200', INPUT_BURST: '100' },
  });
  const before = await h.guest(() => true, 'status');
  const rand = rng(42);
  const int = (n: number): number => Math.floor(rand() * n);
  let seq = 1_000_000;
  const ev = (body: Partial<qemu_webrtc.v1.IInputEvent>): qemu_webrtc.v1.IInputEvent => ({
    vmId: VM_ID,
    viewerId: 'hostile',
    sequence: seq++,
    ...body,
  });
  const bad: { ev: qemu_webrtc.v1.IInputEvent; subjectVm?: string }[] = [];
  const hugeNumbers = [NaN, Infinity, -Infinity, 1e300, -1e300, 1e9, -1e9, 2 ** 53, -100_001];
  for (let i = 0; i < 400; i++) {
    const code = ['', 'keya', 'Key', 'KeyAA', '__proto__', 'x'.repeat(1 + int(5000)), String(int(1e6))][
      i % 7
    ];
    bad.push({ ev: ev({ key: { code, down: i % 2 === 0 } }) });
  }
  for (let i = 0; i < 400; i++) {
    const x = hugeNumbers[i % hugeNumbers.length] ?? NaN;
    const y = i % 3 === 0 ? 10 : (hugeNumbers[(i * 7) % hugeNumbers.length] ?? NaN);
    bad.push({ ev: ev({ move: { x, y } }) });
    bad.push({ ev: ev({ relative: { dx: x, dy: y } }) });
    bad.push({ ev: ev({ wheel: { dx: y, dy: x } }) });
    bad.push({ ev: ev({ touch: { slot: 0, phase: TouchPhase.TOUCH_PHASE_BEGIN, x, y } }) });
  }
  for (let i = 0; i < 300; i++) {
    const button = [5, 6, 7, 8, 9, 10, 11, 255, 65535, 4294967295][i % 10];
    bad.push({ ev: ev({ button: { button, down: true } }) });
  }
  for (let i = 0; i < 200; i++) {
    bad.push({ ev: ev({ touch: { slot: 64 + int(1e6), phase: TouchPhase.TOUCH_PHASE_BEGIN, x: 1, y: 1 } }) });
    bad.push({
      // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- hostile: phases the enum lacks
      ev: ev({ touch: { slot: 0, phase: (5 + int(100)) as qemu_webrtc.v1.TouchPhase, x: 1, y: 1 } }),
    });
  }
  for (let i = 0; i < 300; i++) {
    // Unknown VMs, on their own subject and smuggled onto this VM's subject.
    bad.push({ ev: ev({ vmId: `nosuch${i % 7}`, key: { code: 'KeyA', down: true } }) });
    bad.push({ ev: ev({ vmId: `other`, key: { code: 'KeyA', down: true } }), subjectVm: VM_ID });
  }
  for (let i = 0; i < 200; i++) {
    bad.push({ ev: ev({ viewerId: '', key: { code: 'KeyA', down: true } }) });
    bad.push({ ev: ev({ viewerId: 'v'.repeat(129), key: { code: 'KeyA', down: true } }) });
    bad.push({ ev: ev({ consoleId: 1 + int(0xffff), key: { code: 'KeyA', down: true } }) });
    bad.push({
      ev: ev({ sequence: [2 ** 53 + 2, 2 ** 60, 2 ** 63][i % 3], key: { code: 'KeyA', down: true } }),
    });
    bad.push({ ev: ev({}) });
    bad.push({ ev: ev({ key: { code: 'KeyA', down: true }, button: { button: 0, down: true } }) });
    // Stale: a sequence below this viewer's newest.
    bad.push({ ev: ev({ sequence: 1 + int(1000), key: { code: 'KeyA', down: true } }) });
  }
  let garbage = 0;
  for (const e of bad) {
    const subjectVm = e.subjectVm ?? e.ev.vmId ?? VM_ID;
    h.nc.publish(
      subjects.input(/^[A-Za-z0-9_-]+$/.test(subjectVm) ? subjectVm : VM_ID),
      InputEvent.encode(e.ev).finish(),
    );
  }
  for (let i = 0; i < 500; i++) {
    const bytes = new Uint8Array(1 + int(300)).map(() => int(256));
    h.nc.publish(subjects.input(VM_ID), bytes);
    garbage++;
  }
  // Floods of valid input: pointer motion from one viewer (coalesced: latest wins), wheel far over
  // its rate (1 px each: at most a few clicks pass), and more viewers than allowed.
  let flood = 0;
  for (let i = 0; i < 3000; i++, flood++) {
    h.nc.publish(
      subjects.input(VM_ID),
      InputEvent.encode(ev({ viewerId: 'flooder', move: { x: i % 1000, y: i % 700 } })).finish(),
    );
  }
  for (let i = 0; i < 3000; i++, flood++) {
    h.nc.publish(
      subjects.input(VM_ID),
      InputEvent.encode(ev({ viewerId: 'flooder', wheel: { dx: 0, dy: 1 } })).finish(),
    );
  }
  for (let i = 0; i < 300; i++, flood++) {
    h.nc.publish(
      subjects.input(VM_ID),
      InputEvent.encode(ev({ viewerId: `crowd-${i}`, move: { x: 5, y: 5 } })).finish(),
    );
  }
  await h.nc.flush();
  const total = bad.length + garbage + flood;
  assert.ok(total > 8000, `${total} events`);

  const sum = (m: string, prefix: string): number =>
    m
      .split('\n')
      .filter((l) => l.startsWith(prefix))
      .reduce((n, l) => n + Number(l.split(' ')[1]), 0);
  // Coalesced motion counts as applied once the call it merged into returned.
  const text = await waitFor(
    'the service to take every event',
    async () => {
      const m = await h.metricsText();
      const settled = sum(m, 'input_events_dropped_total{') + sum(m, 'input_events_applied_total{') >= total;
      return metricValue(m, 'input_events_received_total') >= total && settled ? m : undefined;
    },
    30_000,
  );
  const dropped = (reason: string): number =>
    metricValue(text, `input_events_dropped_total{reason="${reason}"}`);
  for (const reason of [
    'undecodable',
    'unknown_code',
    'bad_number',
    'out_of_range',
    'bad_button',
    'bad_touch',
    'unknown_vm',
    'subject_mismatch',
    'bad_viewer',
    'bad_sequence',
    'empty',
    'ambiguous',
    'stale_sequence',
    'rate_limited',
    'too_many_viewers',
  ]) {
    assert.ok(dropped(reason) > 0, `drops counted for ${reason}`);
  }
  const allDropped = sum(text, 'input_events_dropped_total{');
  const applied = sum(text, 'input_events_applied_total{');
  // Every event was either applied (only valid pointer motion and wheel) or dropped, and counted.
  assert.equal(allDropped + applied, total, `dropped ${allDropped} + applied ${applied}`);
  const wheels = metricValue(text, 'input_events_applied_total{kind="wheel"}');
  assert.ok(wheels < 1000, `${wheels} wheel events applied: only those within the rate`);
  const motionCalls =
    metricValue(text, 'input_dbus_calls_total{method="Mouse.SetAbsPosition",result="ok"}') +
    metricValue(text, 'input_dbus_calls_total{method="Mouse.RelMotion",result="ok"}');
  t.diagnostic(`3,300 moves reached QEMU as ${motionCalls} motion calls`);
  assert.ok(motionCalls < 1000, `3,300 moves reached QEMU as ${motionCalls} motion calls (coalesced)`);
  assert.ok(dropped('rate_limited') > 2000, `${dropped('rate_limited')} rate-limited`);
  assert.equal(dropped('too_many_viewers'), 300 - 48, 'viewers beyond INPUT_MAX_VIEWERS');
  assert.equal(metricValue(text, 'input_events_applied_total{kind="key"}'), 0);
  assert.equal(metricValue(text, 'input_events_applied_total{kind="button"}'), 0);

  // QEMU is still running, the service is healthy, the guest saw nothing.
  assert.ok(h.vm.process.running, 'QEMU is running');
  const status = await h.vm.qmp.execute('query-status');
  assert.ok(JSON.stringify(status).includes('running'), JSON.stringify(status));
  const health = await h.health();
  assert.equal(health.status, 200);
  const after = await h.guest((s) => s.frame > before.frame, 'the guest still draws');
  assert.equal(after.presses, before.presses, 'no key reached the guest');
  assert.equal(after.held, 0);

  // And the service still works.
  // (A known viewer: new ones wait until a silent one can be forgotten, INPUT_MAX_VIEWERS.)
  h.publish(ev({ viewerId: 'flooder', key: { code: 'KeyZ', down: true } }));
  h.publish(ev({ viewerId: 'flooder', key: { code: 'KeyZ', down: false } }));
  const z = await h.guest(
    (s) => s.presses === before.presses + 1 && s.held === 0,
    'a real key after the storm',
  );
  assert.equal(z.scancode, 0x2c);
});
