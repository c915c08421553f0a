interface Snapshot {
  at: number;
  bytes: number;
  frames: number;
  packets: number;
  lost: number;
  decodeTime: number;
  decoded: number;
}

type Stat = Record<string, unknown> & { type: string; kind?: string; state?: string; nominated?: boolean };

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The end-to-end figures the page shows, and that tests can read (window.qemuWebrtc.stats). */
export interface PlayerStats {
  fps: number;
  bitrateKbps: number;
  rttMs: number | undefined;
  lossPercent: number;
  decodeMs: number;
  /** Capture (the frame's RTP timestamp, a wall clock) to display, with the clock offset applied. */
  latencyMs: number | undefined;
  width: number;
  height: number;
  framesDecoded: number;
}

/**
 * Every second: fps, bitrate, RTT, packet loss, decode time from getStats(), and end-to-end latency
 * from the RTP timestamp of each presented frame (the encoder stamps frames with their capture time
 * at 90 kHz) against our clock corrected by the server's.
 */
export class StatsOverlay {
  private last: Snapshot | undefined;
  private timer: number | undefined;
  private latencies: number[] = [];
  readonly current: PlayerStats = {
    fps: 0,
    bitrateKbps: 0,
    rttMs: undefined,
    lossPercent: 0,
    decodeMs: 0,
    latencyMs: undefined,
    width: 0,
    height: 0,
    framesDecoded: 0,
  };

  constructor(
    private readonly pre: HTMLPreElement,
    private readonly video: HTMLVideoElement,
    private readonly clockOffsetMs: () => number,
  ) {
    this.watchFrames();
  }

  start(pc: RTCPeerConnection): void {
    this.stop();
    this.last = undefined;
    this.timer = window.setInterval(() => void this.sample(pc), 1000);
  }

  stop(): void {
    window.clearInterval(this.timer);
  }

  private watchFrames(): void {
    const v = this.video as HTMLVideoElement & {
      requestVideoFrameCallback:
        ((cb: (now: number, meta: { rtpTimestamp?: number }) => void) => number) | undefined;
    };
    if (typeof v.requestVideoFrameCallback !== 'function') return;
    const onFrame = (_now: number, meta: { rtpTimestamp?: number }): void => {
      const offset = this.clockOffsetMs();
      if (meta.rtpTimestamp !== undefined && !Number.isNaN(offset)) {
        const nowRtp = Math.floor((Date.now() + offset) * 90) % 2 ** 32;
        const diff = (nowRtp - meta.rtpTimestamp + 2 ** 32) % 2 ** 32;
        const ms = diff / 90;
        if (ms < 60_000) this.latencies.push(ms);
        if (this.latencies.length > 120) this.latencies.shift();
      }
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }

  private async sample(pc: RTCPeerConnection): Promise<void> {
    const report = await pc.getStats();
    let inbound: Stat | undefined;
    let pair: Stat | undefined;
    report.forEach((s: Stat) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s;
      if (s.type === 'candidate-pair' && s.state === 'succeeded' && (s.nominated ?? true)) pair = s;
    });
    if (!inbound) return;
    const snap: Snapshot = {
      at: performance.now(),
      bytes: num(inbound.bytesReceived),
      frames: num(inbound.framesDecoded),
      packets: num(inbound.packetsReceived),
      lost: num(inbound.packetsLost),
      decodeTime: num(inbound.totalDecodeTime),
      decoded: num(inbound.framesDecoded),
    };
    const c = this.current;
    if (this.last) {
      const dt = (snap.at - this.last.at) / 1000;
      c.fps = (snap.frames - this.last.frames) / dt;
      c.bitrateKbps = ((snap.bytes - this.last.bytes) * 8) / dt / 1000;
      const packets = snap.packets - this.last.packets + (snap.lost - this.last.lost);
      c.lossPercent = packets > 0 ? ((snap.lost - this.last.lost) / packets) * 100 : 0;
      const decoded = snap.decoded - this.last.decoded;
      c.decodeMs = decoded > 0 ? ((snap.decodeTime - this.last.decodeTime) / decoded) * 1000 : 0;
    }
    const rtt = pair ? num(pair.currentRoundTripTime) : 0;
    c.rttMs = pair && rtt > 0 ? rtt * 1000 : undefined;
    c.width = num(inbound.frameWidth);
    c.height = num(inbound.frameHeight);
    c.framesDecoded = snap.frames;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    c.latencyMs = sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)] : undefined;
    this.latencies = [];
    this.last = snap;
    this.render();
  }

  private render(): void {
    const c = this.current;
    const f = (v: number | undefined, digits = 0, unit = ''): string =>
      v === undefined ? '—' : `${v.toFixed(digits)}${unit}`;
    this.pre.textContent = [
      `video    ${c.width}×${c.height}`,
      `fps      ${f(c.fps, 1)}`,
      `bitrate  ${f(c.bitrateKbps / 1000, 2, ' Mbit/s')}`,
      `rtt      ${f(c.rttMs, 1, ' ms')}`,
      `loss     ${f(c.lossPercent, 2, ' %')}`,
      `decode   ${f(c.decodeMs, 2, ' ms')}`,
      `latency  ${f(c.latencyMs, 0, ' ms')} (capture → screen)`,
    ].join('\n');
  }
}
