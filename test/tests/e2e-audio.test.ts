// Audio out, end to end: the test guest plays a 1 kHz PC-speaker tone while F9 is held (PIT channel
// 2, `-machine pcspk-audiodev=snd0` on a dbus audiodev), QEMU hands the PCM to capture's
// AudioOutListener, the encoder makes Opus of it, signaling sends it as an audio track in the
// page's PeerConnection. In headless Chromium the page is unmuted with its own button (a click),
// F9 is held in the page (the real input path), and WebAudio (an AnalyserNode on the received
// track) must hear a peak within 3% of the guest's frequency, then silence after the release.
// Key-to-sound latency, the Opus bitrate and the CPU of capture and encoder are printed, not asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { QemuVm, launchWebrtcChromium, openPlayer } from '@qemu-webrtc/test-kit';
import { StartedSystem } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const VM_ID = 'audio';
const CONTROL = 'audio-control-token';
/** The guest's tone: PIT 1193182 Hz / 1193 (packages/demo-vm/guest/speaker.h). */
const TONE_HZ = 1193182 / 1193;
/** RMS of the received signal above which the page hears sound, below which silence. */
const SOUND_RMS = 0.02;
const SILENCE_RMS = 0.002;

interface Listening {
  /** The strongest frequency now, and the RMS of the signal. */
  peakHz: number;
  rms: number;
  sampleRate: number;
}

interface AudioProbe {
  read(): Listening;
  /** performance.now() of the last F9 keydown the page saw, and of the first sound after it. */
  keyAt: number;
  soundAt: number;
}

/** An AnalyserNode on the page's received audio track, polled every 5 ms for the onset of sound. */
async function listen(page: Page, soundRms: number): Promise<void> {
  await page.evaluate(async (threshold) => {
    const video = document.querySelector('video');
    const stream = video?.srcObject;
    if (!(stream instanceof MediaStream)) throw new Error('no media stream on the <video>');
    const track = stream.getAudioTracks()[0];
    if (!track) throw new Error('the connection carries no audio track');
    const ctx = new AudioContext();
    await ctx.resume();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    const freq = new Float32Array(analyser.frequencyBinCount);
    const time = new Float32Array(analyser.fftSize);
    const rmsNow = (): number => {
      analyser.getFloatTimeDomainData(time);
      let sum = 0;
      for (const v of time) sum += v * v;
      return Math.sqrt(sum / time.length);
    };
    const probe = {
      keyAt: 0,
      soundAt: 0,
      read: () => {
        analyser.getFloatFrequencyData(freq);
        let best = 0;
        for (let i = 1; i < freq.length; i++)
          if ((freq[i] ?? -Infinity) > (freq[best] ?? -Infinity)) best = i;
        return {
          peakHz: (best * ctx.sampleRate) / analyser.fftSize,
          rms: rmsNow(),
          sampleRate: ctx.sampleRate,
        };
      },
    };
    // The analyser's short window (256 samples) for the onset: 5 ms resolution at most.
    const onset = ctx.createAnalyser();
    onset.fftSize = 256;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(onset);
    const short = new Float32Array(onset.fftSize);
    setInterval(() => {
      if (probe.keyAt === 0 || probe.soundAt !== 0) return;
      onset.getFloatTimeDomainData(short);
      let sum = 0;
      for (const v of short) sum += v * v;
      if (Math.sqrt(sum / short.length) > threshold) probe.soundAt = performance.now();
    }, 5);
    document.addEventListener(
      'keydown',
      (e) => {
        if (e.code === 'F9' && !e.repeat) {
          probe.keyAt = performance.now();
          probe.soundAt = 0;
        }
      },
      { capture: true },
    );
    (window as unknown as { audioProbe: AudioProbe }).audioProbe = probe;
  }, soundRms);
}

const read = (page: Page): Promise<Listening> =>
  page.evaluate(() => (window as unknown as { audioProbe: AudioProbe }).audioProbe.read());

