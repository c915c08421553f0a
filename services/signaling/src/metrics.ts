import { Counter, Gauge, createRegistry, type Registry } from '@qemu-webrtc/common';

/** What signaling counts: viewers, streams, frames and bytes out, keyframe requests, input, errors. */
export class SignalingMetrics {
  readonly registry: Registry = createRegistry('signaling');
  readonly viewers = new Gauge({
    name: 'signaling_viewers',
    help: 'Viewers connected, by transport',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly streams = new Gauge({
    name: 'signaling_streams',
    help: 'Encoded streams subscribed to (with at least one viewer)',
    registers: [this.registry],
  });
  readonly demandLeases = new Gauge({
    name: 'signaling_demand_leases',
    help: 'Streams this instance holds a demand lease on (StreamDemand: it has viewers of them)',
    registers: [this.registry],
  });
  readonly demandMessages = new Counter({
    name: 'signaling_demand_messages_total',
    help: 'StreamDemand messages published: renew (taken or renewed) or release',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly framesIn = new Counter({
    name: 'signaling_frames_in_total',
    help: 'EncodedFrame messages received for watched streams',
    registers: [this.registry],
  });
  readonly framesSent = new Counter({
    name: 'signaling_frames_sent_total',
    help: 'Access units handed to viewers (one per viewer)',
    registers: [this.registry],
  });
  readonly framesSkipped = new Counter({
    name: 'signaling_frames_skipped_total',
    help: 'Access units not sent to a viewer, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly bytesSent = new Counter({
    name: 'signaling_media_bytes_sent_total',
    help: 'H.264 bytes handed to viewers (before RTP/SRTP overhead)',
    registers: [this.registry],
  });
  readonly keyframeRequests = new Counter({
    name: 'signaling_keyframe_requests_total',
    help: 'Keyframe requests published to encoders, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly keyframeRequestsSuppressed = new Counter({
    name: 'signaling_keyframe_requests_suppressed_total',
    help: 'Keyframe wishes merged into an earlier request by the per-stream rate limit',
    registers: [this.registry],
  });
  readonly rtcpFeedback = new Counter({
    name: 'signaling_rtcp_feedback_total',
    help: 'RTCP feedback from viewers, by type (pli, fir, nack)',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly renditionSwitches = new Counter({
    name: 'signaling_rendition_switches_total',
    help: 'Viewers moved to another rendition by their link, by direction (up, down)',
    labelNames: ['direction'],
    registers: [this.registry],
  });
  readonly bitrateRequests = new Counter({
    name: 'signaling_bitrate_requests_total',
    help: 'Stream bitrate changes asked of encoders (EncoderControl), by direction (up, down)',
    labelNames: ['direction'],
    registers: [this.registry],
  });
  readonly inputEvents = new Counter({
    name: 'signaling_input_events_total',
    help: 'Input messages from viewers, by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly audioPackets = new Counter({
    name: 'signaling_audio_packets_sent_total',
    help: 'Opus packets handed to viewers (one per viewer)',
    registers: [this.registry],
  });
  readonly rejected = new Counter({
    name: 'signaling_rejected_total',
    help: 'Requests and messages refused, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
}
