// The encoder on the live pipeline: real QEMU + test guest -> capture -> encoder -> H.264 that
// decodes to the guest's picture, with keyframes on request and streams that survive a killed encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { publishProto, subjects } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { ManagedProcess, readGuestStatus, waitFor } from '@qemu-webrtc/test/kit';
import { H264Decoder } from '../src/native.js';
import { Pipeline, lumaPsnr, nalTypes } from './pipeline-harness.js';

const encoderMain = new URL('../src/main.js', import.meta.url).pathname;

test('decoded video matches the guest (PSNR >= 35 dB), frame numbers advance, IDR on request', async (t) => {
  const p = await Pipeline.start(t, { width: 1024, height: 768 });
  await p.startEncoder(t, { ENCODER_RENDITIONS: 'full:1:6000000' });
  const decoder = new H264Decoder({ format: 'bgra', threads: 1 });
  t.after(() => decoder.close());

  await waitFor('30 access units', () => p.encoded.length >= 30, 60_000);
  const first = p.encoded[0];
  assert.ok(first?.keyframe, 'the stream starts with an IDR');
  assert.deepEqual(
    new Set(nalTypes(first.data)).has(7) && new Set(nalTypes(first.data)).has(8),
    true,
    'SPS and PPS precede the IDR',
  );
  assert.equal(first.stream?.vmId, 'test-vm');

  const frameNumbers: number[] = [];
  let compared = 0;
  for (const au of p.encoded.slice(0, 30)) {
    const pictures = await decoder.decode(au.data, au.ptsUs);
    for (const pic of pictures) {
      assert.equal(pic.width, 1024);
      assert.equal(pic.height, 768);
      const status = readGuestStatus({
        data: pic.data,
        width: pic.width,
        height: pic.height,
        stride: pic.width * 4,
        layout: 'bgrx',
      });
      if (status) frameNumbers.push(status.frame);
      // Match each picture with its access unit by timestamp (a decoder may output later).
      const ofPicture = p.encoded.find((a) => a.ptsUs === pic.ptsUs);
      const source = ofPicture ? p.sources.get(ofPicture.sourceSequence) : undefined;
      if (source) {
        const psnr = lumaPsnr(source.pixels, source.stride, pic.data, pic.width * 4, 1024, 768);
        assert.ok(psnr >= 35, `frame ${ofPicture?.sourceSequence}: luma PSNR ${psnr.toFixed(1)} dB`);
        compared++;
      }
    }
  }
  assert.ok(compared >= 5, `compared ${compared} decoded frames with their sources`);
  assert.ok(frameNumbers.length >= 20, 'frame numbers decode from the video');
  assert.ok(
    (frameNumbers.at(-1) ?? 0) > (frameNumbers[0] ?? 0),
    `frame numbers advance: ${frameNumbers.join(',')}`,
  );

  // Ask for a keyframe: an IDR follows, and plain frames before it are not IDRs.
  const before = p.encoded.length;
  assert.ok(
    p.encoded.slice(1, before).some((au) => !au.keyframe),
    'P frames between keyframes',
  );
  publishProto(
    p.nc,
    subjects.keyframeRequest({ vmId: 'test-vm', consoleId: 0, rendition: 'full' }),
    qemu_webrtc.v1.KeyframeRequest,
    {
      stream: { vmId: 'test-vm', consoleId: 0, rendition: 'full' },
      requester: 'test',
      reason: 'pli',
    },
  );
  const idr = await waitFor('an IDR after the request', () =>
    p.encoded.slice(before).find((au) => au.keyframe),
  );
  assert.ok(nalTypes(idr.data).includes(5));
});

