// Bad FrameReady messages (a missing ring, a path outside the ring directory, a stale slot,
// impossible geometry, an unknown pixel format) are dropped before any stream takes them and
// counted by reason (encoder_messages_rejected_total{reason="frame_ready_*"}); the stream goes on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishProto, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { waitFor } from '@qemu-webrtc/test-kit';
import { Pipeline } from './pipeline-harness.js';

const { FrameReady, PixelFormat } = qemu_webrtc.v1;

async function dropped(port: number): Promise<Map<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  return new Map(
    [...text.matchAll(/encoder_messages_rejected_total\{reason="(\w+)"\} (\d+)/g)].map((m) => [
      m[1] ?? '',
      Number(m[2]),
    ]),
  );
}

test('bad FrameReady messages are dropped and counted; the encoder keeps its stream', async (t) => {
  const p = await Pipeline.start(t, { width: 1024, height: 768 });
  const encoder = await p.startEncoder(t, { ENCODER_MAX_FPS: '20' });
  await waitFor('the stream to run', () => p.encoded.length >= 5, 60_000);
  const port = encoder.metricsPort ?? 0;
  const before = await dropped(port);

  const base = {
    vmId: 'test-vm',
    consoleId: 0,
    slot: 0,
    width: 1024,
    height: 768,
    stride: 4096,
    format: PixelFormat.PIXEL_FORMAT_BGRX,
    publishedUs: 1,
  };
  const bad: qemu_webrtc.v1.IFrameReady[] = [
    { ...base, ringName: 'no-such-ring', ringGeneration: 1, sequence: 1 },
    { ...base, ringName: '../../etc/passwd', ringGeneration: 1, sequence: 1 },
    { ...base, ringName: 'x/../../y', ringGeneration: 1, sequence: 1 },
    { ...base, ringName: 'ok', width: 0, height: 0, ringGeneration: 1, sequence: 1 },
    { ...base, ringName: 'ok', width: 100_000, ringGeneration: 1, sequence: 1 },
    { ...base, ringName: 'ok', format: PixelFormat.PIXEL_FORMAT_UNSPECIFIED, ringGeneration: 1, sequence: 1 },
  ];
  const subject = subjects.frameReady('test-vm', 0);
  for (let i = 0; i < 20; i++) {
    for (const frame of bad) {
      publishProto(p.nc, subject, FrameReady, frame);
      // One at a time: newest-wins would otherwise replace most of them before they are looked at.
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  p.nc.publish(subject, new Uint8Array([0xff, 0xff, 0xff])); // not a FrameReady at all
  await p.nc.flush();

  const seen = p.encoded.length;
  await waitFor('the stream to go on after the bad messages', () => p.encoded.length >= seen + 10, 60_000);
  const after = await dropped(port);
  const grew = (reason: string): number => (after.get(reason) ?? 0) - (before.get(reason) ?? 0);
  t.diagnostic(`dropped: ${[...after].map(([k, v]) => `${k} ${v}`).join(', ')}`);
  assert.ok(grew('frame_ready_geometry') > 0, 'impossible geometry is counted');
  assert.ok(grew('frame_ready_format') > 0, 'unknown formats are counted');
  assert.ok(grew('frame_ready_ring') > 0, 'missing rings are counted');
  assert.ok(grew('frame_ready_ring_name') > 0, 'names outside the ring directory are counted');
  assert.ok(grew('bad_message') > 0, 'garbage is counted');
  const last = p.encoded.at(-1);
  assert.equal(last?.stream?.rendition, 'full');
  assert.ok(last.data.byteLength > 0);
});
