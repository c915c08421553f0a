// FFmpeg's lines reach the stream's logger (corrupt H.264 makes the decoder log an error).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { Logger } from '@qemu-webrtc/common';

import { drainFfmpegLogs } from '../src/ffmpeg-log.js';
import { H264Decoder, takeFfmpegLogs } from '../src/native.js';

test('drainFfmpegLogs logs the queued lines through the given logger, then the queue is empty', async () => {
  takeFfmpegLogs();
  const decoder = new H264Decoder();
  await assert.rejects(decoder.decode(Buffer.alloc(1000, 0xff)), { name: 'DecoderError' });
  decoder.close();
  const lines: { level: string; bindings: object; message: string }[] = [];
  const record =
    (level: string) =>
    (bindings: object, message: string): void => {
      lines.push({ level, bindings, message });
    };
  const logger = {
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: record('debug'),
  };
  drainFfmpegLogs(logger as unknown as Logger);
  assert.ok(
    lines.some((l) => l.level === 'error' && l.message.includes('No start code')),
    JSON.stringify(lines),
  );
  for (const line of lines) {
    assert.equal((line.bindings as { source?: string }).source, 'ffmpeg');
    assert.ok(line.message.length > 0);
  }
  assert.deepEqual(takeFfmpegLogs(), []);
});
