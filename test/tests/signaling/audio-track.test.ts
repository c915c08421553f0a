// The audio track, without QEMU: a VM whose ConsoleInfo says it has audio gets an Opus track in the
// page's offer and in WHEP answers, and the Opus packets published for it arrive as RTP (payload
// unchanged, 48 kHz timestamps from their presentation time); a VM without audio gets no audio
// track, and a WHEP offer's audio section is left without media. Packets naming another VM than
// their subject are dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishProto, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { waitFor } from '@qemu-webrtc/test-kit';
import { CONTROL_TOKEN, Signaling, WhepClient } from './harness.js';
import { WsClient } from './ws-client.js';

const { OpusPacket } = qemu_webrtc.v1;

/** The SDP's audio section, or undefined. */
const audioSection = (sdp: string): string | undefined => {
  const at = sdp.indexOf('m=audio');
  if (at < 0) return undefined;
  const next = sdp.indexOf('m=', at + 1);
  return sdp.slice(at, next < 0 ? undefined : next);
};

async function pageOffer(s: Signaling, vm: string): Promise<string> {
  const ws = await WsClient.open(s.service.app, CONTROL_TOKEN);
  await ws.next('hello');
  ws.send({ type: 'watch', vm, console: 0 });
  const offer = await ws.next('offer');
  ws.close();
  return String(offer.sdp);
}

async function whep(s: Signaling, vm: string): Promise<{ client: WhepClient; answer: string }> {
  const client = new WhepClient(`whep-${vm}`, [], { audio: true });
  s.defer(() => client.close());
  const res = await fetch(`${s.baseUrl}/whep/${vm}/0`, {
    method: 'POST',
    headers: { 'content-type': 'application/sdp', authorization: `Bearer ${CONTROL_TOKEN}` },
    body: await client.offer(),
  });
  const answer = await res.text();
  assert.equal(res.status, 201, answer);
  client.answer(answer);
  return { client, answer };
}

test('audio track: only for a VM with audio, in the page’s offer and WHEP; Opus packets arrive as RTP', async (t) => {
  const s = await Signaling.start(t);
  await s.service.app.ready();
  await s.announce({ vmId: 'silent', width: 320, height: 240 });
  await s.announce({ vmId: 'loud', width: 320, height: 240, hasAudio: true });

  assert.equal(audioSection(await pageOffer(s, 'silent')), undefined, 'no audio track without audio');
  const loudOffer = audioSection(await pageOffer(s, 'loud'));
  assert.ok(loudOffer, 'an audio track for a VM with audio');
  assert.match(loudOffer, /a=rtpmap:111 opus\/48000\/2/);
  assert.match(loudOffer, /a=sendonly/);

  const quiet = await whep(s, 'silent');
  const quietAudio = audioSection(quiet.answer) ?? '';
  assert.ok(
    /^m=audio 0 /.test(quietAudio) || quietAudio.includes('a=inactive'),
    `WHEP: no audio for a VM without it: ${quietAudio}`,
  );
  const { client, answer } = await whep(s, 'loud');
  assert.match(
    audioSection(answer) ?? '',
    /a=rtpmap:111 opus\/48000\/2[\s\S]*a=sendonly|a=sendonly[\s\S]*a=rtpmap:111 opus/,
  );
  await waitFor('connected', () => client.connectionState === 'connected');

  // Opus packets for the VM (and a forged one naming another VM on its subject) as an encoder sends them.
  const payloads = [0, 1, 2, 3, 4].map((i) => new Uint8Array([0xfc, 0xff, 0xfe, i]));
  const t0 = 1_800_000_000_000_000;
  publishProto(s.nc, subjects.audioOpus('loud'), OpusPacket, {
    vmId: 'silent',
    data: new Uint8Array([9, 9, 9]),
    ptsUs: t0,
    samples: 960,
    channels: 2,
    encoderId: 'enc-a',
    sequence: 1,
  });
  await waitFor(
    'audio RTP',
    () => {
      // Resent until the DTLS handshake of the audio track has finished: packets before it are not sent.
      if (client.audioPackets.length === 0) {
        for (const [i, data] of payloads.entries())
          publishProto(s.nc, subjects.audioOpus('loud'), OpusPacket, {
            vmId: 'loud',
            data,
            ptsUs: t0 + i * 20_000,
            samples: 960,
            channels: 2,
            encoderId: 'enc-a',
            sequence: i + 2,
          });
      }
      return client.audioPackets.length >= payloads.length;
    },
    10_000,
  );
  const got = client.audioPackets.slice(-payloads.length);
  for (const [i, p] of got.entries()) {
    assert.equal(p.payloadType, 111);
    assert.deepEqual([...p.payload], [...(payloads[i] ?? [])], 'the Opus packet, unchanged');
    if (i > 0) assert.equal((p.timestamp - (got[i - 1]?.timestamp ?? 0)) >>> 0, 960, '20 ms at 48 kHz');
  }
  assert.ok(!client.audioPackets.some((p) => p.payload.length === 3), 'the forged packet was dropped');
});
