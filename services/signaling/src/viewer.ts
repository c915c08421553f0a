import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  Audio,
  H264RtpPacketizer,
  PeerConnection,
  RtcpNackResponder,
  RtcpSrReporter,
  RtpPacketizationConfig,
  RtpPacketizer,
  Video,
  type DataChannel,
  type RtcConfig,
  type Track,
} from 'node-datachannel';
import {
  clampUiInfo,
  publishProto,
  subjects,
  type InputErrorMessage,
  type InputRefusal,
  type Logger,
  type NatsConnection,
  type ResizeOutcome,
  type Role,
  type StreamKey,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { RenditionChooser, type AdaptationSettings } from './adaptation-policy.js';
import type { AudioHub } from './audio-hub.js';
import type { CursorHub } from './cursor-hub.js';
import type { DisplaySizeArbiter, SizeFollower, SizeHint } from './display-size.js';
import { InputGate } from './input.js';
import { LinkQuality, type LinkThresholds } from './link-quality.js';
import type { SignalingMetrics } from './metrics.js';
import { Throttle } from './rate-limit.js';
import { parseRtcp } from './rtcp.js';
import {
  H264_FMTP,
  H264_PAYLOAD_TYPE,
  PLAYOUT_DELAY_URI,
  advertiseInSdp,
  advertisedCandidates,
  parseVideoOffer,
  takeCandidates,
} from './sdp.js';
import { OPUS_PAYLOAD_TYPE, parseAudioOffer } from './sdp-audio.js';
import type { StreamHub } from './stream-hub.js';

const { InputEvent } = qemu_webrtc.v1;

const size = (h: SizeHint): { width: number; height: number } => ({ width: h.width, height: h.height });

/** RTP payload size: leaves room for SRTP, the header extension and IPv6/UDP under a 1280 MTU path. */
const MAX_FRAGMENT = 1100;
/** Packets kept for retransmission on NACK (about 1 s at 6 Mbit/s). */
const NACK_HISTORY = 1024;
const PLAYOUT_DELAY_ID = 4;
/** A viewer not connected this long after negotiation starts is dropped. */
const CONNECT_TIMEOUT_MS = 30_000;
/**
 * When we answer (WHEP), the offer's candidates are added this much later. Checking them at once
 * would let ICE, then our DTLS ClientHello, reach the client before it has our answer and our
 * certificate fingerprint: libdatachannel-based clients fail the handshake then. Meanwhile the
 * client's own checks (it has our answer) connect as usual.
 */
const REMOTE_CANDIDATE_DELAY_MS = 250;
/** A disconnected (not failed) connection gets this long to come back. */
const DISCONNECTED_GRACE_MS = 8_000;
/** A rendition switch whose first IDR has not come by then is given up (the old stream goes on). */
const SWITCH_TIMEOUT_MS = 3_000;

export type Transport = 'ws' | 'whep';

export interface ResizeResult {
  outcome: ResizeOutcome;
  width: number;
  height: number;
  consoleWidth: number;
  consoleHeight: number;
}

/**
 * node-datachannel's wrappers (peer connections, tracks, DataChannels) stay in its own instance
 * lists until their native object reports "closed"; one garbage-collected before that leaves a
 * dangling pointer there, which its global cleanup() then dereferences (a crash at shutdown). So
 * every wrapper we create is held here until its "closed" event.
 */
const alive = new Set<object>();

/** node-datachannel objects not yet closed (for health: should return to 0 without viewers). */
export function rtcObjectsAlive(): number {
  return alive.size;
}

export interface ViewerContext {
  nc: NatsConnection;
  hub: StreamHub;
  cursors: CursorHub;
  /** Which control viewer's window sets each console's size (SetUIInfo). */
  sizes: DisplaySizeArbiter;
  audio: AudioHub;
  metrics: SignalingMetrics;
  logger: Logger;
  rtc: RtcConfig;
  inputRate: number;
  inputBurst: number;
  linkThresholds: LinkThresholds;
  adaptation: AdaptationSettings;
  /** ICE_ADVERTISED_ADDRESS: host candidates are also offered at this address. */
  advertisedAddress?: string;
}

export interface ViewerOptions {
  id: string;
  role: Role;
  stream: StreamKey;
  transport: Transport;
  /** The rendition follows the viewer's link (false: the viewer asked for this one). */
  adaptive: boolean;
  /** The VM has audio (ConsoleInfo.has_audio): the connection gets an Opus track. */
  audio?: boolean;
}

interface Events {
  /** Our ICE candidate, to trickle to the client. */
  candidate: [candidate: string, mid: string];
  /** PeerConnection state: new, connecting, connected, disconnected, failed, closed. */
  state: [state: string];
  /** Something the client should be told (refused input, ...). */
  notice: [code: InputRefusal, message: string];
  /** The viewer now receives another rendition. */
  rendition: [name: string];
  /** What became of this viewer's player-area hint (SetUIInfo). */
  resize: [result: ResizeResult];
  closed: [reason: string];
}

/**
 * One viewer: a node-datachannel PeerConnection with a send-only H.264 track (RTP packetization,
 * RTCP sender reports, NACK responder; PLI/FIR from the viewer become keyframe requests) and the
 * "input" and "cursor" DataChannels.
 */
export class Viewer extends EventEmitter<Events> {
  private readonly pc: PeerConnection;
  private track: Track | undefined;
  private rtpConfig: RtpPacketizationConfig | undefined;
  private audioTrack: Track | undefined;
  private audioConfig: RtpPacketizationConfig | undefined;
  private detachAudio: (() => void) | undefined;
  private inputChannel: DataChannel | undefined;
  private cursorChannel: DataChannel | undefined;
  private readonly gate: InputGate;
  private readonly throttle = new Throttle(1000);
  private readonly logger: Logger;
  private detachStream: (() => void) | undefined;
  private pendingSwitch: { detach: () => void; timer: NodeJS.Timeout } | undefined;
  private key: StreamKey;
  /** The link as the viewer's receiver reports describe it, and what to do about it. */
  readonly link: LinkQuality;
  readonly chooser: RenditionChooser;
  private detachCursor: (() => void) | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private candidateTimer: NodeJS.Timeout | undefined;
  private closedReason: string | undefined;
  private sentInput = false;
  readonly createdMs = performance.now();
  /** This viewer as a competitor for its console's size (control viewers that follow the window). */
  private readonly follower: SizeFollower;
  private lastHint: SizeHint | undefined;

  private constructor(
    readonly opts: ViewerOptions,
    private readonly ctx: ViewerContext,
  ) {
    super();
    this.key = opts.stream;
    this.link = new LinkQuality(ctx.linkThresholds);
    this.chooser = new RenditionChooser(ctx.adaptation);
    this.logger = ctx.logger.child({ viewer: opts.id });
    this.gate = new InputGate(
      opts.id,
      opts.role,
      opts.stream.vmId,
      opts.stream.consoleId,
      ctx.inputRate,
      ctx.inputBurst,
      (event) => this.publishInput(event),
    );
    this.follower = {
      id: opts.id,
      consoleKey: `${opts.stream.vmId}.${opts.stream.consoleId}`,
      sendHint: (hint) => this.publishInput(this.gate.uiInfo(hint)),
      overruled: () => {
        const h = this.lastHint;
        if (h)
          this.emit('resize', { outcome: 'other_viewer', ...size(h), consoleWidth: 0, consoleHeight: 0 });
      },
    };
    this.pc = new PeerConnection(opts.id, { ...ctx.rtc, disableAutoNegotiation: true });
    alive.add(this.pc);
    this.pc.onLocalCandidate((candidate, mid) => {
      for (const c of advertisedCandidates(candidate, ctx.advertisedAddress)) this.emit('candidate', c, mid);
    });
    this.pc.onStateChange((state) => this.onState(state));
    this.pc.onDataChannel((dc) => this.adoptChannel(dc));
    this.connectTimer = setTimeout(() => this.close('connect timeout'), CONNECT_TIMEOUT_MS);
  }

  get id(): string {
    return this.opts.id;
  }

  /** The stream (console x rendition) this viewer receives now. */
  get streamKey(): StreamKey {
    return this.key;
  }

  get adaptive(): boolean {
    return this.opts.adaptive;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** The video track can carry media. */
  get ready(): boolean {
    return this.closedReason === undefined && this.track?.isOpen() === true;
  }

  /** A viewer that offers (the browser client over WebSocket): returns the SDP offer. */
  static createOffering(opts: ViewerOptions, ctx: ViewerContext): { viewer: Viewer; offer: string } {
    const viewer = new Viewer(opts, ctx);
    try {
      viewer.addVideo('video', H264_PAYLOAD_TYPE, H264_FMTP, PLAYOUT_DELAY_ID);
      if (opts.audio === true) viewer.addAudio('audio', OPUS_PAYLOAD_TYPE);
      viewer.adoptChannel(viewer.pc.createDataChannel('input'));
      viewer.adoptChannel(viewer.pc.createDataChannel('cursor'));
      viewer.pc.setLocalDescription('offer');
      const offer = viewer.pc.localDescription()?.sdp;
      if (offer === undefined) throw new Error('no local description');
      return { viewer, offer: advertiseInSdp(offer, ctx.advertisedAddress) };
    } catch (error) {
      viewer.close('negotiation failed');
      throw error;
    }
  }

  /**
   * A viewer that sent an offer (WHEP): answers it. Throws SdpError for an offer we cannot serve.
   * The answer carries every host candidate (gathering is awaited, up to `gatherTimeoutMs`).
   */
  static async createAnswering(
    opts: ViewerOptions,
    ctx: ViewerContext,
    offer: string,
    gatherTimeoutMs = 3000,
  ): Promise<{ viewer: Viewer; answer: string }> {
    const video = parseVideoOffer(offer);
    const viewer = new Viewer(opts, ctx);
    try {
      viewer.addVideo(video.mid, video.payloadType, video.fmtp, video.playoutDelayId);
      const audio = parseAudioOffer(offer);
      if (audio && opts.audio === true) viewer.addAudio(audio.mid, audio.payloadType);
      // libdatachannel would answer an offered audio section sendonly by itself: say inactive.
      else if (audio) viewer.addInactiveAudio(audio.mid, audio.payloadType);
      const gathered = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, gatherTimeoutMs);
        viewer.pc.onGatheringStateChange((state) => {
          if (state === 'complete') {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      const { sdp, candidates } = takeCandidates(offer);
      viewer.pc.setRemoteDescription(sdp, 'offer');
      viewer.pc.setLocalDescription('answer');
      await gathered;
      const gatheredAnswer = viewer.pc.localDescription()?.sdp;
      if (gatheredAnswer === undefined || viewer.closed) throw new Error('no local description');
      const answer = advertiseInSdp(gatheredAnswer, ctx.advertisedAddress);
      viewer.candidateTimer = setTimeout(() => {
        for (const c of candidates) {
          try {
            viewer.addRemoteCandidate(c.candidate, c.mid);
          } catch (error) {
            viewer.logger.debug({ err: error }, 'remote candidate refused');
          }
        }
      }, REMOTE_CANDIDATE_DELAY_MS);
      return { viewer, answer };
    } catch (error) {
      viewer.close('negotiation failed');
      throw error;
    }
  }

  private addVideo(mid: string, payloadType: number, fmtp: string, playoutDelayId: number | undefined): void {
    const ssrc = randomInt(1, 2 ** 32 - 1);
    const cname = `qw-${this.opts.id}`;
    const video = new Video(mid, 'SendOnly');
    video.addH264Codec(payloadType, fmtp);
    video.addSSRC(ssrc, cname, 'qemu-webrtc', `${this.opts.stream.vmId}-${this.opts.stream.consoleId}`);
    if (playoutDelayId !== undefined) video.parseSdpLine(`a=extmap:${playoutDelayId} ${PLAYOUT_DELAY_URI}`);
    const track = this.pc.addTrack(video);
    alive.add(track);
    track.onClosed(() => alive.delete(track));
    const config = new RtpPacketizationConfig(ssrc, cname, payloadType, 90_000);
    if (playoutDelayId !== undefined) {
      // min = max = 0: render each frame as soon as it is decoded.
      config.playoutDelayId = playoutDelayId;
      config.playoutDelayMin = 0;
      config.playoutDelayMax = 0;
    }
    const packetizer = new H264RtpPacketizer('StartSequence', config, MAX_FRAGMENT);
    packetizer.addToChain(new RtcpSrReporter(config));
    packetizer.addToChain(new RtcpNackResponder(NACK_HISTORY));
    track.setMediaHandler(packetizer);
    track.onOpen(() => {
      this.logger.debug('video track open');
      this.ctx.hub.sinkReady(this.key, this.opts.id);
    });
    track.onMessage((msg) => this.onRtcp(msg));
    this.track = track;
    this.rtpConfig = config;
    this.detachStream = this.ctx.hub.attach(this.key, this);
  }

  /**
   * The VM's audio: a send-only Opus track in the same connection and media stream as the video,
   * one RTP packet per Opus packet, RTCP sender reports. Its RTP timestamps come from the same
   * clock as the video's (capture's microseconds), and libdatachannel's sender reports pair each
   * track's latest RTP timestamp with the same wall clock, so the browser can line them up.
   */
  private addAudio(mid: string, payloadType: number): void {
    const ssrc = randomInt(1, 2 ** 32 - 1);
    const cname = `qw-${this.opts.id}`;
    const audio = new Audio(mid, 'SendOnly');
    audio.addOpusCodec(payloadType);
    audio.addSSRC(ssrc, cname, 'qemu-webrtc', `${this.opts.stream.vmId}-audio`);
    const track = this.pc.addTrack(audio);
    alive.add(track);
    track.onClosed(() => alive.delete(track));
    const config = new RtpPacketizationConfig(ssrc, cname, payloadType, 48_000);
    const packetizer = new RtpPacketizer(config);
    packetizer.addToChain(new RtcpSrReporter(config));
    track.setMediaHandler(packetizer);
    track.onMessage(() => undefined); // receiver reports: nothing to act on for audio
    this.audioTrack = track;
    this.audioConfig = config;
    this.detachAudio = this.ctx.audio.attach(this.opts.stream.vmId, this);
  }

  /** A WHEP offer's audio section for a VM without audio: answered inactive, nothing sent. */
  private addInactiveAudio(mid: string, payloadType: number): void {
    const audio = new Audio(mid, 'Inactive');
    audio.addOpusCodec(payloadType);
    const track = this.pc.addTrack(audio);
    alive.add(track);
    track.onClosed(() => alive.delete(track));
    this.audioTrack = track;
  }

  /** AudioSink: one Opus packet to this viewer. */
  sendAudio(data: Buffer, rtpTimestamp: number): void {
    const track = this.audioTrack;
    const config = this.audioConfig;
    if (!track || !config || this.closed || !track.isOpen()) return;
    config.timestamp = rtpTimestamp;
    track.sendMessageBinary(data);
  }

  /**
   * Moves this viewer to another rendition of its console: it keeps receiving the current one until
   * the new one's first IDR has gone out (make before break). False while a move is under way.
   */
  switchRendition(rendition: string): boolean {
    if (this.closed || this.pendingSwitch || rendition === this.key.rendition) return false;
    const next: StreamKey = { ...this.key, rendition };
    const detach = this.ctx.hub.attach(next, this, () => {
      if (this.pendingSwitch?.detach !== detach) return;
      clearTimeout(this.pendingSwitch.timer);
      this.pendingSwitch = undefined;
      this.detachStream?.();
      this.detachStream = detach;
      this.key = next;
      this.link.reset();
      this.logger.info({ rendition }, 'now on another rendition');
      this.emit('rendition', rendition);
    });
    const timer = setTimeout(() => {
      if (this.pendingSwitch?.detach !== detach) return;
      this.pendingSwitch = undefined;
      detach();
      this.logger.warn({ rendition }, 'rendition switch gave up: no IDR came');
    }, SWITCH_TIMEOUT_MS);
    this.pendingSwitch = { detach, timer };
    this.ctx.hub.sinkReady(next, this.opts.id);
    return true;
  }

  /** FrameSink: one access unit to this viewer. */
  sendFrame(data: Buffer, rtpTimestamp: number): void {
    const track = this.track;
    const config = this.rtpConfig;
    if (!track || !config || this.closed) return;
    config.timestamp = rtpTimestamp;
    track.sendMessageBinary(data);
  }

  /** CursorSink. */
  sendCursor(message: Buffer): void {
    const dc = this.cursorChannel;
    if (dc?.isOpen() && dc.bufferedAmount() < 1024 * 1024) dc.sendMessageBinary(message);
  }

  addRemoteCandidate(candidate: string, mid: string): void {
    if (this.closed) return;
    this.pc.addRemoteCandidate(candidate, mid);
  }

  /** The client's answer to our offer. Throws on SDP that libdatachannel rejects. */
  setAnswer(sdp: string): void {
    this.pc.setRemoteDescription(sdp, 'answer');
  }

  /** Round-trip time in ms as measured by ICE/SCTP, when known. */
  rtt(): number | undefined {
    try {
      const rtt = this.pc.rtt();
      return rtt >= 0 ? rtt : undefined;
    } catch {
      return undefined;
    }
  }

  private adoptChannel(dc: DataChannel): void {
    alive.add(dc);
    dc.onClosed(() => alive.delete(dc));
    const label = dc.getLabel();
    if (label === 'input') {
      this.inputChannel = dc;
      dc.onMessage((msg) => this.onInput(msg));
    } else if (label === 'cursor') {
      this.cursorChannel = dc;
      dc.onOpen(() => {
        for (const m of this.ctx.cursors.current(this.opts.stream.vmId, this.opts.stream.consoleId)) {
          this.sendCursor(m);
        }
      });
      // The viewer never sends on this channel; anything it does send is ignored.
      dc.onMessage(() => undefined);
      this.detachCursor ??= this.ctx.cursors.attach(this.opts.stream.vmId, this.opts.stream.consoleId, this);
    } else {
      this.ctx.metrics.rejected.inc({ reason: 'unknown_channel' });
      this.logger.debug({ label }, 'unknown DataChannel closed');
      dc.close();
    }
  }

  /**
   * One message from the input DataChannel. Handled synchronously, nothing awaited: libdatachannel
   * hands every message over as it arrives, and motion is coalesced in the gate.
   */
  private onInput(msg: string | Buffer | ArrayBuffer): void {
    const result = this.gate.handle(msg);
    if (result.ok) {
      this.ctx.metrics.inputEvents.inc({ result: result.coalesced ? 'coalesced' : 'accepted' });
      return;
    }
    this.ctx.metrics.inputEvents.inc({ result: result.reason });
    this.refuse(result.reason, result.message);
  }

  private publishInput(event: qemu_webrtc.v1.IInputEvent): void {
    if (this.ctx.nc.isClosed()) return;
    publishProto(this.ctx.nc, subjects.input(this.opts.stream.vmId), InputEvent, event);
    this.sentInput = true;
    // Input (not a release, not a size hint) makes this viewer the one whose window sets the size.
    if (event.key?.down || event.button?.down || event.move || event.relative || event.wheel || event.touch)
      this.ctx.sizes.input(this.follower);
  }

  /**
   * The page's player area (device pixels, mm), or null when it stops following the window. Only
   * control viewers may ask; returns false for others (the caller refuses with `view_only`).
   */
  setDisplaySize(hint: SizeHint | null): boolean {
    if (this.opts.role !== 'control') return false;
    if (this.closed) return true;
    if (hint === null) {
      this.lastHint = undefined;
      this.ctx.sizes.stop(this.follower);
      return true;
    }
    this.lastHint = clampUiInfo(hint);
    this.ctx.sizes.hint(this.follower, this.lastHint);
    return true;
  }

  /** Input's answer to a hint this viewer sent (UiInfoResult). */
  uiInfoResult(result: ResizeResult): void {
    if (!this.closed) this.emit('resize', result);
  }

  private refuse(code: InputRefusal, message: string): void {
    if (!this.throttle.allow(code)) return;
    this.logger.debug({ code }, message);
    const dc = this.inputChannel;
    if (dc?.isOpen())
      dc.sendMessage(JSON.stringify({ type: 'error', code, message } satisfies InputErrorMessage));
    this.emit('notice', code, message);
  }

  private onRtcp(msg: Buffer): void {
    const fb = parseRtcp(msg);
    this.link.onFeedback(fb);
    if (fb.pli > 0 || fb.fir > 0) {
      this.ctx.metrics.rtcpFeedback.inc({ type: fb.fir > 0 ? 'fir' : 'pli' });
      this.ctx.hub.keyframeWanted(this.key, fb.fir > 0 ? 'fir' : 'pli');
    }
    if (fb.nack > 0) this.ctx.metrics.rtcpFeedback.inc({ type: 'nack' }, fb.nack);
  }

  private onState(state: string): void {
    this.logger.debug({ state }, 'peer connection state');
    if (state === 'closed') alive.delete(this.pc);
    this.emit('state', state);
    if (state === 'connected') {
      clearTimeout(this.connectTimer);
      clearTimeout(this.graceTimer);
      this.graceTimer = undefined;
    } else if (state === 'disconnected') {
      this.graceTimer ??= setTimeout(() => this.close('disconnected'), DISCONNECTED_GRACE_MS);
    } else if (state === 'failed' || state === 'closed') {
      // Not from inside libdatachannel's callback.
      setImmediate(() => this.close(state === 'failed' ? 'connection failed' : 'closed by peer'));
    }
  }

  /** Leaves: releases everything this viewer held in the guest, stops media, closes the connection. */
  close(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    clearTimeout(this.connectTimer);
    clearTimeout(this.graceTimer);
    clearTimeout(this.candidateTimer);
    this.detachStream?.();
    if (this.pendingSwitch) {
      clearTimeout(this.pendingSwitch.timer);
      this.pendingSwitch.detach();
      this.pendingSwitch = undefined;
    }
    this.detachCursor?.();
    this.ctx.sizes.stop(this.follower);
    this.detachAudio?.();
    this.gate.close();
    if (this.opts.role === 'control' && !this.ctx.nc.isClosed()) {
      for (const event of this.gate.releaseAll())
        publishProto(this.ctx.nc, subjects.input(this.opts.stream.vmId), InputEvent, event);
    }
    for (const closeIt of [
      () => this.inputChannel?.close(),
      () => this.cursorChannel?.close(),
      () => this.track?.close(),
      () => this.audioTrack?.close(),
      () => this.pc.close(),
    ]) {
      try {
        closeIt();
      } catch (error) {
        this.logger.debug({ err: error }, 'error while closing');
      }
    }
    this.logger.info({ reason, sentInput: this.sentInput }, 'viewer left');
    this.emit('closed', reason);
  }
}
