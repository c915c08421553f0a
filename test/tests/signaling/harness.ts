// Shared by signaling's tests: a real nats-server, the signaling service in-process, a synthetic
// encoder (real x264 through the encoder's addon, published as EncodedFrame like the encoder
// service does) and a WHEP client made with node-datachannel.
import { connect, type NatsConnection } from 'nats';
import {
  Audio,
  PeerConnection,
  RtcpReceivingSession,
  Video,
  type DataChannel,
  type Track,
} from 'node-datachannel';
import { createLogger, publishProto, readConfig, subjects, type StreamKey } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { EncoderAnnouncer, NatsServer, TempDir, waitFor } from '@qemu-webrtc/test-kit';
import { H264Encoder } from '@qemu-webrtc/encoder/native';
import { signalingConfigShape } from '@qemu-webrtc/signaling/config';
import { SignalingService } from '@qemu-webrtc/signaling/service';
import { H264Depacketizer, parseRtp, type RtpPacket } from './h264-depacketizer.js';

const { ConsoleInfo, EncodedFrame, InputEvent, KeyframeRequest } = qemu_webrtc.v1;

export interface After {
  after: (fn: () => unknown) => void;
}

export const CONTROL_TOKEN = 'control-token-1';
export const VIEW_TOKEN = 'view-token-1';

/**
 * Clean-ups run last-registered first (node:test runs `after` hooks in registration order, which
 * would stop NATS before the services using it).
 */
export class CleanupStack {
  private readonly fns: (() => unknown)[] = [];

  constructor(t: After) {
    t.after(async () => {
      for (const fn of this.fns.reverse()) {
        try {
          await fn();
        } catch (error) {
          console.error('clean-up failed:', error);
        }
      }
    });
  }

  defer(fn: () => unknown): void {
    this.fns.push(fn);
  }
}

export class Signaling {
  private constructor(
    readonly cleanup: CleanupStack,
    readonly dir: TempDir,
    readonly nats: NatsServer,
    readonly nc: NatsConnection,
    readonly service: SignalingService,
  ) {}

  /** Runs `fn` at the end of the test, before the service and NATS stop. */
  defer(fn: () => unknown): void {
    this.cleanup.defer(fn);
  }

  static async start(
    t: After,
    env: Record<string, string> = {},
    shared?: { nats: NatsServer; cleanup: CleanupStack },
  ): Promise<Signaling> {
    const cleanup = shared?.cleanup ?? new CleanupStack(t);
    const dir = new TempDir();
    cleanup.defer(() => dir.remove());
    let server = shared?.nats;
    if (!server) {
      const started = await NatsServer.start(dir);
      server = started;
      cleanup.defer(() => started.stop());
    }
    const nc = await connect({ servers: server.url });
    cleanup.defer(() => nc.close());
    const service = await SignalingService.create(
      readConfig(signalingConfigShape, {
        NATS_URL: server.url,
        SIGNALING_PORT: '0',
        METRICS_PORT: '0',
        SIGNALING_TOKENS: `${CONTROL_TOKEN}:control,${VIEW_TOKEN}:view`,
        ICE_BIND_ADDRESS: '127.0.0.1',
        KEYFRAME_MIN_INTERVAL_MS: '200',
        ...env,
      }),
      createLogger('signaling', process.env.LOG_LEVEL ?? 'silent'),
    );
    cleanup.defer(() => service.destroy());
    await service.start();
    return new Signaling(cleanup, dir, server, nc, service);
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.service.port}`;
  }

  /** Where /metrics and the detailed /health are (not the public port). */
  get metricsUrl(): string {
    return `http://127.0.0.1:${this.service.metricsPort ?? 0}`;
  }

  /** Announces a console the way capture does, and waits until signaling lists it. */
  async announce(info: Partial<qemu_webrtc.v1.IConsoleInfo> & { vmId: string }): Promise<void> {
    publishProto(this.nc, subjects.consoleInfo(info.vmId, info.consoleId ?? 0), ConsoleInfo, {
      consoleId: 0,
      label: 'VGA',
      width: 320,
      height: 240,
      graphic: true,
      enabled: true,
      hasKeyboard: true,
      hasMouse: true,
      mouseIsAbsolute: true,
      vmName: info.vmId,
      ...info,
    });
    await waitFor('the console to be listed', () =>
      this.service.consoles.get(info.vmId, info.consoleId ?? 0),
    );
  }

  /** Records every InputEvent published for a VM. */
  recordInput(vmId: string): qemu_webrtc.v1.InputEvent[] {
    const events: qemu_webrtc.v1.InputEvent[] = [];
    this.nc.subscribe(subjects.input(vmId), { callback: (_e, m) => events.push(InputEvent.decode(m.data)) });
    return events;
  }

  /** Records every KeyframeRequest for a stream. */
  recordKeyframeRequests(stream: StreamKey): qemu_webrtc.v1.KeyframeRequest[] {
    const reqs: qemu_webrtc.v1.KeyframeRequest[] = [];
    this.nc.subscribe(subjects.keyframeRequest(stream), {
      callback: (_e, m) => reqs.push(KeyframeRequest.decode(m.data)),
    });
    return reqs;
  }
}

