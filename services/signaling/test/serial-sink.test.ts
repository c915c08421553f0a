// A page's serial sink: scrollback then live output, each byte once and in order, gaps refilled
// by a replay, a restarted owner (new epoch) followed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SerialStatus } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { SerialSink, type SerialHub } from '../src/serial-hub.js';

/** Stands in for the hub: records the replays the sink asks for. */
function setup(): {
  sink: SerialSink;
  out: string[];
  replays: { id: number; epoch: number; from: number }[];
  statuses: SerialStatus[];
} {
  const out: string[] = [];
  const replays: { id: number; epoch: number; from: number }[] = [];
  const statuses: SerialStatus[] = [];
  const hub = {
    replay: (_vm: string, _c: string, id: number, epoch: number, from: number) =>
      replays.push({ id, epoch, from }),
    remove: () => undefined,
  } as unknown as SerialHub;
  const sink = new SerialSink(hub, 'vm1', undefined, 'v1', {
    data: (b) => out.push(Buffer.from(b).toString()),
    status: (s) => statuses.push(s),
    buffered: () => 0,
  });
  sink.onState(
    qemu_webrtc.v1.SerialState.create({
      vmId: 'vm1',
      qemuUp: true,
      chardevs: [{ chardev: 'ser0', name: 'org.qemu.console.serial.0', connected: true, epoch: 7 }],
    }),
    false,
  );
  return { sink, out, replays, statuses };
}

const data = (
  offset: number,
  text: string,
  extra: Partial<qemu_webrtc.v1.ISerialData> = {},
): qemu_webrtc.v1.SerialData =>
  qemu_webrtc.v1.SerialData.create({
    vmId: 'vm1',
    chardev: 'ser0',
    epoch: 7,
    offset,
    data: Buffer.from(text),
    ...extra,
  });

test('replay first, live chunks that came meanwhile after it, overlaps cut, nothing twice', () => {
  const { sink, out, replays, statuses } = setup();
  assert.equal(replays.length, 1);
  assert.equal(statuses.at(-1)?.connected, true);
  const id = replays[0]?.id ?? 0;
  sink.onData(data(5, 'fgh')); // live, before the replay's answer: held
  assert.deepEqual(out, []);
  sink.onData(data(0, 'abcdefg', { replayId: id }));
  sink.onData(data(8, 'ij'));
  assert.equal(out.join(''), 'abcdefghij');
});

test('a gap asks for a replay from where the page is; a new epoch starts over', () => {
  const { sink, out, replays } = setup();
  sink.onData(data(0, 'abc', { replayId: replays[0]?.id ?? 0 }));
  sink.onData(data(6, 'ghi')); // 3..5 lost on the way
  assert.deepEqual(replays.at(-1), { id: replays.at(-1)?.id, epoch: 7, from: 3 });
  sink.onData(data(3, 'defghi', { replayId: replays.at(-1)?.id ?? 0 }));
  assert.equal(out.join(''), 'abcdefghi');
  sink.onData(data(0, 'new', { epoch: 8 }));
  const again = replays.at(-1);
  assert.ok(again);
  assert.equal(again.epoch, 0);
  sink.onData(data(0, 'new!', { epoch: 8, replayId: again.id }));
  assert.equal(out.join(''), 'abcdefghinew!');
});
