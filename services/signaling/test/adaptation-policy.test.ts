// The adaptation rules on their own, with a hand-driven clock: receiver-report loss -> link state,
// the rendition ladder from encoder heartbeats, when a viewer moves down or up, and when a stream's
// bitrate is lowered and restored. RTCP packets are built byte by byte as a browser sends them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RenditionChooser, StreamBitrate, type AdaptationSettings } from '../src/adaptation-policy.js';
import { LinkQuality } from '../src/link-quality.js';
import { RenditionLadder } from '../src/rendition-ladder.js';
import { parseRtcp } from '../src/rtcp.js';

class Clock {
  ms = 1000;
  readonly now = (): number => this.ms;
}

/**
 * A browser's receiver as RTCP shows it: every report block carries the cumulative loss and the
 * highest sequence number so far. Each report here stands for 100 packets expected since the last.
 */
class Receiver {
  private highest = 5000;
  private lost = 0;

  /** An RTCP receiver report (PT 201) with one report block, then `nacks` generic NACKs. */
  report(fraction: number, nacks = 0): Buffer {
    this.highest += 100;
    this.lost += Math.round(fraction * 100);
    const rr = Buffer.alloc(32);
    rr.writeUInt8(0x81, 0); // V=2, one report block
    rr.writeUInt8(201, 1);
    rr.writeUInt16BE(7, 2); // length in words - 1
    rr.writeUInt32BE(0x11111111, 4); // sender SSRC
    rr.writeUInt32BE(0x22222222, 8); // source SSRC
    // The report's own fraction (of its few packets) swings wildly in browsers: never trusted.
    rr.writeUInt32BE((((fraction > 0 ? 255 : 0) << 24) | this.lost) >>> 0, 12);
    rr.writeUInt32BE(this.highest, 16);
    const parts = [rr];
    for (let i = 0; i < nacks; i++) {
      const nack = Buffer.alloc(16);
      nack.writeUInt8(0x81, 0); // FMT 1: generic NACK
      nack.writeUInt8(205, 1);
      nack.writeUInt16BE(3, 2);
      nack.writeUInt32BE(0x11111111, 4);
      nack.writeUInt32BE(0x22222222, 8);
      nack.writeUInt32BE(0x00100000, 12);
      parts.push(nack);
    }
    return Buffer.concat(parts);
  }
}

const settings: AdaptationSettings = { downAfterMs: 2000, upAfterMs: 10_000, bitrateFloor: 0.2 };
const thresholds = { strugglingLoss: 0.05, goodLoss: 0.01 };

const receivers = new WeakMap<LinkQuality, Receiver>();

/** Feeds one report a second for `seconds` (the first report of a link only opens a window). */
function feed(link: LinkQuality, clock: Clock, fraction: number, seconds: number, nacks = 0): void {
  let receiver = receivers.get(link);
  if (!receiver) receivers.set(link, (receiver = new Receiver()));
  for (let i = 0; i < seconds; i++) {
    clock.ms += 1000;
    link.onFeedback(parseRtcp(receiver.report(fraction, nacks)));
  }
}

function ladderOf(clock: Clock): RenditionLadder {
  const ladder = new RenditionLadder(clock.now);
  heartbeat(ladder);
  return ladder;
}

/** What every encoder heartbeat says (any order); the malformed entries are ignored. */
function heartbeat(ladder: RenditionLadder): void {
  ladder.learn([
    { name: 'low', scale: 0.5, bitrateBps: 1_000_000 },
    { name: 'full', scale: 1, bitrateBps: 12_000_000 },
    { name: 'mid', scale: 1, bitrateBps: 4_000_000 },
    { name: 'bad.name', scale: 1, bitrateBps: 1 },
    { name: 'zero', scale: 0, bitrateBps: 1_000_000 },
  ]);
}

test('receiver reports: loss is smoothed into good / fair / struggling, and goes stale', () => {
  const clock = new Clock();
  const link = new LinkQuality(thresholds, clock.now);
  assert.equal(link.state, 'unknown');
  feed(link, clock, 0, 3);
  assert.equal(link.state, 'good');
  assert.equal(link.heldMs, 1000, 'good since the end of the first window');
  // One bad report halves into the average: 0.06 -> 0.03, fair, not struggling.
  feed(link, clock, 0.06, 1);
  assert.equal(link.state, 'fair');
  feed(link, clock, 0.2, 2);
  assert.equal(link.state, 'struggling');
  assert.ok(link.smoothedLoss > 0.1);
  // No loss but many NACKs: retransmissions arrived in time, the link is fair at best.
  feed(link, clock, 0, 6, 6);
  assert.equal(link.state, 'fair');
  feed(link, clock, 0, 1);
  assert.equal(link.state, 'good');
  clock.ms += 6000;
  assert.equal(link.state, 'unknown', 'no reports for 6 s say nothing about the link');
  link.reset();
  assert.equal(link.smoothedLoss, 0);
});

