// Faults a VM console meets in real life, as a user sees them: the system as the start command runs
// it (demo VM, small), one control page playing. kill -9 in turn capture, encoder, input,
// signaling, nats-server and the VM's bus daemon; start.mjs restarts each (the bus daemon also
// restarts QEMU and capture, which cannot move to a new bus). After each, the same page (no reload:
// it reconnects by itself when signaling dies) shows advancing guest frames again, and a key typed
// after input's return reaches the guest. Then a page holding a key across an input restart is
// closed: no key stays held in the guest. Recovery times are reported, never asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import {
  guestStatusInPage,
  launchWebrtcChromium,
  openPlayer,
  statusFromPage,
  waitFor,
  type GuestStatus,
  type PlayerHooks,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';

const VM_ID = 'faults';
/** Small to spare the CPU, but wide enough for the guest's held-keys cells (x 560..688). */
const DEMO_SIZE = '800x600';
const CONTROL = 'fault-matrix-control-token';
/** Keys typed after each fault, in turn, with the AT set 1 make code the guest shows for each. */
const KEYS = [
  ['KeyA', 0x1e],
  ['KeyB', 0x30],
] as const;
const KEY_P = 0x19;

interface Sample {
  at: number;
  status: GuestStatus;
}

/** Reads the guest's status from the page every ~50 ms while on: what the user sees, over time. */
class PageWatch {
  readonly samples: Sample[] = [];
  private on = true;
  private readonly loop: Promise<void>;

