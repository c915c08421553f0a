// A probe inside a Chromium page that reads the test guest's status from every picture the page
// shows: each decoded frame of a <video> (requestVideoFrameCallback, with its RTP timestamp), or a
// <canvas> sampled once per animation frame (noVNC draws into one). It also notes when a key went
// down in the page, so input-to-photon latency is measured on the page's own clock.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { GUEST_STATUS_ROWS } from './player-page.js';

/** One picture the page showed whose guest status could be read. */
export interface ProbeRecord {
  /** performance.now() when the picture was handed to the page (rVFC) or sampled (rAF). */
  t: number;
  /** The same instant on the wall clock (Date.now(): timeOrigin + t drifts from it in long runs). */
  wall: number;
  /** The frame's RTP timestamp (90 kHz), for <video>. */
  rtp: number | null;
  frame: number;
  marker: boolean;
}

export interface ProbeSnapshot {
  records: ProbeRecord[];
  /** requestVideoFrameCallback / requestAnimationFrame callbacks, readable or not. */
  callbacks: number;
  /** Callbacks whose picture had no readable status. */
  unreadable: number;
}

interface ProbeState extends ProbeSnapshot {
  keyAt: number;
  keyWall: number;
  flipFrom: boolean | null;
  flipAt: number;
  lastMarker: boolean | null;
}

interface ProbeWindow {
  __readGuestStatus?: unknown;
  __probe?: ProbeState;
}

/** The kit's guest-screen reader as a plain script for page.evaluate (no module, no CSP problem). */
function readerScript(): string {
  const path = fileURLToPath(new URL('./guest-screen.js', import.meta.url));
  const source = readFileSync(path, 'utf8')
    .replace(/^export /gm, '')
    .replace(/^\/\/# sourceMappingURL=.*$/m, '');
  return `window.__readGuestStatus = (() => {\n${source}\nreturn readGuestStatus;\n})(); true`;
}

type Reader = (
  img: { data: Uint8ClampedArray; width: number; height: number; stride: number; layout: 'rgba' },
  gw: number,
  gh: number,
) => { frame: number; marker: boolean } | null;

/** Runs in the page: starts following `selector`. */
function startProbe({ selector, rows }: { selector: string; rows: number }): void {
  const w = window as unknown as ProbeWindow;
  const read = w.__readGuestStatus as Reader;
  const state: ProbeState = {
    records: [],
    callbacks: 0,
    unreadable: 0,
    keyAt: NaN,
    keyWall: NaN,
    flipFrom: null,
    flipAt: NaN,
    lastMarker: null,
  };
  w.__probe = state;
  window.addEventListener(
    'keydown',
    (e) => {
      if (!e.repeat) [state.keyAt, state.keyWall] = [performance.now(), Date.now()];
    },
    true,
  );
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2d context');
  let lastFrame = -1;
  // The status strip (top `rows` rows), at half size: cells stay 8 px wide, the copy costs little.
  const sample = (
    el: CanvasImageSource,
    width: number,
    height: number,
    t: number,
    wall: number,
    rtp: number | null,
  ): void => {
    state.callbacks++;
    const h = Math.min(rows, height);
    const cw = Math.ceil(width / 2);
    const ch = Math.ceil(h / 2);
    if (canvas.width !== cw || canvas.height !== ch) [canvas.width, canvas.height] = [cw, ch];
    ctx.drawImage(el, 0, 0, width, h, 0, 0, cw, ch);
    const s = read(
      { data: ctx.getImageData(0, 0, cw, ch).data, width: cw, height: ch, stride: cw * 4, layout: 'rgba' },
      width,
      h,
    );
    if (!s) {
      state.unreadable++;
      return;
    }
    if (state.flipFrom !== null && s.marker !== state.flipFrom && t >= state.keyAt) {
      state.flipAt = t;
      state.flipFrom = null;
    }
    state.lastMarker = s.marker;
    // A canvas is sampled every animation frame: only new pictures count.
    if (rtp === null && s.frame === lastFrame && s.marker === state.records.at(-1)?.marker) return;
    lastFrame = s.frame;
    if (state.records.length < 100_000) {
      state.records.push({ t, wall, rtp, frame: s.frame, marker: s.marker });
    }
  };
  const el = document.querySelector(selector);
  if (el instanceof HTMLVideoElement) {
    const onFrame = (_now: number, meta: { rtpTimestamp?: number }): void => {
      const [t, wall] = [performance.now(), Date.now()];
      if (el.videoWidth > 0) sample(el, el.videoWidth, el.videoHeight, t, wall, meta.rtpTimestamp ?? null);
      el.requestVideoFrameCallback(onFrame);
    };
    el.requestVideoFrameCallback(onFrame);
  } else if (el instanceof HTMLCanvasElement) {
    const onAnimationFrame = (): void => {
      const [t, wall] = [performance.now(), Date.now()];
      if (el.width > 0) sample(el, el.width, el.height, t, wall, null);
      requestAnimationFrame(onAnimationFrame);
    };
    requestAnimationFrame(onAnimationFrame);
  } else {
    throw new Error(`no <video> or <canvas> at ${selector}`);
  }
}

/** Follows the pictures of a page's <video> or <canvas>. */
export class FrameProbe {
  private constructor(private readonly page: Page) {}

  static async install(page: Page, selector: string): Promise<FrameProbe> {
    await page.evaluate(readerScript());
    await page.evaluate(startProbe, { selector, rows: GUEST_STATUS_ROWS });
    return new FrameProbe(page);
  }

  /** What was recorded since the last take(), and clears it. */
  take(): Promise<ProbeSnapshot> {
    return this.page.evaluate(() => {
      const p = (window as unknown as ProbeWindow).__probe;
      if (!p) throw new Error('no probe');
      const out = { records: p.records, callbacks: p.callbacks, unreadable: p.unreadable };
      p.records = [];
      p.callbacks = 0;
      p.unreadable = 0;
      return out;
    });
  }

  /**
   * Presses `key` in the page and measures key down (as the page saw it) -> the first picture with
   * the guest's marker flipped, in ms, with the key-down instant on the wall clock (ms); undefined
   * when the marker did not flip within `timeoutMs`.
   */
  async pressToPhoton(key: string, timeoutMs = 5000): Promise<{ ms: number; keyWallMs: number } | undefined> {
    const page = this.page;
    await page.evaluate(() => {
      const p = (window as unknown as ProbeWindow).__probe;
      if (!p) throw new Error('no probe');
      p.flipFrom = p.lastMarker;
      p.keyAt = NaN;
      p.flipAt = NaN;
    });
    await page.keyboard.down(key);
    try {
      await page.waitForFunction(
        () => !Number.isNaN((window as unknown as ProbeWindow).__probe?.flipAt),
        undefined,
        { timeout: timeoutMs, polling: 20 },
      );
      const r = await page.evaluate(() => {
        const p = (window as unknown as ProbeWindow).__probe;
        return p ? { ms: p.flipAt - p.keyAt, keyWallMs: p.keyWall } : undefined;
      });
      return r && Number.isFinite(r.ms) ? r : undefined;
    } catch {
      return undefined;
    } finally {
      await page.keyboard.up(key);
    }
  }
}