/**
 * Stands in for the encoder service: x264 (the encoder's own addon) encodes a moving test picture
 * and publishes EncodedFrame on the stream's subject; KeyframeRequests on NATS force an IDR.
 */
export class SyntheticEncoder {
  private readonly encoder: InstanceType<typeof H264Encoder>;
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private sequence = 0;
  private keyframe = true;
  private busy = false;
  readonly published: qemu_webrtc.v1.IEncodedFrame[] = [];
  keyframeRequests = 0;
  /** Its heartbeats and claims: signaling takes access units only from an encoder holding the stream. */
  readonly announcer: EncoderAnnouncer;

  constructor(
    private readonly nc: NatsConnection,
    readonly stream: StreamKey,
    readonly width = 320,
    readonly height = 240,
  ) {
    this.encoder = new H264Encoder({ width, height, fps: 30, bitrateBps: 1_000_000, keyintMax: 100_000 });
    this.announcer = new EncoderAnnouncer(nc, 'synthetic-a', [stream]);
    nc.subscribe(subjects.keyframeRequest(stream), {
      callback: () => {
        this.keyframeRequests++;
        this.keyframe = true;
      },
    });
  }

  start(fps = 25): void {
    this.timer = setInterval(() => void this.tick(), 1000 / fps);
  }

  /** Simulates an encoder failover: a new holder, a new epoch, sequence restarting, no IDR first. */
  handOver(encoderId: string): void {
    this.announcer.handOver(encoderId);
    this.sequence = 0;
  }

  get encoderId(): string {
    return this.announcer.encoderId;
  }

  /** Skips a sequence number, as if an access unit were lost on the way. */
  dropNext(): void {
    this.sequence++;
  }

  private async tick(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const { width, height } = this;
      const pixels = Buffer.alloc(width * height * 4);
      const n = this.frame++;
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = (y * width + x) * 4;
          pixels[i] = (x + n * 4) & 0xff;
          pixels[i + 1] = (y + n * 2) & 0xff;
          pixels[i + 2] = ((x ^ y) + n) & 0xff;
        }
      }
      const ptsUs = Date.now() * 1000;
      const forceKeyframe = this.keyframe;
      this.keyframe = false;
      const au = await this.encoder.encode({
        data: pixels,
        stride: width * 4,
        width,
        height,
        format: 'bgrx',
        ptsUs,
        forceKeyframe,
      });
      if (!au || this.nc.isClosed()) return;
      const msg: qemu_webrtc.v1.IEncodedFrame = {
        stream: this.stream,
        data: au.data,
        ptsUs: au.ptsUs,
        keyframe: au.keyframe,
        width,
        height,
        encoderId: this.announcer.encoderId,
        epoch: this.announcer.epoch,
        sequence: ++this.sequence,
        sourceSequence: n,
      };
      this.published.push(msg);
      publishProto(this.nc, subjects.encoded(this.stream), EncodedFrame, msg);
    } finally {
      this.busy = false;
    }
  }

  /** Stops ticking; resolves once a tick already encoding has published (or given up). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    while (this.busy) await new Promise((r) => setTimeout(r, 5));
  }

  close(): void {
    void this.stop();
    this.announcer.close();
    this.encoder.close();
  }
}

/** Held until "closed", like the service's (see rtcObjectsAlive in src/viewer.ts). */
const clientObjects = new Set<object>();

