import { startBusAndNats } from './dist/harness/bus-and-nats.js';
import { CaptureProcess } from './dist/harness/capture-process.js';
import { EncoderProcess } from './dist/harness/encoder-process.js';
import { QemuVm } from '@qemu-webrtc/test-kit';
import { qemu_webrtc } from '@qemu-webrtc/proto';
const cleanups = [];
try {
  const { dir, bus, nats, nc } = await startBusAndNats((f) => cleanups.push(f));
  const vm = await QemuVm.start(dir, { busAddress: bus.address, audio: true });
  cleanups.push(() => vm.stop());
  const cap = await CaptureProcess.start({
    natsUrl: nats.url,
    busAddress: bus.address,
    ringDir: dir.path,
    env: { LOG_LEVEL: 'info' },
  });
  cleanups.push(() => cap.stop());
  const enc = await EncoderProcess.start({
    natsUrl: nats.url,
    ringDir: dir.path,
    env: { LOG_LEVEL: 'info' },
  });
  cleanups.push(() => enc.stop());
  let on = 0,
    ob = 0,
    first,
    sizes = [];
  nc.subscribe('qw.audio.*.opus', {
    callback: (e, m) => {
      const p = qemu_webrtc.v1.OpusPacket.decode(m.data);
      on++;
      ob += p.data.length;
      sizes.push(p.ptsUs);
      first ??= p;
    },
  });
  let n = 0,
    bytes = 0,
    fmt;
  nc.subscribe('qw.vm.*.audio.pcm', {
    callback: (e, m) => {
      const c = qemu_webrtc.v1.AudioChunk.decode(m.data);
      n++;
      bytes += c.data.length;
      fmt = c.format;
    },
  });
  nc.subscribe('qw.vm.*.console.*.info', {
    callback: (e, m) => {
      const c = qemu_webrtc.v1.ConsoleInfo.decode(m.data);
      if (c.hasAudio) console.log('info hasAudio');
    },
  });
  await new Promise((r) => setTimeout(r, 8000));
  console.log('before key', n, bytes);
  await vm.qmp.execute('send-key', { keys: [{ type: 'qcode', data: 'f9' }], 'hold-time': 1000 });
  await new Promise((r) => setTimeout(r, 2500));
  console.log('after key', n, bytes, JSON.stringify(fmt));
  console.log(
    'opus',
    on,
    ob,
    sizes.join(','),
    first && first.ptsUs,
    first && first.samples,
    first && first.channels,
  );
  console.log(
    enc.process.output
      .split('\n')
      .filter((l) => /audio|error|warn/i.test(l))
      .join('\n')
      .slice(-2000),
  );
} finally {
  for (const f of cleanups.reverse()) await f();
}
