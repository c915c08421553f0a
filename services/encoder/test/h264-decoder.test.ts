// H264Decoder (for tests and benchmarks): FFmpeg's errors reach JS with their text and the
// caller's stack, and also go to takeFfmpegLogs() instead of stderr.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { H264Decoder, H264Encoder, setFfmpegLogLevel, takeFfmpegLogs } from '../src/native.js';

// This file, compiled or (with --enable-source-maps) as source.
const thisFile = /h264-decoder\.test\.[jt]s:\d+/;

test('corrupt data rejects with a DecoderError carrying FFmpeg’s explanation and the caller’s stack', async () => {
  const decoder = new H264Decoder();
  try {
    takeFfmpegLogs();
    await assert.rejects(decoder.decode(Buffer.alloc(1000, 0xff)), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.equal(e.name, 'DecoderError');
      assert.match(e.message, /Invalid data found when processing input/);
      assert.match(e.message, /No start code is found/);
      assert.ok(thisFile.test(e.stack ?? ''), e.stack);
      return true;
    });
    const logs = takeFfmpegLogs();
    assert.ok(
      logs.some((l) => l.level === 'error' && l.message.includes('No start code')),
      JSON.stringify(logs),
    );
    setFfmpegLogLevel('quiet');
    await assert.rejects(decoder.decode(Buffer.alloc(1000, 0xff)), { name: 'DecoderError' });
    assert.deepEqual(takeFfmpegLogs(), []);
  } finally {
    setFfmpegLogLevel('warning');
    decoder.close();
  }
});

test('one call in flight; ClosedError after close(); bad arguments are TypeErrors', async () => {
  assert.throws(() => new H264Decoder({ format: 'rgb' as 'bgra' }), TypeError);
  assert.throws(() => setFfmpegLogLevel('loud' as 'debug'), TypeError);
  const encoder = new H264Encoder({ width: 64, height: 64, fps: 30, bitrateBps: 200_000 });
  const au = await encoder.encode({
    data: Buffer.alloc(64 * 64 * 4, 0x80),
    stride: 256,
    width: 64,
    height: 64,
    format: 'bgrx',
    ptsUs: 0,
  });
  encoder.close();
  assert.ok(au);
  const decoder = new H264Decoder();
  const first = decoder.decode(au.data);
  await assert.rejects(decoder.decode(au.data), { name: 'BusyError' });
  const [picture] = await first;
  assert.deepEqual([picture?.width, picture?.height, picture?.data.length], [64, 64, 64 * 64 * 4]);
  await assert.rejects(decoder.decode('x' as unknown as Uint8Array), TypeError);
  decoder.close();
  decoder.close();
  await assert.rejects(decoder.decode(au.data), { name: 'ClosedError' });
  await assert.rejects(decoder.flush(), { name: 'ClosedError' });
});
