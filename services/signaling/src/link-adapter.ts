import { publishProto, streamKeyId, subjects, type Logger, type NatsConnection } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import {
  RenditionChooser,
  StreamBitrate,
  type AdaptationSettings,
  type MemberLink,
} from './adaptation-policy.js';
import type { SignalingMetrics } from './metrics.js';
import type { RenditionLadder } from './rendition-ladder.js';
import type { Viewer } from './viewer.js';

const { EncoderControl } = qemu_webrtc.v1;

const TICK_MS = 500;
/** A lowered target is said again this often (a new encoder may have taken the stream over). */
const REPEAT_MS = 5000;

interface StreamState {
  bitrate: StreamBitrate;
  key: Viewer['streamKey'];
  lastSentMs: number;
}

/**
 * Acts on the viewers' links twice a second: moves adaptive viewers between renditions
 * (RenditionChooser) and asks a stream's encoder for a lower bitrate when every viewer of the
 * stream struggles and none can move down (StreamBitrate), restoring it when they recover or leave.
 */
export class LinkAdapter {
  private readonly streams = new Map<string, StreamState>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly viewers: () => Iterable<Viewer>,
    private readonly ladder: RenditionLadder,
    private readonly nc: NatsConnection,
    private readonly settings: AdaptationSettings & { moveViewers: boolean },
    private readonly metrics: SignalingMetrics,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  tick(): void {
    const groups = new Map<string, { key: Viewer['streamKey']; members: MemberLink[] }>();
    for (const viewer of this.viewers()) {
      if (viewer.closed) continue;
      this.moveViewer(viewer);
      const key = viewer.streamKey;
      const id = streamKeyId(key);
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { key, members: [] }));
      group.members.push({
        link: viewer.link,
        stuck:
          !viewer.adaptive ||
          !this.settings.moveViewers ||
          !RenditionChooser.canStepDown(key.rendition, this.ladder),
      });
    }
    const now = performance.now();
    for (const [id, group] of groups) {
      const spec = this.ladder.get(group.key.rendition);
      if (!spec) continue;
      let state = this.streams.get(id);
      if (!state || state.bitrate.nominal !== spec.bitrateBps) {
        state = {
          bitrate: new StreamBitrate(spec.bitrateBps, this.settings),
          key: group.key,
          lastSentMs: now,
        };
        this.streams.set(id, state);
      }
      const next = state.bitrate.decide(group.members);
      if (next !== undefined) {
        this.logger.info(
          { stream: id, bitrateBps: next, nominal: spec.bitrateBps },
          'stream bitrate changed',
        );
        this.metrics.bitrateRequests.inc({ direction: next < spec.bitrateBps ? 'down' : 'up' });
        this.send(state, next, now);
      } else if (state.bitrate.targetBps < spec.bitrateBps && now - state.lastSentMs >= REPEAT_MS) {
        this.send(state, state.bitrate.targetBps, now);
      }
    }
    for (const [id, state] of this.streams) {
      if (groups.has(id)) continue;
      // Nobody of ours watches it any more: give the encoder its own bitrate back.
      if (state.bitrate.targetBps < state.bitrate.nominal) this.send(state, state.bitrate.nominal, now);
      this.streams.delete(id);
    }
  }

  private moveViewer(viewer: Viewer): void {
    if (!viewer.adaptive || !this.settings.moveViewers) return;
    const current = viewer.streamKey.rendition;
    const target = viewer.chooser.choose(viewer.link, current, this.ladder);
    if (!target) return;
    const up = this.ladder.neighbour(current, -1)?.name === target.name;
    if (!viewer.switchRendition(target.name)) return;
    viewer.chooser.moved(up);
    this.metrics.renditionSwitches.inc({ direction: up ? 'up' : 'down' });
    this.logger.info(
      { viewer: viewer.id, from: current, to: target.name, loss: viewer.link.smoothedLoss },
      up ? 'link recovered: viewer moves up a rendition' : 'link struggles: viewer moves down a rendition',
    );
  }

  private send(state: StreamState, bitrateBps: number, now: number): void {
    state.lastSentMs = now;
    if (this.nc.isClosed()) return;
    publishProto(this.nc, subjects.encoderControl(state.key), EncoderControl, {
      stream: state.key,
      bitrateBps,
    });
  }

  close(): void {
    clearInterval(this.timer);
    const now = performance.now();
    for (const state of this.streams.values()) {
      if (state.bitrate.targetBps < state.bitrate.nominal) this.send(state, state.bitrate.nominal, now);
    }
    this.streams.clear();
  }
}
