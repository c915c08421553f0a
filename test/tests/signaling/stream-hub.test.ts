// One encoded stream feeding many viewers (FrameSinks standing in for video tracks): viewers start
// at an IDR, joining asks for one, an encoder hand-over or a lost access unit makes every viewer
// wait for the next IDR, and keyframe requests are rate-limited per stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishProto, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { waitFor } from '@qemu-webrtc/test-kit';
import type { FrameSink } from '@qemu-webrtc/signaling/stream-hub';
import { Signaling, SyntheticEncoder } from './harness.js';

const stream = { vmId: 'vm-1', consoleId: 0, rendition: 'full' };

class RecordingSink implements FrameSink {
  readonly frames: { keyframe: boolean; ts: number; bytes: number }[] = [];
  ready = false;
  constructor(readonly id: string) {}
  sendFrame(data: Buffer, ts: number, keyframe: boolean): void {
    this.frames.push({ keyframe, ts, bytes: data.byteLength });
  }
}

test('viewers start at an IDR, on joining and after a hand-over or a lost access unit', async (t) => {
  const s = await Signaling.start(t, { KEYFRAME_MIN_INTERVAL_MS: '100' });
  const enc = new SyntheticEncoder(s.nc, stream);
  s.defer(() => enc.close());
  const requests = s.recordKeyframeRequests(stream);
  const hub = s.service.hub;

  const first = new RecordingSink('first');
  const detachFirst = hub.attach(stream, first);
  s.defer(detachFirst);
  enc.start(30);
  await waitFor('the stream to run past its IDR', () => enc.published.length > 10);
  assert.equal(first.frames.length, 0, 'nothing before the sink is ready');
  first.ready = true;
  hub.sinkReady(stream, first.id);
  await waitFor('frames', () => first.frames.length >= 5);
  assert.ok(first.frames[0]?.keyframe, 'starts at an IDR');
  assert.ok(
    first.frames.slice(1).some((f) => !f.keyframe),
    'then P frames',
  );
  assert.equal(requests.filter((r) => r.reason === 'join').length >= 1, true);
  assert.equal(requests[0]?.requester, 'signaling');

  // A second viewer joins mid-stream: the first is not disturbed, the second starts at an IDR.
  const second = new RecordingSink('second');
  second.ready = true;
  const detachSecond = hub.attach(stream, second);
  s.defer(detachSecond);
  hub.sinkReady(stream, second.id);
  await waitFor('the second viewer’s frames', () => second.frames.length >= 3);
  assert.ok(second.frames[0]?.keyframe);
  assert.ok(
    first.frames.every((f, i) => i === 0 || f.ts >= (first.frames[i - 1]?.ts ?? 0)),
    'in order',
  );

  // Failover: a new encoder, a new epoch, no IDR first: viewers wait for the new holder's IDR.
  // Units of the old holder still on their way would land after the snapshot: pause, let them in.
  await enc.stop();
  await new Promise((r) => setTimeout(r, 300));
  const n1 = first.frames.length;
  const n2 = second.frames.length;
  const r0 = requests.length;
  enc.handOver('synthetic-b');
  enc.start(30);
  await waitFor('a hand-over keyframe request', () =>
    requests.slice(r0).find((r) => r.reason === 'handover'),
  );
  await waitFor(
    'frames from the new holder',
    () => first.frames.length > n1 + 3 && second.frames.length > n2 + 3,
  );
  assert.ok(first.frames.at(n1)?.keyframe, 'first viewer resumes at the new holder’s IDR');
  assert.ok(second.frames[n2]?.keyframe, 'second viewer too');

  // The old holder speaks again (lower epoch): ignored.
  const n3 = first.frames.length;
  publishProto(s.nc, subjects.encoded(stream), qemu_webrtc.v1.EncodedFrame, {
    stream,
    data: Buffer.from([0, 0, 0, 1, 0x65, 1, 2, 3]),
    keyframe: true,
    encoderId: 'synthetic-a',
    epoch: 1,
    sequence: 999,
  });
  // Garbage on the subject: counted, ignored.
  s.nc.publish(subjects.encoded(stream), Buffer.from([0xff, 0xff, 0xff, 0xff]));
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(
    first.frames.slice(n3).every((f) => f.bytes !== 8),
    'the old holder’s access unit was not forwarded',
  );

  // A lost access unit: everyone waits for the next IDR, and one is requested. As at the hand-over,
  // units published before the loss may still be on their way: pause and let them in before the
  // snapshot, so the first unit counted after it is the first one after the gap.
  await enc.stop();
  await new Promise((r) => setTimeout(r, 300));
  const n4 = first.frames.length;
  const r1 = requests.length;
  enc.dropNext();
  enc.start(30);
  await waitFor('a gap keyframe request', () => requests.slice(r1).find((r) => r.reason === 'gap'));
  await waitFor('frames again', () => first.frames.length > n4 + 2);
  assert.ok(first.frames.at(n4)?.keyframe, 'resumes at an IDR after the gap');

  // The stream is unsubscribed when its last viewer leaves.
  detachFirst();
  detachSecond();
  assert.deepEqual(hub.summary(), {});
});

test('keyframe requests are rate-limited per stream: a burst of PLIs becomes one or two requests', async (t) => {
  const s = await Signaling.start(t, { KEYFRAME_MIN_INTERVAL_MS: '300' });
  const requests = s.recordKeyframeRequests(stream);
  const other = { ...stream, rendition: 'half' };
  const otherRequests = s.recordKeyframeRequests(other);
  const hub = s.service.hub;
  const sink = new RecordingSink('x');
  s.defer(hub.attach(stream, sink));
  s.defer(hub.attach(other, new RecordingSink('y')));
  await s.nc.flush();
  for (let i = 0; i < 50; i++) hub.keyframeWanted(stream, 'pli');
  hub.keyframeWanted(other, 'pli');
  await new Promise((r) => setTimeout(r, 450));
  assert.equal(requests.length, 2, 'one at once, one merged request after the interval');
  assert.equal(otherRequests.length, 1, 'another stream has its own limit');
  const metrics = await s.service.metrics.registry.getSingleMetricAsString(
    'signaling_keyframe_requests_suppressed_total',
  );
  assert.match(metrics, / 49$/m);
});
