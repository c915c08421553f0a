// A pointer the guest can see: positions and motion sent as InputEvents move the test guest's
// crosshair (packages/demo-vm/guest/pointer.c) to the pixel sent, with a relative PS/2 mouse and with an absolute
// vmmouse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '@qemu-webrtc/test-kit';
import { findCrosshairs } from './crosshair.js';
import { InputHarness } from './input-harness.js';

async function crosshairAt(h: InputHarness, x: number, y: number, what: string): Promise<void> {
  let last: { x: number; y: number }[] = [];
  try {
    await waitFor(
      what,
      async () => {
        last = findCrosshairs(await h.vm.screendump());
        return last.length === 1 && last[0]?.x === x && last[0].y === y;
      },
      10_000,
      50,
    );
  } catch (error) {
    throw new Error(`${what}: want (${x}, ${y}), the screen shows ${JSON.stringify(last)}`, { cause: error });
  }
}

test('relative PS/2 mouse: positions land on the pixel sent, relative motion moves by the deltas', async (t) => {
  const h = await InputHarness.start(t, { qemu: { extraArgs: ['-append', '1024x768 pointer=ps2'] } });
  assert.equal(h.service.vmStatus()['test-vm']?.consoles[0]?.absolute, false);
  await crosshairAt(h, 512, 384, 'the crosshair at the centre');
  const send = async (body: Parameters<InputHarness['send']>[1]): Promise<void> => {
    await h.applied('p', h.send('p', body));
  };
  // The client knows where the guest's cursor is (it sees it): that position is the reference.
  await send({ move: { x: 512, y: 384 } });
  await send({ move: { x: 700.2, y: 499.6 } });
  await crosshairAt(h, 700, 500, 'moved to (700, 500)');
  await send({ move: { x: 150, y: 650 } });
  await crosshairAt(h, 150, 650, 'moved to (150, 650)');
  await send({ relative: { dx: 100.5, dy: -40.25 } });
  await send({ relative: { dx: 0.5, dy: -0.75 } });
  await crosshairAt(h, 251, 609, 'moved by (+101, -41)');
  // Big jumps span many PS/2 packets.
  await send({ move: { x: 780, y: 240 } });
  await crosshairAt(h, 780, 240, 'moved to (780, 240)');
});

test('absolute vmmouse: the mouse mode switch is followed, positions land on the pixel sent', async (t) => {
  const h = await InputHarness.start(t, { qemu: { extraArgs: ['-append', '1024x768 pointer=vmmouse'] } });
  await waitFor(
    'QEMU to report an absolute mouse',
    () => h.service.vmStatus()['test-vm']?.consoles[0]?.absolute,
  );
  const send = async (body: Parameters<InputHarness['send']>[1]): Promise<void> => {
    await h.applied('p', h.send('p', body));
  };
  for (const [x, y] of [
    [100, 300],
    [1000, 740],
    [333, 555],
    [777, 123],
  ] as const) {
    await send({ move: { x, y } });
    await crosshairAt(h, x, y, `at (${x}, ${y})`);
  }
  await send({ relative: { dx: -33, dy: 45 } });
  await crosshairAt(h, 744, 168, 'relative motion moves the absolute position');
});
