import { Counter, Gauge, Histogram, createRegistry, type Registry } from '@qemu-webrtc/common';

/** What an encoder counts: frames in, encoded and dropped, encode time, bytes out, streams held. */
export class EncoderMetrics {
  readonly registry: Registry = createRegistry('encoder');
  /** outcome: encoded, dropped (queue full: the encoder fell behind), bad (a format libopus refused). */
  readonly audioChunks = new Counter({
    name: 'encoder_audio_chunks_total',
    help: 'AudioChunks of VMs whose audio this encoder owns, by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly audioPackets = new Counter({
    name: 'encoder_audio_packets_total',
    help: 'Opus packets published',
    registers: [this.registry],
  });
  readonly audioBytes = new Counter({
    name: 'encoder_audio_bytes_total',
    help: 'Bytes of Opus packets published (the audio bitrate on the wire, before RTP)',
    registers: [this.registry],
  });
  readonly framesIn = new Counter({
    name: 'encoder_frames_in_total',
    help: 'FrameReady messages for held streams',
    registers: [this.registry],
  });
  readonly framesEncoded = new Counter({
    name: 'encoder_frames_encoded_total',
    help: 'Access units published',
    labelNames: ['keyframe'],
    registers: [this.registry],
  });
  /**
   * reason: superseded (a newer frame came first), rate (frame-rate cap), stale (the slot or its
   * ring was replaced before the read), torn (the slot was overwritten during the colour
   * conversion: a torn read, discarded), geometry, error.
   */
  readonly framesDropped = new Counter({
    name: 'encoder_frames_dropped_total',
    help: 'Frames not encoded, by reason (torn: the ring slot was overwritten while it was read)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  /** reason: start (a stream taken), demand (encoding resumed for a new lease), resize, request (a viewer asked), codec (its own: keyint, reopen). */
  readonly keyframes = new Counter({
    name: 'encoder_keyframes_total',
    help: 'IDR access units published, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly encodeSeconds = new Histogram({
    name: 'encoder_encode_seconds',
    help: 'Conversion + encode time per frame',
    buckets: [0.002, 0.004, 0.008, 0.012, 0.016, 0.025, 0.05, 0.1],
    registers: [this.registry],
  });
  readonly bytesOut = new Counter({
    name: 'encoder_bytes_out_total',
    help: 'H.264 bytes published',
    registers: [this.registry],
  });
  readonly streamsHeld = new Gauge({
    name: 'encoder_streams_held',
    help: 'Streams this encoder encodes',
    registers: [this.registry],
  });
  readonly streamsActive = new Gauge({
    name: 'encoder_streams_active',
    help: 'Held streams encoded now (live demand, or lingering after it)',
    registers: [this.registry],
  });
  readonly streamsIdle = new Gauge({
    name: 'encoder_streams_idle',
    help: 'Held streams not encoded now: nobody wants them',
    registers: [this.registry],
  });
  readonly demandLeases = new Gauge({
    name: 'encoder_demand_leases',
    help: 'Live StreamDemand leases this encoder knows of (every stream, held or not)',
    registers: [this.registry],
  });
  readonly demandStartSeconds = new Histogram({
    name: 'encoder_demand_start_seconds',
    help: 'From a stream going active (demand) to its first access unit published (an IDR of the newest frame)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly demandMessages = new Counter({
    name: 'encoder_demand_messages_total',
    help: 'StreamDemand messages taken: renew (a lease taken or renewed) or release',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly messagesRejected = new Counter({
    name: 'encoder_messages_rejected_total',
    help: 'NATS messages dropped as undecodable, forged or out of range, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly controls = new Counter({
    name: 'encoder_controls_total',
    help: 'EncoderControl messages for held streams: applied, rejected (out of range) or expired',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly targetBitrate = new Gauge({
    name: 'encoder_target_bitrate_bps',
    help: "Each held stream's target bitrate now (the rendition's, or lowered by EncoderControl)",
    labelNames: ['stream'],
    registers: [this.registry],
  });
}
