import {
  BadInputLog,
  bodyMatchesConsoleSubject,
  claimEpoch,
  connectNats,
  DEMAND_RENEW_MS,
  drainNats,
  nowUs,
  PublishGate,
  publishProto,
  startMetricsServer,
  streamKeyId,
  subjects,
  subscribeProto,
  type Logger,
  type MetricsServer,
  type NatsConnection,
  type Service,
  type StreamKey,
  validStreamKey,
  vmOfAudioSubject,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { AudioEncoder } from './audio-encoder.js';
import type { EncoderConfig } from './config.js';
import { DemandTable } from './demand.js';
import { Membership } from './membership.js';
import { frameReadyProblem } from './frame-ready-check.js';
import { EncoderMetrics } from './metrics.js';
import { RingCache } from './ring-cache.js';
import { StreamEncoder } from './stream-encoder.js';
import { streamOwner } from './stream-owner.js';

const { FrameReady, KeyframeRequest, EncoderControl, StreamClaim, ConsoleInfo, StreamDemand, AudioChunk } =
  qemu_webrtc.v1;
/** A VM whose audio has been silent this long has its encoder closed (reopened on the next sound). */
const AUDIO_IDLE_CLOSE_MS = 30_000;
/** A console not heard of (no FrameReady, no ConsoleInfo) for this long has no streams. */
const CONSOLE_FORGET_MS = 30_000;

/** The stream id a request names, when it is a valid one. */
const streamIdOf = (s: qemu_webrtc.v1.IStreamId | null | undefined): string | undefined => {
  const key = s ? validStreamKey(s) : undefined;
  return key ? streamKeyId(key) : undefined;
};

/**
 * An encoder: learns the consoles from capture's messages, takes the streams (console x rendition)
 * that rendezvous hashing over the live encoders gives it, and encodes them. When encoders come or
 * go, streams move; the new holder starts with an IDR. A held stream is encoded only while someone
 * demands it (StreamDemand leases, DemandTable) and DEMAND_LINGER_MS after; otherwise it is idle:
 * claimed, its newest frame noted, nothing encoded.
 */
export class EncoderService implements Service {
  readonly metrics = new EncoderMetrics();
  private readonly rings: RingCache;
  private readonly membership: Membership;
  /** Consoles seen lately: "vm.console" -> last seen (ms). */
  private readonly consoles = new Map<string, { vmId: string; consoleId: number; seenMs: number }>();
  private readonly held = new Map<string, StreamEncoder>();
  private readonly demand: DemandTable;
  /** The VMs whose audio this encoder encodes now, by VM id. */
  private readonly audio = new Map<string, AudioEncoder>();
  private readonly gate: PublishGate;
  private readonly badInput: BadInputLog;
  private metricsServer: MetricsServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private rebalanceQueued = false;
  private destroyed = false;

  private constructor(
    readonly config: EncoderConfig,
    private readonly logger: Logger,
    private readonly nc: NatsConnection,
  ) {
    this.rings = new RingCache(config.RING_DIR);
    this.demand = new DemandTable(config.DEMAND_LINGER_MS);
    this.gate = new PublishGate(nc);
    this.badInput = new BadInputLog(logger.child({ component: 'bad-input' }));
    this.membership = new Membership(
      nc,
      config.ENCODER_ID,
      config.HEARTBEAT_MS,
      config.MEMBER_TIMEOUT_MS,
      () => ({
        streams: [...this.held.values()].map((s) => s.key),
        framesEncoded: 0,
        renditions: config.ENCODER_RENDITIONS,
      }),
      logger.child({ component: 'membership' }),
      this.badInput,
    );
  }

  static async create(config: EncoderConfig, logger: Logger): Promise<EncoderService> {
    const nc = await connectNats(
      {
        url: config.NATS_URL,
        user: config.NATS_USER,
        password: config.NATS_PASSWORD,
        name: `encoder ${config.ENCODER_ID}`,
      },
      logger.child({ component: 'nats' }),
    );
    return new EncoderService(config, logger.child({ encoder: config.ENCODER_ID }), nc);
  }

  /** Streams this encoder holds now, by "vm.console.rendition". */
  get heldStreams(): string[] {
    return [...this.held.keys()].sort();
  }

  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  async start(): Promise<void> {
    this.metricsServer = await startMetricsServer({
      host: this.config.HTTP_HOST,
      port: this.config.METRICS_PORT,
      registry: this.metrics.registry,
      health: () => ({
        ok: !this.nc.isClosed(),
        streams: this.heldStreams,
        members: this.membership.members(),
      }),
    });
    const opts = {
      logger: this.logger,
      badInput: this.badInput,
      // Undecodable messages and handler failures alike: the bad-input log tells them apart.
      onBadMessage: () => this.metrics.messagesRejected.inc({ reason: 'bad_message' }),
    };
    subscribeProto(
      this.nc,
      subjects.frameReadyAll,
      FrameReady,
      (f, subject) => {
        if (this.fromItsConsole(subject, f)) this.onFrame(f);
      },
      opts,
    );
    subscribeProto(
      this.nc,
      subjects.consoleInfoAll,
      ConsoleInfo,
      (info, subject) => {
        if (info.graphic && info.enabled && this.fromItsConsole(subject, info)) {
          this.seeConsole(info.vmId, info.consoleId);
        }
      },
      opts,
    );
    subscribeProto(
      this.nc,
      subjects.keyframeRequestAll,
      KeyframeRequest,
      (req) => {
        const id = streamIdOf(req.stream);
        if (id === undefined) return;
        // Someone waits for a picture: for a stream with no lease known (this encoder started after
        // the last renewal) that is demand too, until the next renewal is due. With a lease known,
        // it extends nothing: a released stream stops after its linger, as the consumer said.
        const now = performance.now();
        if (this.demand.leases(id, now) === 0) {
          this.demand.heard(id, `keyframe:${req.requester.slice(0, 64)}`, DEMAND_RENEW_MS, false, now);
          this.applyDemand(id, now);
        }
        this.held.get(id)?.requestKeyframe(req.reason || 'request');
      },
      opts,
    );
    subscribeProto(
      this.nc,
      subjects.encoderControlAll,
      EncoderControl,
      (c) => {
        const id = streamIdOf(c.stream);
        if (id !== undefined) this.held.get(id)?.control(c.bitrateBps, c.maxFps);
      },
      opts,
    );
    subscribeProto(
      this.nc,
      subjects.streamDemandAll,
      StreamDemand,
      (d) => {
        const id = streamIdOf(d.stream);
        if (id === undefined || d.consumer === '' || d.consumer.length > 128) {
          this.metrics.messagesRejected.inc({ reason: 'bad_demand' });
          return;
        }
        this.metrics.demandMessages.inc({ kind: d.released ? 'release' : 'renew' });
        this.demand.heard(id, d.consumer, d.ttlMs, d.released, performance.now());
        this.applyDemand(id);
      },
      opts,
    );
    subscribeProto(
      this.nc,
      subjects.audioPcmAll,
      AudioChunk,
      (chunk, subject) => {
        this.onAudio(chunk, subject);
      },
      opts,
    );
    this.membership.on('changed', () => this.scheduleRebalance());
    this.membership.start();
    this.nc.publish(subjects.consoleRefresh);
    this.timer = setInterval(() => this.rebalance(), this.config.HEARTBEAT_MS);
  }

  /** A console message whose body names another console than its subject is forged or broken. */
  private fromItsConsole(subject: string, body: { vmId: string; consoleId: number }): boolean {
    if (bodyMatchesConsoleSubject(subject, body)) return true;
    this.metrics.messagesRejected.inc({ reason: 'subject_mismatch' });
    this.badInput.warn(
      'subject_mismatch',
      { subject, vmId: body.vmId.slice(0, 80), consoleId: body.consoleId },
      'message body names another console than its subject: dropped',
    );
    return false;
  }

  /**
   * A VM's audio is encoded by the encoder that rendezvous hashing over the members gives
   * `audio:<vm>` (the same rule as video streams, without claims: signaling follows whichever
   * encoder sends, one at a time). During a change of members two may encode for a moment.
   */
  private onAudio(chunk: qemu_webrtc.v1.AudioChunk, subject: string): void {
    if (vmOfAudioSubject(subject) !== chunk.vmId) {
      this.metrics.messagesRejected.inc({ reason: 'subject_mismatch' });
      return;
    }
    if (!this.membership.settled) return;
    if (streamOwner(`audio:${chunk.vmId}`, this.membership.members()) !== this.config.ENCODER_ID) {
      const mine = this.audio.get(chunk.vmId);
      if (mine) {
        mine.close();
        this.audio.delete(chunk.vmId);
        this.logger.info({ vmId: chunk.vmId }, 'audio given up: another encoder owns it now');
      }
      return;
    }
    let encoder = this.audio.get(chunk.vmId);
    if (!encoder) {
      encoder = new AudioEncoder({
        vmId: chunk.vmId,
        encoderId: this.config.ENCODER_ID,
        bitrate: this.config.ENCODER_AUDIO_BITRATE,
        nc: this.nc,
        gate: this.gate,
        metrics: this.metrics,
        logger: this.logger,
      });
      this.audio.set(chunk.vmId, encoder);
      this.logger.info({ vmId: chunk.vmId }, 'audio taken');
    }
    encoder.push(chunk);
  }

  /** Many changes in one tick (a burst of new consoles or members) cost one rebalance. */
  private scheduleRebalance(): void {
    if (this.rebalanceQueued) return;
    this.rebalanceQueued = true;
    setImmediate(() => {
      this.rebalanceQueued = false;
      this.rebalance();
    });
  }

  private seeConsole(vmId: string, consoleId: number): boolean {
    const id = `${vmId}.${consoleId}`;
    const known = this.consoles.has(id);
    this.consoles.set(id, { vmId, consoleId, seenMs: performance.now() });
    if (!known) this.scheduleRebalance();
    return known;
  }

  private onFrame(frame: qemu_webrtc.v1.FrameReady): void {
    const streams = this.config.ENCODER_RENDITIONS.flatMap((r) => {
      const s = this.held.get(`${frame.vmId}.${frame.consoleId}.${r.name}`);
      return s ? [s] : [];
    });
    const problem = frameReadyProblem(frame, streams.length > 0 ? this.rings : undefined);
    if (problem !== undefined) {
      this.metrics.messagesRejected.inc({ reason: `frame_ready_${problem}` });
      this.badInput.warn(
        `frame_ready_${problem}`,
        {
          ring: frame.ringName.slice(0, 80),
          generation: frame.ringGeneration,
          slot: frame.slot,
          width: frame.width,
          height: frame.height,
          format: frame.format,
        },
        'FrameReady names no frame that can be read: dropped',
      );
      return;
    }
    this.seeConsole(frame.vmId, frame.consoleId);
    for (const s of streams) s.onFrame(frame);
  }

  /**
   * Starts or stops a held stream as its demand says. A stream started without a frame to begin
   * from (this encoder came after the console's last change) asks capture to announce it again.
   */
  private applyDemand(id: string, now = performance.now()): void {
    const stream = this.held.get(id);
    if (!stream) return;
    const wanted = this.demand.wanted(id, now);
    if (wanted === stream.isActive) return;
    stream.setActive(wanted);
    if (wanted && !stream.hasFrame && !this.nc.isClosed()) this.nc.publish(subjects.consoleRefresh);
    this.countStreams();
  }

  private countStreams(): void {
    const active = [...this.held.values()].filter((s) => s.isActive).length;
    this.metrics.streamsHeld.set(this.held.size);
    this.metrics.streamsActive.set(active);
    this.metrics.streamsIdle.set(this.held.size - active);
  }

  /** Takes the streams this encoder owns now, lets go of the others. */
  private rebalance(): void {
    if (this.destroyed || !this.membership.settled) return;
    const now = performance.now();
    const members = this.membership.members();
    const wanted = new Set<string>();
    /** What hashing gives each of the other members: the membership audit checks they serve it. */
    const owned = new Map<string, string[]>();
    for (const [id, c] of this.consoles) {
      if (now - c.seenMs > CONSOLE_FORGET_MS) {
        this.consoles.delete(id);
        continue;
      }
      for (const r of this.config.ENCODER_RENDITIONS) {
        const key: StreamKey = { vmId: c.vmId, consoleId: c.consoleId, rendition: r.name };
        const streamId = streamKeyId(key);
        const owner = streamOwner(streamId, members);
        if (owner === this.config.ENCODER_ID) wanted.add(streamId);
        else if (owner !== undefined) {
          owned.set(owner, [...(owned.get(owner) ?? []), streamId]);
          // Make before break: keep encoding until the new owner says it holds the stream.
          if (this.held.has(streamId) && !this.membership.holds(owner, streamId)) wanted.add(streamId);
        }
        if (wanted.has(streamId) && !this.held.has(streamId)) this.take(key, r);
      }
    }
    for (const id of [...this.held.keys()]) if (!wanted.has(id)) this.release(id);
    // Demand ends by expiry and linger as well as by messages: checked every beat.
    this.metrics.demandLeases.set(this.demand.sweep(now));
    for (const id of this.held.keys()) this.applyDemand(id, now);
    this.countStreams();
    for (const [vmId, a] of this.audio) {
      if (now - a.lastChunkMs > AUDIO_IDLE_CLOSE_MS) {
        a.close();
        this.audio.delete(vmId);
      }
    }
    // Rings of consoles this encoder no longer encodes (or forgot) are let go.
    const key = (s: StreamKey): string => `${s.vmId}.${s.consoleId}`;
    this.rings.retain(new Set([...this.held.values()].map((s) => key(s.key))));
    this.membership.audit(owned);
  }

  private take(key: StreamKey, rendition: (typeof this.config.ENCODER_RENDITIONS)[number]): void {
    const id = streamKeyId(key);
    // Epochs order hand-overs: later takers have larger ones.
    const epoch = claimEpoch();
    this.held.set(
      id,
      new StreamEncoder({
        nc: this.nc,
        gate: this.gate,
        key,
        rendition,
        config: this.config,
        rings: this.rings,
        metrics: this.metrics,
        logger: this.logger,
        epoch,
      }),
    );
    publishProto(this.nc, subjects.streamClaims, StreamClaim, {
      stream: key,
      encoderId: this.config.ENCODER_ID,
      epoch,
      sentUs: nowUs(),
    });
    this.logger.info({ stream: id, epoch }, 'stream taken');
    this.applyDemand(id);
  }

  private release(id: string): void {
    const stream = this.held.get(id);
    if (!stream) return;
    stream.close();
    this.held.delete(id);
    if (!this.nc.isClosed()) {
      publishProto(this.nc, subjects.streamClaims, StreamClaim, {
        stream: stream.key,
        encoderId: this.config.ENCODER_ID,
        released: true,
        sentUs: nowUs(),
      });
    }
    this.logger.info({ stream: id }, 'stream released');
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.timer);
    for (const id of [...this.held.keys()]) this.release(id);
    for (const a of this.audio.values()) a.close();
    this.audio.clear();
    this.membership.leave();
    this.rings.close();
    this.badInput.close();
    await this.metricsServer?.close();
    await drainNats(this.nc);
  }
}
