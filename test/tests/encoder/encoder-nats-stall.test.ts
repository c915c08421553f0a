// NATS that stops taking what the encoder publishes (its upstream stalled: StallingLink) while
// frames keep arriving: the encoder must not hand NATS access units without bound. It skips frames
// before encoding them (counted as dropped "nats"), keeps at most the gate's few in flight, and
// publishes again once the link resumes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StallingLink, waitFor } from '@qemu-webrtc/test-kit';
import type { EncoderService } from '@qemu-webrtc/encoder/service';
import { Pipeline } from './pipeline-harness.js';

async function counter(encoder: EncoderService, name: string, labels = ''): Promise<number> {
  const text = await encoder.metrics.registry.metrics();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
    if (labels === '' || (m[1] ?? '').includes(labels)) total += Number(m[2]);
  }
  return total;
}

test('a stalled NATS link bounds what the encoder publishes; it publishes again after', async (t) => {
  const p = await Pipeline.start(t, { width: 320, height: 240, captureFps: 30 });
  const link = await StallingLink.start(Number(new URL(p.nats.url).port));
  t.after(() => link.close());
  const encoder = await p.startEncoder(t, { NATS_URL: link.url, ENCODER_MAX_FPS: '30' });
  await waitFor('10 access units', () => p.encoded.length >= 10, 30_000);

  link.stallUpstream();
  const encodedAtStall = await counter(encoder, 'encoder_frames_encoded_total');
  const inAtStall = await counter(encoder, 'encoder_frames_in_total');
  // Frames keep coming (downstream flows); the encoder drops them for NATS instead of queueing.
  await waitFor(
    '40 frames dropped for NATS',
    async () => (await counter(encoder, 'encoder_frames_dropped_total', 'reason="nats"')) >= 40,
    30_000,
  );
  assert.ok((await counter(encoder, 'encoder_frames_in_total')) - inAtStall >= 40, 'frames kept arriving');
  const encodedInStall = (await counter(encoder, 'encoder_frames_encoded_total')) - encodedAtStall;
  // The gate lets at most 30 messages out unconfirmed; a few were already on their way.
  assert.ok(encodedInStall <= 32, `${encodedInStall} access units handed to a stalled NATS`);

  const seen = p.encoded.length;
  link.resume();
  await waitFor('access units again', () => p.encoded.length >= seen + 10, 30_000);
});
