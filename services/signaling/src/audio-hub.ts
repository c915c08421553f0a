import {
  subjects,
  vmOfAudioSubject,
  type BadInputLog,
  type NatsConnection,
  type Subscription,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import type { SignalingMetrics } from './metrics.js';

const { OpusPacket } = qemu_webrtc.v1;
/** Another encoder's packets are taken once the followed one has been silent this long. */
const SWITCH_AFTER_MS = 500;
/** An Opus packet is at most 1275 bytes per frame (RFC 6716); 20 ms frames: one frame. */
const MAX_OPUS_BYTES = 1275 * 3;

/** 48 kHz RTP timestamp of a microsecond presentation time (the video's 90 kHz comes from the same clock). */
export function opusRtpTimestamp(ptsUs: number): number {
  return Math.floor((ptsUs * 48) / 1000) % 2 ** 32;
}

export interface AudioSink {
  readonly id: string;
  sendAudio(data: Buffer, rtpTimestamp: number): void;
}

interface VmAudio {
  sub: Subscription;
  sinks: Map<string, AudioSink>;
  /** The encoder followed now, and when it last sent. */
  encoderId: string;
  lastMs: number;
}

/**
 * One subscription per VM someone listens to forwards its Opus packets to every viewer of it. Packets
 * come from the encoder that owns the VM's audio; while ownership moves two may send for a moment:
 * the hub follows one, and another only after SWITCH_AFTER_MS of silence from it.
 */
export class AudioHub {
  private readonly vms = new Map<string, VmAudio>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly metrics: SignalingMetrics,
    private readonly badInput: BadInputLog,
  ) {}

  attach(vmId: string, sink: AudioSink): () => void {
    let vm = this.vms.get(vmId);
    if (!vm) {
      const entry: VmAudio = {
        sub: this.nc.subscribe(subjects.audioOpus(vmId), {
          callback: (err, msg) => {
            if (!err) this.onMessage(entry, msg.subject, msg.data);
          },
        }),
        sinks: new Map(),
        encoderId: '',
        lastMs: -Infinity,
      };
      vm = entry;
      this.vms.set(vmId, vm);
    }
    vm.sinks.set(sink.id, sink);
    const current = vm;
    return () => {
      current.sinks.delete(sink.id);
      if (current.sinks.size === 0 && this.vms.get(vmId) === current) {
        current.sub.unsubscribe();
        this.vms.delete(vmId);
      }
    };
  }

  private onMessage(vm: VmAudio, subject: string, data: Uint8Array): void {
    let packet: qemu_webrtc.v1.OpusPacket;
    try {
      packet = OpusPacket.decode(data);
    } catch (error) {
      this.metrics.rejected.inc({ reason: 'bad_audio_message' });
      this.badInput.warn('bad_audio_message', { subject, err: error }, 'undecodable audio packet');
      return;
    }
    if (vmOfAudioSubject(subject) !== packet.vmId) {
      this.metrics.rejected.inc({ reason: 'audio_subject_mismatch' });
      return;
    }
    if (packet.data.byteLength === 0 || packet.data.byteLength > MAX_OPUS_BYTES) {
      this.metrics.rejected.inc({ reason: 'bad_audio_packet' });
      return;
    }
    const now = performance.now();
    if (packet.encoderId !== vm.encoderId) {
      if (now - vm.lastMs < SWITCH_AFTER_MS) return; // another encoder's, while ours still sends
      vm.encoderId = packet.encoderId;
    }
    vm.lastMs = now;
    const ts = opusRtpTimestamp(packet.ptsUs);
    const payload = Buffer.from(packet.data.buffer, packet.data.byteOffset, packet.data.byteLength);
    for (const sink of vm.sinks.values()) sink.sendAudio(payload, ts);
    this.metrics.audioPackets.inc(vm.sinks.size);
  }

  close(): void {
    for (const vm of this.vms.values()) vm.sub.unsubscribe();
    this.vms.clear();
  }
}
