// Motion is latest-wins at the input service (issue 18), against real QEMU: what QEMU receives is
// read from its own trace (dbus_mouse_*, dbus_kbd_*), in order. A burst of 5,000 moves published
// on NATS (as an old or hostile signaling would) reaches QEMU as far fewer SetAbsPosition calls;
// a button press comes right after the last position sent before it; the key after the burst
// arrives; relative motion is summed, never dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@qemu-webrtc/test-kit';
import { InputHarness, metricValue } from './input-harness.js';

const MOVES = 5000;

/** QEMU's dbus_mouse_* and dbus_kbd_* trace lines, in order, as "event args". */
function traced(h: InputHarness): string[] {
  const out: string[] = [];
  for (const line of h.vm.process.output.split('\n')) {
    const m = /(dbus_(?:mouse|kbd)_\w+) (.*)$/.exec(line);
    if (m) out.push(`${m[1]} ${m[2]?.trim()}`);
  }
  return out;
}

const TRACE = ['-trace', 'dbus_mouse_*', '-trace', 'dbus_kbd_*'];
const pos = (i: number): { x: number; y: number } => ({ x: (i * 7) % 1024, y: (i * 13) % 768 });

test('5,000 moves then a click and a key: coalesced, the click at the last position, in order', async (t) => {
  const h = await InputHarness.start(t, {
    qemu: { width: 1024, height: 768, extraArgs: ['-append', '1024x768 pointer=vmmouse', ...TRACE] },
  });
  await waitFor(
    'the guest to make the mouse absolute',
    () => h.service.vmStatus()['test-vm']?.consoles[0]?.absolute,
  );

  for (let i = 0; i < MOVES; i++) h.send('v', { move: pos(i) });
  h.send('v', { button: { button: 0, down: true } });
  for (let i = MOVES; i < 2 * MOVES; i++) h.send('v', { move: pos(i) });
  h.send('v', { button: { button: 0, down: false } });
  h.send('v', { key: { code: 'KeyA', down: true } });
  await h.applied('v', h.send('v', { key: { code: 'KeyA', down: false } }), 60_000);
  // QEMU's trace (its stderr) may come in after the reply.
  const trace = await waitFor('QEMU to trace the key release', () => {
    const lines = traced(h);
    return lines.some((l) => l.startsWith('dbus_kbd_release')) ? lines : undefined;
  });
  const setPos = trace.filter((l) => l.startsWith('dbus_mouse_set_pos'));
  t.diagnostic(`${2 * MOVES} moves published, ${setPos.length} SetAbsPosition calls reached QEMU`);
  assert.ok(setPos.length < (2 * MOVES) / 10, `coalesced: ${setPos.length} calls`);
  const press = trace.findIndex((l) => l.startsWith('dbus_mouse_press'));
  const release = trace.findIndex((l) => l.startsWith('dbus_mouse_release'));
  const key = trace.findIndex((l) => l.startsWith('dbus_kbd_press'));
  assert.ok(
    press >= 0 && release > press && key > release,
    `press, release, key in order:\n${trace.filter((l) => !l.includes('set_pos')).join('\n')}`,
  );
  const at = (p: { x: number; y: number }): string => `dbus_mouse_set_pos x=${p.x}, y=${p.y}`;
  assert.equal(
    trace.slice(0, press).findLast((l) => l.startsWith('dbus_mouse_set_pos')),
    at(pos(MOVES - 1)),
  );
  assert.equal(
    trace.slice(press, release).findLast((l) => l.startsWith('dbus_mouse_set_pos')),
    at(pos(2 * MOVES - 1)),
  );
  const text = await h.metricsText();
  assert.equal(metricValue(text, 'input_events_dropped_total{reason="rate_limited"}'), 0);
  assert.equal(metricValue(text, 'input_events_dropped_total{reason="backlog"}'), 0);
  assert.ok(metricValue(text, 'input_events_coalesced_total{kind="move"}') > MOVES);
});

test('relative motion is summed at QEMU, never dropped', async (t) => {
  const h = await InputHarness.start(t, { qemu: { extraArgs: TRACE } });
  await waitFor('a relative mouse', () => h.service.vmStatus()['test-vm']?.consoles[0]?.absolute === false);
  for (let i = 0; i < MOVES; i++) h.send('r', { relative: { dx: 1, dy: -2 } });
  await h.applied('r', h.send('r', { key: { code: 'KeyB', down: false } }), 60_000);
  await waitFor('QEMU to trace the last motion', () => {
    const rel = traced(h).filter((l) => l.startsWith('dbus_mouse_rel_motion'));
    const sum = rel.reduce((n, l) => n + Number(/dx=(-?\d+)/.exec(l)?.[1] ?? 0), 0);
    return sum === MOVES ? rel : undefined;
  });
  const rel = traced(h).filter((l) => l.startsWith('dbus_mouse_rel_motion'));
  const dy = rel.reduce((n, l) => n + Number(/dy=(-?\d+)/.exec(l)?.[1] ?? 0), 0);
  t.diagnostic(`${MOVES} relative events, ${rel.length} RelMotion calls reached QEMU`);
  assert.equal(dy, -2 * MOVES);
  assert.ok(rel.length < MOVES / 10, `coalesced: ${rel.length} calls`);
});
