/** What an encoder heartbeat or stream claim says, reduced to what the roster keeps. */
export interface RosterHeartbeat {
  encoderId: string;
  /** Stream ids ("vm.console.rendition") the encoder says it holds. */
  streams: readonly string[];
  leaving?: boolean;
}

export interface EncoderRosterOptions {
  /** An encoder not heard from for this long is gone. */
  timeoutMs: number;
  /**
   * A newcomer counts only after it has been heard without a gap for this long: a burst of forged
   * heartbeats (new ids each sent once) never joins, so it cannot take streams from the real
   * encoders.
   */
  probationMs: number;
  now?: () => number;
}

interface Entry {
  /** Start of the current unbroken run of heartbeats. */
  firstMs: number;
  lastMs: number;
  /** Heartbeats in the current run: one alone (a forged burst) never admits an encoder. */
  beats: number;
  /** Its joining was reported (by `heard`); its leaving will be. */
  joined: boolean;
  held: Set<string>;
  /** Excluded from ownership: admitted, but does not serve what it owns (see `quarantine`). */
  quarantined: boolean;
}

export type RosterChange = 'joined' | 'left' | undefined;

/**
 * Which encoders are alive and which streams each holds, from their heartbeats and claims: the
 * encoders' own group view (rendezvous hashing over `admitted()`) and signaling's (an access unit
 * counts only from an admitted encoder that holds its stream). Pure bookkeeping: no NATS here.
 */
export class EncoderRoster {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly opts: EncoderRosterOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** Takes a heartbeat; says whether the encoder became a member or left. */
  heard(hb: RosterHeartbeat): RosterChange {
    const now = this.now();
    let e = this.entries.get(hb.encoderId);
    if (hb.leaving) {
      this.entries.delete(hb.encoderId);
      return e?.joined === true ? 'left' : undefined;
    }
    if (!e || now - e.lastMs > this.opts.timeoutMs) {
      e = { firstMs: now, lastMs: now, beats: 0, joined: false, held: new Set(), quarantined: false };
      this.entries.set(hb.encoderId, e);
    }
    e.lastMs = now;
    e.beats++;
    e.held = new Set(hb.streams);
    if (e.joined || !this.isAdmitted(hb.encoderId, now)) return undefined;
    e.joined = true;
    return 'joined';
  }

  /** A stream claim (taken, or released) from a known encoder; unknown encoders' claims are ignored. */
  claimed(encoderId: string, streamId: string, released: boolean): void {
    const e = this.entries.get(encoderId);
    if (!e) return;
    if (released) e.held.delete(streamId);
    else e.held.add(streamId);
  }

  /** Forgets encoders not heard from within the timeout; returns the members that left. */
  expire(): string[] {
    const now = this.now();
    const gone: string[] = [];
    for (const [id, e] of this.entries) {
      if (now - e.lastMs > this.opts.timeoutMs) {
        if (e.joined) gone.push(id);
        this.entries.delete(id);
      }
    }
    return gone;
  }

  private isAdmitted(id: string, now: number): boolean {
    const e = this.entries.get(id);
    return (
      e !== undefined &&
      e.beats >= 2 &&
      now - e.lastMs <= this.opts.timeoutMs &&
      now - e.firstMs >= this.opts.probationMs
    );
  }

  /** Encoders past probation and not timed out, sorted. */
  admitted(): string[] {
    const now = this.now();
    return [...this.entries.keys()].filter((id) => this.isAdmitted(id, now)).sort();
  }

  /** Admitted encoders that take part in ownership (not quarantined), sorted. */
  owners(): string[] {
    return this.admitted().filter((id) => !this.entries.get(id)?.quarantined);
  }

  /** Does this admitted encoder say it holds the stream? */
  holds(encoderId: string, streamId: string): boolean {
    return (
      this.isAdmitted(encoderId, this.now()) && (this.entries.get(encoderId)?.held.has(streamId) ?? false)
    );
  }

  /** Streams an encoder says it holds (empty for one not known). */
  heldBy(encoderId: string): ReadonlySet<string> {
    return this.entries.get(encoderId)?.held ?? new Set();
  }

  /** When the encoder's current unbroken run of heartbeats began (undefined when not known). */
  since(encoderId: string): number | undefined {
    return this.entries.get(encoderId)?.firstMs;
  }

  /**
   * Excludes an encoder from ownership until it is heard anew after a gap: one that heartbeats but
   * never serves the streams it owns (forged, or broken) would otherwise starve them for as long
   * as it keeps talking.
   */
  quarantine(encoderId: string): void {
    const e = this.entries.get(encoderId);
    if (e) e.quarantined = true;
  }

  isQuarantined(encoderId: string): boolean {
    return this.entries.get(encoderId)?.quarantined ?? false;
  }
}
