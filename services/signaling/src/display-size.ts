/** A control viewer's player area, clamped (input-limits.ts `clampUiInfo`). */
export interface SizeHint {
  width: number;
  height: number;
  widthMm: number;
  heightMm: number;
}

/** A control viewer that follows the window, as the arbiter sees it. */
export interface SizeFollower {
  readonly id: string;
  /** "vm.console": followers of one console compete; other consoles are independent. */
  readonly consoleKey: string;
  /** Sends this viewer's hint to the VM (an InputEvent with `ui_info`, under its own viewer id). */
  sendHint(hint: SizeHint): void;
  /** Another viewer sets the size now: this one is told (`other_viewer`), its picture is scaled. */
  overruled(): void;
}

interface Entry {
  follower: SizeFollower;
  hint: SizeHint;
  /** performance.now() of its last input (0: none yet) and of its last hint. */
  inputAt: number;
  hintAt: number;
}

interface ConsoleSizes {
  followers: Map<string, Entry>;
  leader: string | undefined;
  /** The leader took the lead by sending input (not only a hint). */
  byInput: boolean;
}

/**
 * Which control viewer's window sets a console's size when several follow the window. The rule
 * (services/signaling/README.md): the follower that last sent input (key, button, pointer, wheel,
 * touch) wins; while no follower has sent any, the newest hint wins. A viewer that keeps the
 * guest's mode takes no part. When the leader stops following or leaves, the follower that last
 * sent input (else the last to send a hint) takes over and its hint is sent.
 */
export class DisplaySizeArbiter {
  private readonly consoles = new Map<string, ConsoleSizes>();

  private console(key: string): ConsoleSizes {
    let c = this.consoles.get(key);
    if (!c) {
      c = { followers: new Map(), leader: undefined, byInput: false };
      this.consoles.set(key, c);
    }
    return c;
  }

  /** The viewer's player area changed (or it started following the window). */
  hint(follower: SizeFollower, hint: SizeHint, now = performance.now()): void {
    const c = this.console(follower.consoleKey);
    const entry = c.followers.get(follower.id);
    if (entry) {
      entry.hint = hint;
      entry.hintAt = now;
    } else {
      c.followers.set(follower.id, { follower, hint, inputAt: 0, hintAt: now });
    }
    if (c.leader === follower.id) {
      follower.sendHint(hint);
    } else if (c.leader === undefined || !c.byInput) {
      this.lead(c, follower.id, false);
    } else {
      follower.overruled();
    }
  }

  /** The viewer sent input: a follower that is not leading takes the lead. */
  input(follower: SizeFollower, now = performance.now()): void {
    const c = this.consoles.get(follower.consoleKey);
    const entry = c?.followers.get(follower.id);
    if (!c || !entry) return;
    entry.inputAt = now;
    if (c.leader === follower.id) c.byInput = true;
    else this.lead(c, follower.id, true);
  }

  /** The viewer keeps the guest's mode from now on, or left. */
  stop(follower: SizeFollower): void {
    const c = this.consoles.get(follower.consoleKey);
    if (!c?.followers.delete(follower.id)) return;
    if (c.followers.size === 0) {
      this.consoles.delete(follower.consoleKey);
      return;
    }
    if (c.leader !== follower.id) return;
    c.leader = undefined;
    let next: Entry | undefined;
    for (const e of c.followers.values()) {
      if (!next || e.inputAt > next.inputAt || (e.inputAt === next.inputAt && e.hintAt > next.hintAt))
        next = e;
    }
    if (next) this.lead(c, next.follower.id, next.inputAt > 0);
  }

  /** The viewer leading a console now (for tests and health). */
  leaderOf(consoleKey: string): string | undefined {
    return this.consoles.get(consoleKey)?.leader;
  }

  private lead(c: ConsoleSizes, id: string, byInput: boolean): void {
    const entry = c.followers.get(id);
    if (!entry) return;
    const previous = c.leader !== undefined && c.leader !== id ? c.followers.get(c.leader) : undefined;
    c.leader = id;
    c.byInput = byInput;
    entry.follower.sendHint(entry.hint);
    previous?.follower.overruled();
  }
}