/** A WHEP player made with node-datachannel: offers recvonly H.264, collects the RTP it receives. */
export class WhepClient {
  readonly pc: PeerConnection;
  readonly track: Track;
  readonly depacketizer = new H264Depacketizer();
  packets = 0;
  location: string | undefined;
  private state = 'new';
  readonly channels = new Map<string, DataChannel>();
  /** Messages received per DataChannel label. */
  readonly received = new Map<string, (string | Buffer)[]>();

  /** RTP payload bytes received (all packets). */
  bytes = 0;
  /** With `audio`: the RTP packets received on the audio track (offered: recvonly opus/48000/2, PT 111). */
  readonly audioPackets: RtpPacket[] = [];
  private audioTrack: Track | undefined;

  /**
   * `channels`: DataChannels to open with the offer (e.g. "input", "cursor"). `countOnly`: count
   * packets and bytes without reassembling access units (a cheap viewer for load benchmarks).
   */
  constructor(
    name = 'whep-client',
    channels: string[] = [],
    opts: { countOnly?: boolean; audio?: boolean } = {},
  ) {
    this.pc = new PeerConnection(name, {
      iceServers: [],
      bindAddress: '127.0.0.1',
      disableAutoNegotiation: true,
    });
    const pc = this.pc;
    clientObjects.add(pc);
    for (const label of channels) {
      const dc = this.pc.createDataChannel(label);
      clientObjects.add(dc);
      dc.onClosed(() => clientObjects.delete(dc));
      const inbox: (string | Buffer)[] = [];
      dc.onMessage((m) => inbox.push(typeof m === 'string' ? m : Buffer.from(m as ArrayBuffer)));
      this.channels.set(label, dc);
      this.received.set(label, inbox);
    }
    this.pc.onStateChange((s) => {
      this.state = s;
      if (s === 'closed') clientObjects.delete(pc);
    });
    const video = new Video('0', 'RecvOnly');
    video.addH264Codec(102, 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f');
    video.addH264Codec(104, 'level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f');
    this.track = this.pc.addTrack(video);
    if (opts.audio === true) {
      const audio = new Audio('1', 'RecvOnly');
      audio.addOpusCodec(111);
      const audioTrack = this.pc.addTrack(audio);
      this.audioTrack = audioTrack;
      clientObjects.add(audioTrack);
      audioTrack.onClosed(() => clientObjects.delete(audioTrack));
      audioTrack.setMediaHandler(new RtcpReceivingSession());
      audioTrack.onMessage((buf) => {
        const p = parseRtp(buf);
        if (p) this.audioPackets.push(p);
      });
    }
    const track = this.track;
    clientObjects.add(track);
    track.onClosed(() => clientObjects.delete(track));
    this.track.setMediaHandler(new RtcpReceivingSession());
    this.track.onMessage((buf) => {
      if (opts.countOnly === true) {
        this.packets++;
        this.bytes += buf.byteLength;
        return;
      }
      const p = parseRtp(buf);
      if (!p) return;
      this.packets++;
      this.bytes += p.payload.byteLength;
      this.depacketizer.push(p);
    });
  }

  get connectionState(): string {
    return this.state;
  }

  /** The offer with every host candidate in it. */
  async offer(): Promise<string> {
    const gathered = new Promise<void>((resolve) => {
      this.pc.onGatheringStateChange((s) => {
        if (s === 'complete') resolve();
      });
    });
    this.pc.setLocalDescription('offer');
    await gathered;
    const sdp = this.pc.localDescription()?.sdp;
    if (sdp === undefined) throw new Error('no offer');
    return sdp;
  }

  answer(sdp: string): void {
    this.pc.setRemoteDescription(sdp, 'answer');
  }

  /** Offers, POSTs to the WHEP endpoint, applies the answer; returns the session's Location. */
  async connect(url: string, token: string): Promise<string> {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${token}` },
      body: await this.offer(),
    });
    if (res.status !== 201) throw new Error(`WHEP POST: ${res.status} ${await res.text()}`);
    this.answer(await res.text());
    return res.headers.get('location') ?? '';
  }

  /** Resolves when the DataChannel is open. */
  async channelOpen(label: string): Promise<DataChannel> {
    const dc = this.channels.get(label);
    if (!dc) throw new Error(`no channel ${label}`);
    await waitFor(`channel ${label} open`, () => dc.isOpen());
    return dc;
  }

  close(): void {
    try {
      for (const dc of this.channels.values()) dc.close();
      this.track.close();
      this.audioTrack?.close();
      this.pc.close();
    } catch {
      // already closed
    }
  }
}
