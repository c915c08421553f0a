import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.js';
import { readGuestStatus, type GuestScreenImage, type GuestStatus } from './guest-screen.js';
import { waitFor } from './wait.js';

/** The guest's status rows and key marker all lie in its top 224 rows (packages/demo-vm/guest/README.md). */
export const GUEST_STATUS_ROWS = 224;

/** Chromium for WebRTC on loopback: host candidates as plain addresses, nothing leaves the machine. */
export function launchWebrtcChromium(): Promise<Browser> {
  return launchChromium([
    '--allow-loopback-in-peer-connection',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ]);
}

/** What the player page exposes for tests (services/signaling/web/src/player.ts). */
export interface PlayerHooks {
  qemuWebrtc?: {
    stats: { framesDecoded: number; fps: number };
    role?: string;
    inputOpen: boolean;
    /** Keyboard Lock is held (full screen). */
    keyboardLocked: boolean;
    /** Key events not sent for want of a usable KeyboardEvent.code. */
    droppedKeys: number;
    /** The console the page shows now. */
    consoleId: number;
    sendRaw(text: string): void;
  };
}

/** A page URL with its token where the page takes it: the fragment, which never reaches a server. */
export function withToken(url: string, token: string): string {
  return `${url}#${new URLSearchParams({ token }).toString()}`;
}

/**
 * The player's "Fit VM to window" choice as its localStorage holds it (web/src/follow-window.ts).
 * Pages the kit opens keep the guest's mode unless asked (`followWindow`): tests that assert a
 * guest size must not have it changed by the page's window.
 */
export async function chooseFollowWindow(page: Page, follow: boolean): Promise<void> {
  await page.addInitScript(
    (mode) => localStorage.setItem('qemu-webrtc.follow-window', mode),
    follow ? 'follow' : 'keep',
  );
}

/** Opens the player of a console and waits until its <video> plays. */
export async function openPlayer(
  browser: Browser,
  baseUrl: string,
  vmId: string,
  token: string,
  consoleId = 0,
  opts: { followWindow?: boolean } = {},
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await chooseFollowWindow(page, opts.followWindow === true);
  await page.goto(withToken(`${baseUrl}/view/${encodeURIComponent(vmId)}/${consoleId}`, token));
  await page.waitForFunction(
    () => {
      const v = document.querySelector('video');
      return v !== null && v.readyState >= 2 && v.videoWidth > 0 && !v.paused;
    },
    undefined,
    { timeout: 60_000 },
  );
  return page;
}

/**
 * Draws an element of the page (the player's <video>, noVNC's <canvas>: `selector`) into a canvas
 * and reads the guest's status blocks from its top rows; null when they are not there (yet).
 * `guest`: the guest's resolution when the picture is a scaled rendition (default: its own size).
 */
export async function statusFromPage(
  page: Page,
  opts: { selector?: string; guest?: { width: number; height: number } } = {},
): Promise<GuestStatus | null> {
  const shot = await page.evaluate(
    ({ sel, guestRows, guestHeight }) => {
      const el = document.querySelector(sel);
      let w = 0;
      let h = 0;
      if (el instanceof HTMLVideoElement) [w, h] = [el.videoWidth, el.videoHeight];
      else if (el instanceof HTMLCanvasElement) [w, h] = [el.width, el.height];
      if (!el || w === 0 || h === 0) return null;
      // The picture rows that show the guest's top GUEST_STATUS_ROWS rows.
      const rows = Math.min(h, Math.ceil((guestRows * h) / (guestHeight ?? h)));
      const canvas = document.createElement('canvas');
      canvas.width = w;
      canvas.height = rows;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      if (!ctx) return null;
      ctx.drawImage(el as CanvasImageSource, 0, 0);
      const data = ctx.getImageData(0, 0, w, rows).data;
      // Test-only transfer out of the page: playwright passes strings, not buffers.
      let s = '';
      for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
      return { w, h, rows, b64: btoa(s) };
    },
    { sel: opts.selector ?? 'video', guestRows: GUEST_STATUS_ROWS, guestHeight: opts.guest?.height },
  );
  if (!shot) return null;
  const data = Buffer.from(shot.b64, 'base64');
  const gw = opts.guest?.width ?? shot.w;
  const gh = opts.guest?.height ?? shot.h;
  // The strip is the top of the screen scaled by w / gw: pass the guest size of that strip.
  return readGuestStatus(
    { data, width: shot.w, height: shot.rows, stride: shot.w * 4, layout: 'rgba' },
    gw,
    Math.round((gh * shot.rows) / shot.h),
  );
}