/** Polls the page until `accept` holds (or fails after `ms` with the last reading). */
async function until(
  page: Page,
  what: string,
  accept: (l: Listening) => boolean,
  ms = 15_000,
): Promise<Listening> {
  const t0 = Date.now();
  let last: Listening | undefined;
  while (Date.now() - t0 < ms) {
    last = await read(page);
    if (accept(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${what}: not heard in ${ms} ms (last: ${JSON.stringify(last)})`);
}

/** The page's inbound audio RTP: payload bytes and packets so far. */
function inboundAudio(page: Page): Promise<{ bytes: number; packets: number }> {
  return page.evaluate(async () => {
    const pc = (window as unknown as { qemuWebrtc?: { peer?: RTCPeerConnection } }).qemuWebrtc?.peer;
    if (!pc) return { bytes: -1, packets: -1 };
    let bytes = 0;
    let packets = 0;
    (await pc.getStats()).forEach(
      (s: { type: string; kind?: string; bytesReceived?: number; packetsReceived?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') {
          bytes += s.bytesReceived ?? 0;
          packets += s.packetsReceived ?? 0;
        }
      },
    );
    return { bytes, packets };
  });
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number | null | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

test('audio out: a held key makes the guest’s tone play in the page, silence after', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const vm = await QemuVm.start(dir, { busAddress: bus.address, width: 640, height: 480, audio: true });
  t.after(() => vm.stop());
  const system = await StartedSystem.onVm((fn) => t.after(fn), bus.address, VM_ID, { [CONTROL]: 'control' });
  const ready = system.ready;
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);

  // The page says how to unmute, and a click on its button does.
  const toggle = page.locator('#audio-toggle');
  await toggle.waitFor({ state: 'visible', timeout: 15_000 });
  assert.match((await toggle.getAttribute('title')) ?? '', /browsers start muted/);
  assert.equal(await page.evaluate(() => document.querySelector('video')?.muted), true, 'starts muted');
  await toggle.click();
  assert.equal(
    await page.evaluate(() => document.querySelector('video')?.muted),
    false,
    'unmuted by the click',
  );

  await listen(page, SOUND_RMS);
  await page.waitForFunction(
    () => (window as unknown as { qemuWebrtc?: { inputOpen: boolean } }).qemuWebrtc?.inputOpen === true,
  );
  const quiet = await read(page);
  assert.ok(quiet.rms < SILENCE_RMS, `silence before the key (rms ${quiet.rms})`);

  const pids = ready.pids;
  const cpu0 = { capture: cpuSeconds(pids.capture), encoder: cpuSeconds(pids.encoder), at: Date.now() };
  const rtp0 = await inboundAudio(page);

  await page.focus('#stage');
  await page.keyboard.down('F9');
  const tone = await until(
    page,
    'the tone',
    (l) => l.rms > SOUND_RMS && Math.abs(l.peakHz - TONE_HZ) < TONE_HZ * 0.03,
  );
  const latency = await page.evaluate(() => {
    const p = (window as unknown as { audioProbe: AudioProbe }).audioProbe;
    return p.soundAt > 0 ? p.soundAt - p.keyAt : Number.NaN;
  });
  // Two seconds of tone for the bitrate and CPU figures.
  await new Promise((r) => setTimeout(r, 2000));
  const held = await read(page);
  const rtp1 = await inboundAudio(page);
  const cpu1 = { capture: cpuSeconds(pids.capture), encoder: cpuSeconds(pids.encoder), at: Date.now() };
  await page.keyboard.up('F9');

  assert.ok(Math.abs(tone.peakHz - TONE_HZ) < TONE_HZ * 0.03, `peak at ${tone.peakHz.toFixed(1)} Hz`);
  assert.ok(
    Math.abs(held.peakHz - TONE_HZ) < TONE_HZ * 0.03,
    `still ${held.peakHz.toFixed(1)} Hz while held`,
  );

  const silent = await until(page, 'silence after the release', (l) => l.rms < SILENCE_RMS);
  await new Promise((r) => setTimeout(r, 300));
  const cpu2 = { capture: cpuSeconds(pids.capture), encoder: cpuSeconds(pids.encoder), at: Date.now() };
  const rtp2 = await inboundAudio(page);
  await new Promise((r) => setTimeout(r, 2000));
  const rtp3 = await inboundAudio(page);
  const cpu3 = { capture: cpuSeconds(pids.capture), encoder: cpuSeconds(pids.encoder), at: Date.now() };
  const after = await read(page);
  assert.ok(after.rms < SILENCE_RMS, `still silent 2 s after the release (rms ${after.rms})`);

  const toneS = (cpu1.at - cpu0.at) / 1000;
  const quietS = (cpu3.at - cpu2.at) / 1000;
  const pct = (a: number, b: number, s: number): string => `${(((b - a) / s) * 100).toFixed(1)}%`;
  t.diagnostic(
    `tone heard at ${tone.peakHz.toFixed(1)} Hz (guest ${TONE_HZ.toFixed(1)} Hz), rms ${tone.rms.toFixed(3)}; silence rms ${silent.rms.toFixed(4)}; page sample rate ${tone.sampleRate}`,
  );
  t.diagnostic(
    `key-to-sound latency (page keydown -> RMS over ${SOUND_RMS} in a 256-sample window): ${latency.toFixed(0)} ms`,
  );
  t.diagnostic(
    `Opus while the tone plays: ${(((rtp1.bytes - rtp0.bytes) * 8) / toneS / 1000).toFixed(1)} kbit/s payload, ` +
      `${((rtp1.packets - rtp0.packets) / toneS).toFixed(1)} packets/s; in silence: ${rtp3.packets - rtp2.packets} packets in ${quietS.toFixed(1)} s`,
  );
  t.diagnostic(
    `CPU (one core = 100%) with the tone: capture ${pct(cpu0.capture, cpu1.capture, toneS)}, encoder ${pct(cpu0.encoder, cpu1.encoder, toneS)}; ` +
      `silent: capture ${pct(cpu2.capture, cpu3.capture, quietS)}, encoder ${pct(cpu2.encoder, cpu3.encoder, quietS)} (video included; loaded machine: upper bounds)`,
  );
  assert.equal(rtp3.packets - rtp2.packets, 0, 'silence costs nothing on the wire: no audio packets');

  // A WHEP player (Chromium's own RTCPeerConnection, no page of ours) gets the audio too.
  const whep = await browser.newPage();
  await whep.goto(`${system.baseUrl}/health`);
  const answer = await whep.evaluate(
    async ({ url, token }) => {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const video = document.createElement('video');
      video.autoplay = true;
      document.body.append(video);
      pc.ontrack = (e) => {
        video.srcObject = e.streams[0] ?? new MediaStream([e.track]);
      };
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.onicegatheringstatechange = () => {
          if (pc.iceGatheringState === 'complete') resolve();
        };
      });
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/sdp', authorization: `Bearer ${token}` },
        body: pc.localDescription?.sdp ?? '',
      });
      const sdp = await res.text();
      if (res.status !== 201) return { status: res.status, audio: sdp };
      await pc.setRemoteDescription({ type: 'answer', sdp });
      return { status: res.status, audio: sdp.slice(sdp.indexOf('m=audio')) };
    },
    { url: `${system.baseUrl}/whep/${VM_ID}/0`, token: CONTROL },
  );
  assert.equal(answer.status, 201, answer.audio);
  assert.match(answer.audio, /^m=audio [1-9]/, 'the answer accepts audio');
  assert.match(answer.audio, /a=rtpmap:\d+ opus\/48000\/2/i);
  assert.match(answer.audio, /a=sendonly/);
  await whep.waitForFunction(
    () => (document.querySelector('video')?.srcObject as MediaStream | null)?.getAudioTracks().length === 1,
  );
  await listen(whep, SOUND_RMS);
  await page.keyboard.down('F9');
  const whepTone = await until(
    whep,
    'the tone in the WHEP player',
    (l) => l.rms > SOUND_RMS && Math.abs(l.peakHz - TONE_HZ) < TONE_HZ * 0.03,
  );
  await page.keyboard.up('F9');
  await until(whep, 'silence in the WHEP player', (l) => l.rms < SILENCE_RMS);
  t.diagnostic(`WHEP player heard ${whepTone.peakHz.toFixed(1)} Hz`);
});