  constructor(private readonly page: Page) {
    this.loop = (async () => {
      while (this.on) {
        const s = await statusFromPage(this.page).catch(() => null);
        if (s) this.samples.push({ at: Date.now(), status: s });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
  }

  latest(): GuestStatus | undefined {
    return this.samples.at(-1)?.status;
  }

  /** The first sample after `since` whose frame is newer than the sample before it (both after `since`). */
  advancedAfter(since: number): Sample | undefined {
    let prev: Sample | undefined;
    for (const s of this.samples) {
      if (s.at < since) continue;
      if (prev && s.status.frame > prev.status.frame) return s;
      prev = s;
    }
    return undefined;
  }

  /** The longest time the page showed no newer frame, from `from` to `to`. */
  longestFreeze(from: number, to: number): number {
    let longest = 0;
    let since = from;
    let frame = -1;
    for (const s of this.samples) {
      if (s.at < from) {
        frame = s.status.frame;
        continue;
      }
      if (s.at > to) break;
      if (s.status.frame !== frame) {
        longest = Math.max(longest, s.at - since);
        since = s.at;
        frame = s.status.frame;
      }
    }
    return Math.max(longest, to - since);
  }

  async stop(): Promise<void> {
    this.on = false;
    await this.loop;
  }
}

test('the page recovers from kill -9 of every service, nats-server and the bus; no key stays held', async (t) => {
  const system = await StartedSystem.start(['--vm-id', VM_ID, '--demo-size', DEMO_SIZE, ...FREE_PORT_ARGS], {
    env: { SIGNALING_TOKENS: `${CONTROL}:control`, LOG_LEVEL: 'warn' },
    timeoutMs: 120_000,
  });
  t.after(() => system.stop());
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);
  const watch = new PageWatch(page);
  t.after(() => watch.stop());

  const inputHealth = `http://127.0.0.1:${system.ready.metricsPorts.input}/health`;
  /** Input is connected to NATS and to the VM's bus, with its consoles known. */
  const inputUp = async (): Promise<boolean> => {
    const res = await fetch(inputHealth).catch(() => undefined);
    if (!res?.ok) return false;
    const body = (await res.json()) as { vms?: Record<string, { up?: boolean }> };
    return body.vms?.[VM_ID]?.up === true;
  };
  const guestShows = (p: Page, what: string, accept: (s: GuestStatus) => boolean): Promise<GuestStatus> =>
    guestStatusInPage(p, what, { accept, timeoutMs: 30_000, intervalMs: 50 });

  let typed = 0;
  /** Types the next key in the page; resolves with the ms until the guest showed it. */
  async function typeKey(): Promise<number> {
    const [code, scancode] = KEYS[typed++ % KEYS.length] ?? KEYS[0];
    await page.waitForFunction(() => (window as PlayerHooks).qemuWebrtc?.inputOpen === true, undefined, {
      timeout: 30_000,
    });
    const before = await guestShows(page, 'the guest', () => true);
    await page.focus('#stage');
    const t0 = Date.now();
    await page.keyboard.press(code);
    await guestShows(
      page,
      `${code} in the guest (presses ${before.presses} -> ${before.presses + 1})`,
      (s) => s.presses === (before.presses + 1) % 65536 && s.scancode === scancode,
    );
    return Date.now() - t0;
  }

  await guestShows(page, 'the guest in the page', () => true);
  await typeKey();

  /** What start.mjs restarts after each fault (the bus takes QEMU and capture with it). */
  const FAULTS: { name: string; restarts: string[] }[] = [
    { name: 'capture', restarts: ['capture'] },
    { name: 'encoder', restarts: ['encoder'] },
    { name: 'input', restarts: ['input'] },
    { name: 'signaling', restarts: ['signaling'] },
    { name: 'nats', restarts: ['nats'] },
    { name: 'dbus', restarts: ['dbus', 'demo-vm', 'capture'] },
  ];
  const report: string[] = [];
  for (const fault of FAULTS) {
    const before = new Map(fault.restarts.map((n) => [n, system.pidOf(n)]));
    const pid = before.get(fault.name);
    assert.ok(pid !== undefined, `${fault.name} runs`);
    const frozen = watch.latest()?.frame;
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    for (const name of fault.restarts) {
      await system.waitForEvent(
        `${name} restarted after the ${fault.name} fault`,
        (e) => e.event === 'started' && e.name === name && e.pid !== before.get(name) && e.pid !== pid,
        30_000,
      );
    }
    const restarted = Date.now();
    await waitFor(
      'signaling up',
      async () => (await fetch(`${system.baseUrl}/health`).catch(() => undefined))?.ok,
      30_000,
      50,
    );
    const signalingUp = Date.now() - t0;
    const advanced = await waitFor(
      `advancing guest frames in the same page after kill -9 ${fault.name}`,
      () => watch.advancedAfter(restarted),
      45_000,
      50,
    );
    const video = advanced.at - t0;
    const freeze = watch.longestFreeze(t0, advanced.at);
    await waitFor(`input up after kill -9 ${fault.name}`, inputUp, 30_000, 50);
    const inputBack = Date.now() - t0;
    const key = await typeKey();
    const line =
      `${fault.name}: restarted ${restarted - t0} ms, frames advancing again ${video} ms ` +
      `(longest freeze ${freeze} ms; frame ${frozen ?? '?'} -> ${advanced.status.frame}), ` +
      `signaling up ${signalingUp} ms, input up ${inputBack} ms, a key typed then reached the guest in ${key} ms`;
    report.push(line);
    t.diagnostic(line);
  }

  await t.test('a page closed while a key is held (across an input restart) leaves no key held', async () => {
    const holder = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);
    await holder.waitForFunction(() => (window as PlayerHooks).qemuWebrtc?.inputOpen === true, undefined, {
      timeout: 30_000,
    });
    // The holder is the tab in front (a hidden tab lets go of its keys by itself): it shows the guest.
    await holder.bringToFront();
    await holder.focus('#stage');
    await holder.keyboard.down('KeyP');
    await guestShows(holder, 'KeyP held in the guest', (s) => s.held >= 1 && s.scancode === KEY_P);
    const pid = system.pidOf('input');
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGKILL');
    await system.waitForEvent(
      'input restarted',
      (e) => e.event === 'started' && e.name === 'input' && e.pid !== pid,
      30_000,
    );
    await waitFor('input up again', inputUp, 30_000, 50);
    await guestShows(holder, 'KeyP still held after the input restart', (s) => s.held >= 1);
    const t0 = Date.now();
    await holder.close();
    await page.bringToFront();
    // A frame drawn after the holder left (the first page may have been paused in the background).
    const closedAt = Date.now();
    const atClose = watch.latest()?.frame ?? -1;
    const released = await waitFor(
      'no key held in the guest after the holder left',
      () => {
        const s = watch.samples.at(-1);
        return s && s.at > closedAt && s.status.frame > atClose && s.status.held === 0 ? s : undefined;
      },
      15_000,
      50,
    ).catch((error: unknown) => error as Error);
    const line =
      released instanceof Error
        ? `held key after an input restart and the holder leaving: still held 15 s later (the guest shows ${watch.latest()?.held ?? '?'} held)`
        : `held key after an input restart and the holder leaving: released ${Date.now() - t0} ms after the page closed`;
    report.push(line);
    t.diagnostic(line);
    assert.ok(!(released instanceof Error), line);
  });

  // The page never reloaded: the same <video> and player played throughout.
  assert.equal(page.isClosed(), false);
  const exits = system.events.flatMap((e) => (e.event === 'exited' ? [e.name] : []));
  t.diagnostic(`exits seen: ${exits.join(', ')}`);
  t.diagnostic(`recovery, same page:\n${report.join('\n')}`);
});
