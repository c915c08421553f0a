// The service follows QEMU and the bus: QEMU restarted on the same bus, and the bus daemon itself
// restarted, and keys reach the new guest each time. Events while QEMU is away are dropped, counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DbusDaemon, QemuVm, readGuestStatus, waitFor } from '@qemu-webrtc/test-kit';
import { InputHarness, metricValue } from './input-harness.js';

async function pressReaches(h: InputHarness, vm: QemuVm, viewer: string, code: string, scancode: number) {
  // Keep pressing until the service has the new QEMU's consoles (events before that are dropped).
  await waitFor(
    `${code} to reach the new guest`,
    async () => {
      h.send(viewer, { key: { code, down: true } });
      h.send(viewer, { key: { code, down: false } });
      await new Promise((r) => setTimeout(r, 150));
      const s = readGuestStatus(await vm.screendump());
      return s && s.presses > 0 && s.scancode === scancode && s.held === 0 ? s : undefined;
    },
    30_000,
    100,
  );
}

test('QEMU restarts and bus daemon restarts are followed', async (t) => {
  const h = await InputHarness.start(t);
  await pressReaches(h, h.vm, 'v', 'KeyA', 0x1e);

  // QEMU goes away: the VM is down, events are dropped (not queued for later).
  await h.vm.stop();
  await waitFor('the service to see QEMU gone', () => h.service.vmStatus()['test-vm']?.up === false);
  h.send('v', { key: { code: 'KeyB', down: true } });
  await waitFor('a drop for the missing VM', async () =>
    metricValue(await h.metricsText(), 'input_events_dropped_total{reason="vm_unavailable"}') > 0
      ? true
      : undefined,
  );
  assert.equal((await h.health()).status, 200, 'the service stays healthy without QEMU');

  // A new QEMU on the same bus.
  const vm2 = await QemuVm.start(h.dir, { busAddress: h.bus.address, width: 1024, height: 768 });
  t.after(() => vm2.stop());
  await pressReaches(h, vm2, 'v', 'KeyS', 0x1f);
  await vm2.stop();

  // The bus daemon goes away and comes back at the same address, then QEMU.
  await h.bus.stop();
  await waitFor('the service to lose the bus', () => h.service.vmStatus()['test-vm']?.bus === false);
  const bus2 = await DbusDaemon.start(h.dir);
  t.after(() => bus2.stop());
  assert.equal(bus2.address.split(',')[0], h.bus.address.split(',')[0], 'the same socket path');
  const vm3 = await QemuVm.start(h.dir, { busAddress: bus2.address, width: 1024, height: 768 });
  t.after(() => vm3.stop());
  await pressReaches(h, vm3, 'v', 'KeyD', 0x20);
  const text = await h.metricsText();
  assert.ok(metricValue(text, 'input_bus_connects_total{vm="test-vm"}') >= 2);
  assert.equal(metricValue(text, 'input_vm_up{vm="test-vm"}'), 1);
});