test('the ladder: best first, neighbours, forgotten when no heartbeat names it', () => {
  const clock = new Clock();
  const ladder = ladderOf(clock);
  assert.deepEqual(
    ladder.ordered().map((r) => r.name),
    ['full', 'mid', 'low'],
  );
  assert.equal(ladder.neighbour('full', 1)?.name, 'mid');
  assert.equal(ladder.neighbour('mid', -1)?.name, 'full');
  assert.equal(ladder.neighbour('low', 1), undefined);
  assert.equal(ladder.neighbour('nope', 1), undefined);
  assert.equal(ladder.get('low')?.bitrateBps, 1_000_000);
  clock.ms += 11_000;
  assert.deepEqual(ladder.ordered(), []);
});

test('a viewer moves down after 2 s of struggling, up after 10 s of good; a failed probe doubles the wait', () => {
  const clock = new Clock();
  const ladder = ladderOf(clock);
  const link = new LinkQuality(thresholds, clock.now);
  const chooser = new RenditionChooser(settings, clock.now);
  let current = 'full';
  const step = (): string | undefined => {
    heartbeat(ladder);
    const next = chooser.choose(link, current, ladder);
    if (next) {
      chooser.moved(ladder.neighbour(current, -1)?.name === next.name);
      current = next.name;
      link.reset();
    }
    return next?.name;
  };
  feed(link, clock, 0.3, 2);
  assert.equal(step(), undefined, 'struggling for a moment only');
  feed(link, clock, 0.3, 2);
  assert.equal(step(), 'mid');
  feed(link, clock, 0.3, 1);
  assert.equal(step(), undefined, 'not again at once: reports lag behind a move');
  feed(link, clock, 0.3, 3);
  assert.equal(step(), 'low');
  feed(link, clock, 0.3, 5);
  assert.equal(step(), undefined, 'nothing below the lowest');
  // Recovering: the smoothed loss needs 5 clean reports to fall under 1%; then 10 s of good.
  feed(link, clock, 0, 4);
  assert.equal(link.state, 'fair');
  feed(link, clock, 0, 1);
  assert.equal(link.state, 'good');
  feed(link, clock, 0, 9);
  assert.equal(step(), undefined);
  feed(link, clock, 0, 1);
  assert.equal(step(), 'mid');
  // The probe fails at once: back down, and the next probe waits 20 s.
  feed(link, clock, 0.3, 4);
  assert.equal(step(), 'low');
  feed(link, clock, 0, 12);
  assert.equal(step(), undefined, 'the wait doubled after a failed probe');
  feed(link, clock, 0, 10);
  assert.equal(step(), 'mid');
  assert.equal(RenditionChooser.canStepDown('mid', ladder), true);
  assert.equal(RenditionChooser.canStepDown('low', ladder), false);
});

test("a stream's bitrate drops only while every viewer struggles with nowhere to go, and comes back", () => {
  const clock = new Clock();
  const bad = new LinkQuality(thresholds, clock.now);
  const good = new LinkQuality(thresholds, clock.now);
  const bitrate = new StreamBitrate(1_000_000, settings, clock.now);
  const badReceiver = new Receiver();
  const goodReceiver = new Receiver();
  const both = (): void => {
    clock.ms += 1000;
    bad.onFeedback(parseRtcp(badReceiver.report(0.3)));
    good.onFeedback(parseRtcp(goodReceiver.report(0)));
  };
  for (let i = 0; i < 5; i++) both();
  assert.equal(
    bitrate.decide([
      { link: bad, stuck: true },
      { link: good, stuck: true },
    ]),
    undefined,
    'one is fine',
  );
  assert.equal(bitrate.decide([{ link: bad, stuck: false }]), undefined, 'it can move down instead');
  assert.equal(bitrate.decide([{ link: bad, stuck: true }]), 700_000);
  assert.equal(bitrate.decide([{ link: bad, stuck: true }]), undefined, 'steps are 2 s apart');
  const targets: number[] = [];
  for (let i = 0; i < 20; i++) {
    both();
    const t = bitrate.decide([{ link: bad, stuck: true }]);
    if (t !== undefined) targets.push(t);
  }
  assert.deepEqual(targets.slice(0, 3), [490_000, 343_000, 240_100]);
  assert.equal(bitrate.targetBps, 200_000, 'never below the floor (20% of nominal)');
  // Recovered: after 10 s of good, back up step by step to nominal, never above it.
  for (let i = 0; i < 80; i++) {
    clock.ms += 1000;
    bad.onFeedback(parseRtcp(badReceiver.report(0)));
    bitrate.decide([{ link: bad, stuck: true }]);
  }
  assert.equal(bitrate.targetBps, 1_000_000);
  assert.equal(bitrate.decide([]), undefined);
});
