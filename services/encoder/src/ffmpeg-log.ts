// FFmpeg's and x264's log lines into pino. The addon never prints: it queues lines (bounded at 512,
// the oldest dropped and counted) for takeFfmpegLogs(). The queue is the process's, filled from
// the encode threads; each stream drains it after each of its encodes, so a line lands on the
// logger of the stream whose encode just ended (with several streams encoding at once, possibly
// a sibling's: the line's own text names the codec).
import type { Logger } from '@qemu-webrtc/common';

import { type FfmpegLogLine, takeFfmpegLogs } from './native.js';

const PINO_LEVEL = {
  fatal: 'error',
  error: 'error',
  warning: 'warn',
  info: 'info',
  verbose: 'debug',
  debug: 'debug',
} as const satisfies Record<FfmpegLogLine['level'], string>;

/** Logs the lines queued since the last drain through `logger` (the stream's, with its bindings). */
export function drainFfmpegLogs(logger: Logger): void {
  for (const line of takeFfmpegLogs()) {
    logger[PINO_LEVEL[line.level]]({ source: 'ffmpeg', ffmpegLevel: line.level }, line.message);
  }
}