test('an odd console height (1016x767) encodes and decodes to the right picture', async (t) => {
  const p = await Pipeline.start(t, { width: 1023, height: 767 });
  await p.startEncoder(t);
  const decoder = new H264Decoder({ format: 'bgra', threads: 1 });
  t.after(() => decoder.close());
  await waitFor('access units', () => p.encoded.length >= 10, 60_000);
  const au = p.encoded.find((a) => p.sources.has(a.sourceSequence) && a.keyframe) ?? p.encoded[0];
  assert.ok(au);
  assert.equal(au.width, 1016, 'QEMU rounds VGA widths down to a multiple of 8');
  assert.equal(au.height, 767, 'EncodedFrame carries the exact visible size');
  let pic;
  for (const a of p.encoded.slice(0, p.encoded.indexOf(au) + 1))
    pic = (await decoder.decode(a.data, a.ptsUs)).at(-1) ?? pic;
  assert.ok(pic);
  // H.264 4:2:0 cannot code odd sizes: the coded picture has one more row, repeating the edge.
  assert.equal(pic.width, 1016);
  assert.equal(pic.height, 768);
  assert.equal(pic.ptsUs, au.ptsUs, 'the picture of that access unit');
  const source = p.sources.get(au.sourceSequence);
  if (source) {
    const psnr = lumaPsnr(source.pixels, source.stride, pic.data, pic.width * 4, 1016, 767);
    assert.ok(psnr >= 35, `luma PSNR ${psnr.toFixed(1)} dB over the visible 1016x767`);
  }
  const status = readGuestStatus({
    data: pic.data,
    width: 1016,
    height: 767,
    stride: pic.width * 4,
    layout: 'bgrx',
  });
  assert.ok(status, 'the guest status decodes from the odd-sized video');
});

test('two encoders share four streams; one killed with SIGKILL, every stream continues from an IDR', async (t) => {
  const p = await Pipeline.start(t, { width: 1024, height: 768, captureFps: 10 });
  const renditions = 'full:1:2000000,half:0.5:800000,third:0.34:400000,quarter:0.25:300000';
  const spawnEncoder = (id: string): ManagedProcess => {
    const proc = new ManagedProcess(id, process.execPath, [encoderMain], {
      env: {
        ...process.env,
        ...p.encoderEnv(id, {
          ENCODER_RENDITIONS: renditions,
          MEMBER_TIMEOUT_MS: '1000',
          HEARTBEAT_MS: '250',
        }),
      },
    });
    t.after(() => proc.stop());
    return proc;
  };
  const a = spawnEncoder('enc-a');
  spawnEncoder('enc-b');
  const streams = ['full', 'half', 'third', 'quarter'];
  const holders = await waitFor(
    'both encoders to hold streams',
    () => {
      const recent = p.encoded.slice(-80);
      const byStream = new Map(recent.map((au) => [au.stream?.rendition ?? '', au.encoderId]));
      const ids = new Set(byStream.values());
      return streams.every((s) => byStream.has(s)) && ids.size === 2 ? byStream : undefined;
    },
    60_000,
  );
  const aStreams = streams.filter((s) => holders.get(s) === 'enc-a');
  assert.ok(aStreams.length > 0 && aStreams.length < 4, `enc-a holds ${aStreams.join(',')}`);

  const killedAtUs = Date.now() * 1000;
  const cut = p.encoded.length;
  await a.kill();
  const after = await waitFor(
    'every stream from enc-b again',
    () => {
      const tail = p.encoded.slice(cut).filter((au) => au.encoderId === 'enc-b');
      return streams.every((s) => tail.some((au) => au.stream?.rendition === s)) ? tail : undefined;
    },
    30_000,
  );
  const gaps: string[] = [];
  for (const s of aStreams) {
    const firstAfter = after.find((au) => au.stream?.rendition === s);
    assert.ok(firstAfter?.keyframe, `stream ${s} restarts on enc-b with an IDR`);
    gaps.push(`${s} ${((firstAfter.encodedUs - killedAtUs) / 1000).toFixed(0)} ms`);
  }
  // Reported, not asserted (no timings in tests): kill to the first IDR of each moved stream.
  t.diagnostic(`moved streams resumed on enc-b after: ${gaps.join(', ')}`);
});
