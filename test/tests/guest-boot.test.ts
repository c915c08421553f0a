// The test guest under real QEMU with the D-Bus display: it draws advancing frame numbers, and a key
// pressed through QEMU's D-Bus Keyboard interface reaches it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QemuConsole, VM_PATH, connectBus, readVmProperties } from '@qemu-webrtc/qemu-dbus';
import { QemuVm, readGuestStatus, waitFor } from '@qemu-webrtc/test-kit';
import { startDirAndBus } from '../harness/bus-and-nats.js';

test('the test guest boots under QEMU -display dbus, counts frames and shows D-Bus key presses', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const vm = await QemuVm.start(dir, { busAddress: bus.address, width: 1024, height: 768 });
  t.after(() => vm.stop());

  // Two screendumps a moment apart: the frame counter advances.
  const first = await waitFor('the guest to draw its status blocks', async () => {
    const img = await vm.screendump();
    return img.width === 1024 && img.height === 768 ? (readGuestStatus(img) ?? undefined) : undefined;
  });
  const second = await waitFor('the frame counter to advance', async () => {
    const s = readGuestStatus(await vm.screendump());
    return s && s.frame > first.frame ? s : undefined;
  });
  assert.ok(second.frame > first.frame, `frame ${second.frame} after ${first.frame}`);
  assert.equal(first.presses, 0);
  assert.equal(first.marker, false);

  // Press and release "A" (qnum 0x1e) through QEMU's D-Bus Keyboard interface.
  const client = connectBus(bus.address);
  t.after(() => client.disconnect());
  const vmProps = await waitFor(`QEMU's ${VM_PATH} on the bus`, () => readVmProperties(client));
  assert.deepEqual(vmProps.consoleIds, [0]);
  assert.equal(vmProps.name, 'test-guest');
  const keyboard = new QemuConsole(client, 0);
  await keyboard.keyPress(0x1e);
  await keyboard.keyRelease(0x1e);

  const after = await waitFor('the key to reach the guest', async () => {
    const s = readGuestStatus(await vm.screendump());
    return s && s.presses === 1 && s.held === 0 ? s : undefined;
  });
  assert.equal(after.scancode, 0x1e);
  assert.equal(after.marker, true, 'one press flips the marker to white');

  // An extended key (right Ctrl: qnum 0x9d = 0x80 | 0x1d, scancode E0 1D).
  await keyboard.keyPress(0x9d);
  await keyboard.keyRelease(0x9d);
  const extended = await waitFor('the extended key to reach the guest', async () => {
    const s = readGuestStatus(await vm.screendump());
    return s && s.presses === 2 && s.held === 0 ? s : undefined;
  });
  assert.equal(extended.scancode, 0xe01d);
  assert.equal(extended.marker, false);
});
