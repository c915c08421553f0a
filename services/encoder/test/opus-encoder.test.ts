// OpusEncoder: every PCM format QEMU's AudioOutListener.Init can announce becomes 20 ms Opus packets
// on a continuous timeline; silence costs no packets; bad options and misuse are refused by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { OpusEncoder, type OpusEncoderOptions, type OpusPacketOut } from '../src/native.js';

/** `ms` of a 1 kHz sine at half scale, in the given format, interleaved. */
function sine(f: OpusEncoderOptions, ms: number): Buffer {
  const frames = Math.round((f.rate * ms) / 1000);
  const bytes = f.bits / 8;
  const out = Buffer.alloc(frames * f.channels * bytes);
  for (let i = 0; i < frames; i++) {
    const v = 0.5 * Math.sin((2 * Math.PI * 1000 * i) / f.rate);
    for (let c = 0; c < f.channels; c++) {
      const o = (i * f.channels + c) * bytes;
      if (f.isFloat) {
        if (f.bigEndian) out.writeFloatBE(v, o);
        else out.writeFloatLE(v, o);
      } else {
        const max = 2 ** (f.bits - 1) - 1;
        const n = Math.round(v * max) + (f.isSigned ? 0 : max + 1);
        if (bytes === 1) out.writeUInt8(n & 0xff, o);
        else if (bytes === 2 && f.bigEndian) out.writeUInt16BE(n & 0xffff, o);
        else if (bytes === 2) out.writeUInt16LE(n & 0xffff, o);
        else if (f.bigEndian) out.writeUInt32BE(n >>> 0, o);
        else out.writeUInt32LE(n >>> 0, o);
      }
    }
  }
  return out;
}

const FORMATS: OpusEncoderOptions[] = [
  { bits: 16, isSigned: true, isFloat: false, rate: 44100, channels: 2 }, // QEMU's mixer default
  { bits: 8, isSigned: false, isFloat: false, rate: 8000, channels: 1 },
  { bits: 8, isSigned: true, isFloat: false, rate: 22050, channels: 1 },
  { bits: 16, isSigned: false, isFloat: false, rate: 48000, channels: 2 },
  { bits: 16, isSigned: true, isFloat: false, rate: 32000, channels: 2, bigEndian: true },
  { bits: 32, isSigned: true, isFloat: false, rate: 96000, channels: 6 },
  { bits: 32, isSigned: true, isFloat: true, rate: 48000, channels: 1 },
];

for (const f of FORMATS) {
  test(`${f.bits}-bit ${f.isFloat ? 'float' : f.isSigned ? 'signed' : 'unsigned'}${f.bigEndian ? ' BE' : ''} ${f.rate} Hz x${f.channels}: 20 ms packets on one timeline`, async () => {
    const encoder = new OpusEncoder({ ...f, bitrate: 64000 });
    try {
      assert.equal(encoder.channels, f.channels >= 2 ? 2 : 1);
      const packets: OpusPacketOut[] = [];
      const t0 = 1_800_000_000_000_000;
      // One second in 10 ms writes, as QEMU writes.
      const chunk = sine(f, 10);
      for (let i = 0; i < 100; i++) packets.push(...(await encoder.encode(chunk, t0 + i * 10_000)));
      assert.ok(packets.length >= 48 && packets.length <= 50, `${packets.length} packets for 1 s`);
      for (const [i, p] of packets.entries()) {
        assert.equal(p.samples, 960);
        assert.ok(
          p.data.byteLength > 10 && p.data.byteLength < 1275,
          `packet ${i}: ${p.data.byteLength} bytes`,
        );
        if (i > 0)
          assert.equal(
            p.ptsUs - (packets[i - 1]?.ptsUs ?? 0),
            20_000,
            `packet ${i} 20 ms after the one before`,
          );
      }
      assert.ok(Math.abs((packets[0]?.ptsUs ?? 0) - t0) <= 1000, 'the first packet starts with the sound');
    } finally {
      encoder.close();
    }
  });
}

test('silence: a few silent frames after the sound, then no packets', async () => {
  const f: OpusEncoderOptions = { bits: 16, isSigned: true, isFloat: false, rate: 48000, channels: 2 };
  const encoder = new OpusEncoder(f);
  try {
    await encoder.encode(sine(f, 100), 1_000_000);
    const tail = await encoder.silence(100);
    assert.equal(tail.length, 5, 'the last partial frame and 100 ms of silence');
    // A guest that streams digital silence (zeros) instead of stopping: nothing after 5 silent frames.
    const zeros = Buffer.alloc(48 * 4 * 10);
    const out: OpusPacketOut[] = [];
    for (let i = 0; i < 100; i++) out.push(...(await encoder.encode(zeros, 2_000_000 + i * 10_000)));
    assert.ok(out.length <= 6, `${out.length} packets for 1 s of zeros`);
  } finally {
    encoder.close();
  }
});

test('bad options, misuse and use after close are refused by name', async () => {
  assert.throws(
    () => new OpusEncoder({ bits: 12, isSigned: true, isFloat: false, rate: 48000, channels: 2 }),
    {
      name: 'EncoderError',
    },
  );
  assert.throws(
    () => new OpusEncoder({ bits: 16, isSigned: true, isFloat: false, rate: 48000, channels: 0 }),
    {
      name: 'TypeError',
    },
  );
  assert.throws(
    () => new OpusEncoder({ bits: 16, isSigned: true, isFloat: true, rate: 48000, channels: 2 }),
    {
      name: 'EncoderError',
    },
  );
  const encoder = new OpusEncoder({ bits: 16, isSigned: true, isFloat: false, rate: 48000, channels: 2 });
  const first = encoder.encode(Buffer.alloc(1920), 1);
  await assert.rejects(encoder.encode(Buffer.alloc(1920), 2), { name: 'BusyError' });
  await first;
  await assert.rejects(encoder.encode(Buffer.alloc(0), 3), { name: 'TypeError' });
  encoder.close();
  await assert.rejects(encoder.encode(Buffer.alloc(1920), 4), { name: 'ClosedError' });
});