/** The whole picture the page's <video> shows now (RGBA), or null while it shows none. */
export async function videoPicture(page: Page): Promise<GuestScreenImage | null> {
  const shot = await page.evaluate(() => {
    const v = document.querySelector('video');
    if (!v || v.videoWidth === 0 || v.videoHeight === 0) return null;
    const canvas = document.createElement('canvas');
    canvas.width = v.videoWidth;
    canvas.height = v.videoHeight;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) return null;
    ctx.drawImage(v, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    // Test-only transfer out of the page: playwright passes strings, not buffers.
    let s = '';
    for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode(...data.subarray(i, i + 0x8000));
    return { w: canvas.width, h: canvas.height, b64: btoa(s) };
  });
  if (!shot) return null;
  return {
    data: Buffer.from(shot.b64, 'base64'),
    width: shot.w,
    height: shot.h,
    stride: shot.w * 4,
    layout: 'rgba',
  };
}

/** The size of the picture the page's <video> shows. */
export function videoSize(page: Page): Promise<{ width: number; height: number }> {
  return page.evaluate(() => {
    const v = document.querySelector('video');
    return { width: v?.videoWidth ?? 0, height: v?.videoHeight ?? 0 };
  });
}

/**
 * Waits until the page's <video> shows a guest status that `accept` takes (default: any), with the
 * picture at `size` when given (so a rendition or an old mode still in the video does not count);
 * returns that status. `what` names the wait in the timeout's error.
 */
export function guestStatusInPage(
  page: Page,
  what: string,
  opts: {
    size?: { width: number; height: number };
    accept?: (s: GuestStatus) => boolean;
    timeoutMs?: number;
    intervalMs?: number;
  } = {},
): Promise<GuestStatus> {
  const { size, accept = () => true } = opts;
  return waitFor(
    what,
    async () => {
      if (size) {
        const shown = await videoSize(page);
        if (shown.width !== size.width || shown.height !== size.height) return undefined;
      }
      const s = await statusFromPage(page);
      return s && accept(s) ? s : undefined;
    },
    opts.timeoutMs ?? 60_000,
    opts.intervalMs ?? 200,
  );
}

/**
 * What a user does with the start command's URL: opens it (the start page, listing the consoles),
 * clicks the console's link (`/view/VM/CONSOLE`) and watches; waits until the <video> shows the
 * guest (at `size` when given) and its frame numbers advance. Returns the page and both statuses.
 */
export async function watchConsoleFromStartPage(
  browser: Browser,
  url: string,
  opts: { consolePath: string; size?: { width: number; height: number } },
): Promise<{ page: Page; first: GuestStatus; later: GuestStatus }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await chooseFollowWindow(page, false);
  await page.goto(url);
  const link = page.locator(`a[href^="${opts.consolePath}"]`);
  await link.waitFor({ timeout: 30_000 });
  await link.click();
  // Without a size, any picture: statusFromPage reads none from an empty <video>.
  const first = await guestStatusInPage(page, 'the guest in the <video>', {
    size: opts.size,
    intervalMs: 250,
  });
  const later = await waitFor(
    'its frames to advance',
    async () => {
      const status = await statusFromPage(page);
      return status !== null && status.frame > first.frame ? status : undefined;
    },
    30_000,
  );
  return { page, first, later };
}
