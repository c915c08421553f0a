import { EventEmitter } from 'node:events';
import {
  type BadInputLog,
  ProtocolError,
  nowUs,
  publishProto,
  subjects,
  type Logger,
  type NatsConnection,
  type PublishGate,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  AUDIO_OUT_LISTENER_METHODS,
  AUDIO_OUT_LISTENER_PATH,
  IFACE,
  PeerLink,
  registerAudioOutListener,
  type IncomingCall,
  type MessageBus,
} from '@qemu-webrtc/qemu-dbus';
import { closeFd } from './frame-copy.js';
import type { CaptureMetrics } from './metrics.js';
import { socketpair } from './native.js';

const { AudioChunk } = qemu_webrtc.v1;
/** A Write larger than this is refused (QEMU writes NSamples frames, 480 by default: ~4 KB). */
const MAX_WRITE_BYTES = 1 << 20;
/** Formats a library can convert: QEMU's AudioFormat is u8/s8/u16/s16/u32/s32/f32. */
const BITS = new Set([8, 16, 32]);

export interface AudioCaptureOptions {
  bus: MessageBus;
  vmId: string;
  nc: NatsConnection;
  gate: PublishGate;
  metrics: CaptureMetrics;
  logger: Logger;
  badInput: BadInputLog;
}

interface Events {
  closed: [Error | undefined];
}

/**
 * QEMU's audio output: registers an AudioOutListener over a socket pair (a p2p link like the display
 * listener: QEMU authenticates, no Hello) and publishes each Write, unchanged, as an AudioChunk with
 * the format its voice announced in Init. Conversion and encoding happen in the encoder: raw PCM is
 * small (a few hundred KB/s at most), so it travels on NATS and capture stays a copier.
 */
export class AudioCapture extends EventEmitter<Events> {
  private readonly link: PeerLink;
  private readonly logger: Logger;
  private readonly voices = new Map<bigint, PcmFormat>();
  private sequence = 0;

  private constructor(
    private readonly opts: AudioCaptureOptions,
    ourFd: number,
  ) {
    super();
    this.logger = opts.logger.child({ component: 'audio' });
    this.link = PeerLink.connect(ourFd, { peerName: 'QEMU' });
    this.link.on('call', (call) => {
      this.onCall(call);
    });
    this.link.on('close', (error) => {
      this.emit('closed', error);
    });
  }

  /** Registers the listener; rejects when QEMU has no D-Bus audio (then the VM has no audio). */
  static async start(opts: AudioCaptureOptions): Promise<AudioCapture> {
    const [ours, theirs] = socketpair();
    const capture = new AudioCapture(opts, ours);
    try {
      await registerAudioOutListener(opts.bus, theirs);
    } catch (error) {
      capture.close();
      throw error;
    } finally {
      closeFd(theirs);
    }
    capture.logger.info('audio output listener registered');
    return capture;
  }

  private onCall(call: IncomingCall): void {
    const method = `${call.interface}.${call.member}`;
    try {
      for (const fd of call.fds) closeFd(fd); // no AudioOutListener call carries fds
      if (call.path !== AUDIO_OUT_LISTENER_PATH) {
        this.link.replyError(call, 'org.freedesktop.DBus.Error.UnknownObject', `no object at ${call.path}`);
        return;
      }
      if (call.interface === IFACE.properties) {
        // GDBus's proxy reads the properties first (synchronously, in QEMU's main loop): answer at once.
        if (call.member === 'GetAll') this.link.reply(call, 'a{sv}', [{}]);
        else this.link.replyError(call, 'org.freedesktop.DBus.Error.InvalidArgs', 'no such property');
        return;
      }
      if (call.interface === 'org.freedesktop.DBus.Peer' && call.member === 'Ping') {
        this.link.reply(call);
        return;
      }
      if (call.interface === 'org.freedesktop.DBus.Introspectable') {
        this.link.reply(call, 's', [introspection()]);
        return;
      }
      const expected =
        call.interface === IFACE.audioOutListener
          ? (AUDIO_OUT_LISTENER_METHODS as Record<string, string | undefined>)[call.member]
          : undefined;
      if (expected === undefined) {
        this.link.replyError(call, 'org.freedesktop.DBus.Error.UnknownMethod', `unknown method ${method}`);
        return;
      }
      if (expected !== call.signature)
        throw new ProtocolError(`${method} with signature '${call.signature}', expected '${expected}'`);
      this.onListenerCall(call);
      this.link.reply(call);
    } catch (error) {
      this.opts.metrics.audioChunks.inc({ outcome: 'bad' });
      this.opts.badInput.warn(
        `qemu-audio:${call.member}`,
        { method, err: error },
        'dropped a bad audio message from QEMU',
      );
      this.link.replyError(call, 'org.qemu.Display1.Error.Failed', String(error));
    }
  }

