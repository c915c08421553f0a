// Held keys survive an input restart: a viewer holds KeyP, input is killed (SIGKILL, its record of
// who holds what is gone) and started again, then the viewer leaves. Signaling's leave events name
// every held key (InputGate.releaseAll, what signaling's Viewer.close publishes), so the new input
// process lifts KeyP in the guest; another viewer's key held across the same restart stays held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { InputGate } from '@qemu-webrtc/signaling/input';
import { ManagedProcess, QemuVm, readGuestStatus, waitFor, type GuestStatus } from '@qemu-webrtc/test-kit';
import { startBusAndNats } from '../../harness/bus-and-nats.js';

const { InputEvent } = qemu_webrtc.v1;
const MAIN = fileURLToPath(import.meta.resolve('@qemu-webrtc/input/main'));
const VM_ID = 'test-vm';

test('keys held before input was killed are released when their viewer leaves', async (t) => {
  const { dir, bus, nats, nc } = await startBusAndNats((fn) => t.after(fn));
  const vm = await QemuVm.start(dir, { busAddress: bus.address, width: 1024, height: 768 });
  t.after(() => vm.stop());

  const startInput = async (): Promise<ManagedProcess> => {
    const input = new ManagedProcess('input', process.execPath, ['--enable-source-maps', MAIN], {
      env: {
        ...process.env,
        NATS_URL: nats.url,
        INPUT_VMS: `${VM_ID}=${bus.address.replace(/,guid=[0-9a-f]+/, '')}`,
        METRICS_PORT: '0',
        LOG_LEVEL: 'info',
      },
    });
    t.after(() => input.stop());
    await input.waitForOutput(/QEMU is on the bus/, 30_000);
    return input;
  };
  const guest = (ok: (s: GuestStatus) => boolean, what: string): Promise<GuestStatus> =>
    waitFor(
      what,
      async () => {
        const s = readGuestStatus(await vm.screendump());
        return s && ok(s) ? s : undefined;
      },
      15_000,
      50,
    );
  const publish = (events: qemu_webrtc.v1.IInputEvent[]): void => {
    for (const ev of events) nc.publish(subjects.input(VM_ID), InputEvent.encode(ev).finish());
  };
  // Each gate publishes what it lets through, as a viewer's does to NATS.
  const gate = (viewer: string): InputGate =>
    new InputGate(viewer, 'control', VM_ID, 0, 100, 100, (event) => publish([event]));
  const press = (g: InputGate, code: string): void => {
    const r = g.handle(JSON.stringify({ t: 'key', code, down: true }));
    assert.ok(r.ok, 'a control viewer may press keys');
  };

  await guest((s) => s.frame > 0, 'the guest to draw');
  const first = await startInput();
  const a = gate('viewer-a');
  const b = gate('viewer-b');
  press(a, 'KeyP');
  press(b, 'ShiftLeft');
  await guest((s) => s.held === 2, 'KeyP and Shift held');

  await first.kill(); // no release: the guest keeps both keys down
  await startInput();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(readGuestStatus(await vm.screendump())?.held, 2, 'still held after the restart');

  publish(a.releaseAll()); // viewer a leaves
  await guest((s) => s.held === 1, "a's KeyP is released by the new input process");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(readGuestStatus(await vm.screendump())?.held, 1, "b's Shift stays held");
  publish(b.releaseAll());
  await guest((s) => s.held === 0, 'nothing held once both left');
});
