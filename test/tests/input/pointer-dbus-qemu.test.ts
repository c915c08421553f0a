// Pointer, wheel and touch against real QEMU with an absolute pointer (the guest's vmmouse) and a
// multi-touch device: what QEMU receives is read from its own trace (dbus_mouse_*, dbus_touch_*).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@qemu-webrtc/test-kit';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { InputHarness, metricValue } from './input-harness.js';

const { TouchPhase } = qemu_webrtc.v1;

/** QEMU's trace lines for one event name, as "arg arg ..." strings, in order. */
function traced(h: InputHarness, event: string): string[] {
  const out: string[] = [];
  for (const line of h.vm.process.output.split('\n')) {
    const i = line.indexOf(`${event} `);
    if (i >= 0) out.push(line.slice(i + event.length + 1).trim());
  }
  return out;
}

test('absolute pointer, clamping that follows a resize, buttons, wheel clicks and touch reach QEMU', async (t) => {
  const h = await InputHarness.start(t, {
    qemu: {
      width: 1024,
      height: 768,
      extraArgs: [
        '-append',
        '1024x768,640x480 pointer=vmmouse',
        '-device',
        'virtio-multitouch-pci',
        '-trace',
        'dbus_mouse_*',
        '-trace',
        'dbus_touch_*',
      ],
    },
    env: { INPUT_WHEEL_STEP_PX: '100' },
  });
  const con = () => h.service.vmStatus()['test-vm']?.consoles[0];
  await waitFor('the guest to make the mouse absolute', () => con()?.absolute);
  assert.ok((con()?.touchSlots ?? 0) > 0, 'QEMU offers MultiTouch');

  let last = 0;
  const send = (body: Parameters<InputHarness['send']>[1]): Promise<void> =>
    h.applied('p', (last = h.send('p', body)));

  await send({ move: { x: 100.4, y: 200.6 } });
  await send({ move: { x: 5000, y: -20 } }); // clamped to the console
  h.send('p', { move: { x: 1e9, y: 0 } }); // absurd: dropped (later events show it was handled)
  await send({ button: { button: 3, down: true } }); // back -> side (5)
  await send({ button: { button: 3, down: false } });
  h.send('p', { button: { button: 9, down: true } }); // dropped
  for (let i = 0; i < 3; i++) await send({ wheel: { dx: 0, dy: 40 } }); // 120 px: one click down
  await send({ wheel: { dx: 0, dy: -250 } }); // reversal: two clicks up
  await send({ wheel: { dx: 150, dy: 0 } }); // one click right
  await send({ touch: { slot: 2, phase: TouchPhase.TOUCH_PHASE_BEGIN, x: 10, y: 20 } });
  await send({ touch: { slot: 2, phase: TouchPhase.TOUCH_PHASE_UPDATE, x: 2000, y: 30 } });
  await send({ touch: { slot: 2, phase: TouchPhase.TOUCH_PHASE_END, x: 12, y: 30 } });
  h.send('p', { touch: { slot: 2, phase: TouchPhase.TOUCH_PHASE_UPDATE, x: 12, y: 30 } }); // ended: dropped

  await waitFor('QEMU to trace the touches', () => traced(h, 'dbus_touch_send_event').length >= 3);
  assert.deepEqual(
    traced(h, 'dbus_mouse_set_pos'),
    ['x=100, y=201', 'x=1023, y=0'].map((s) => s),
    'positions',
  );
  assert.deepEqual(
    traced(h, 'dbus_mouse_press'),
    ['button 5', 'button 4', 'button 3', 'button 3', 'button 8'],
    'presses: side, wheel down, 2 x wheel up, wheel right',
  );
  assert.equal(traced(h, 'dbus_mouse_release').length, 5);
  assert.equal(traced(h, 'dbus_touch_send_event').length, 3);

  // The guest switches to 640x480 (F12): the service follows the console size and clamps to it.
  await send({ key: { code: 'F12', down: true } });
  await send({ key: { code: 'F12', down: false } });
  // QEMU notices the new mode when the display is refreshed: a listener (capture) does that; here
  // a screendump does.
  await waitFor('the new console size', async () => {
    await h.vm.screendump();
    return con()?.width === 640 && con()?.height === 480;
  });
  await send({ move: { x: 1000, y: 700 } });
  assert.equal(traced(h, 'dbus_mouse_set_pos').at(-1), 'x=639, y=479');

  const text = await h.metricsText();
  const errors = text
    .split('\n')
    .filter((l) => l.startsWith('input_dbus_calls_total{') && !l.includes('result="ok"'));
  assert.deepEqual(errors, [], 'QEMU refused nothing');
  assert.equal(metricValue(text, 'input_events_dropped_total{reason="out_of_range"}'), 1);
  assert.equal(metricValue(text, 'input_events_dropped_total{reason="bad_button"}'), 1);
  assert.equal(metricValue(text, 'input_events_dropped_total{reason="touch_not_active"}'), 1);
  assert.ok(metricValue(text, 'input_positions_clamped_total') >= 3);
  assert.ok(last > 0);
});