  private onListenerCall(call: IncomingCall): void {
    const b = call.body;
    const voice = BigInt(b[0] as bigint | number);
    switch (call.member) {
      case 'Init': {
        const format = checkFormat({
          bits: b[1] as number,
          isSigned: b[2] as boolean,
          isFloat: b[3] as boolean,
          rate: b[4] as number,
          channels: b[5] as number,
          bytesPerFrame: b[6] as number,
          bigEndian: b[8] as boolean,
        });
        this.voices.set(voice, format);
        this.logger.info({ voice: String(voice), format }, 'QEMU audio voice');
        break;
      }
      case 'Fini':
        this.voices.delete(voice);
        break;
      case 'SetEnabled':
      case 'SetVolume':
        // Enabled or not, the PCM QEMU writes is what plays; volume is the viewer's (the page's).
        break;
      case 'Write':
        this.write(voice, b[1] as Buffer);
        break;
    }
  }

  private write(voice: bigint, data: Buffer): void {
    const receivedUs = nowUs();
    const format = this.voices.get(voice);
    if (format === undefined) throw new ProtocolError(`Write for voice ${voice} before its Init`);
    const frame = format.bytesPerFrame;
    if (data.byteLength === 0 || data.byteLength > MAX_WRITE_BYTES || data.byteLength % frame !== 0)
      throw new ProtocolError(`Write of ${data.byteLength} bytes (${frame} bytes per frame)`);
    if (!this.opts.gate.tryAcquire()) {
      this.opts.metrics.audioChunks.inc({ outcome: 'nats' });
      return;
    }
    const durationUs = Math.round(((data.byteLength / frame) * 1e6) / format.rate);
    publishProto(this.opts.nc, subjects.audioPcm(this.opts.vmId), AudioChunk, {
      vmId: this.opts.vmId,
      voice: Number(voice & 0xfffffffffffffn) /* an id: its low bits are enough */,
      format,
      data,
      ptsUs: receivedUs - durationUs,
      sequence: ++this.sequence,
    });
    this.opts.metrics.audioChunks.inc({ outcome: 'published' });
  }

  /** Drops the listener (QEMU forgets it when the socket closes). Safe twice. */
  close(): void {
    this.link.close();
  }
}

/** Refuses formats no converter takes (and impossible frame sizes) before they go anywhere. */
interface PcmFormat {
  bits: number;
  isSigned: boolean;
  isFloat: boolean;
  rate: number;
  channels: number;
  bytesPerFrame: number;
  bigEndian: boolean;
}

function checkFormat(f: PcmFormat): PcmFormat {
  const ok =
    BITS.has(f.bits) &&
    (!f.isFloat || f.bits === 32) &&
    f.rate >= 1000 &&
    f.rate <= 384_000 &&
    f.channels >= 1 &&
    f.channels <= 8 &&
    f.bytesPerFrame === (f.bits / 8) * f.channels;
  if (!ok) throw new ProtocolError(`unsupported audio format ${JSON.stringify(f)}`);
  return f;
}

function introspection(): string {
  const methods = Object.entries(AUDIO_OUT_LISTENER_METHODS)
    .map(([name, sig]) => {
      const args = (sig.match(/ay|./g) ?? []).map((t) => `<arg type="${t}" direction="in"/>`).join('');
      return `<method name="${name}">${args}</method>`;
    })
    .join('');
  return `<node><interface name="${IFACE.audioOutListener}">${methods}</interface></node>`;
}
