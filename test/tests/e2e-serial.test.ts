// The serial console in the browser, through the whole system as a user starts it
// (`node scripts/start.mjs --vm <bus>`): our own QEMU runs the test guest with COM1 on a D-Bus
// chardev (-chardev dbus,id=ser0,name=org.qemu.console.serial.0); the input service holds its
// stream and scrollback, signaling relays it, the page shows it in xterm.js. The guest echoes what
// it reads on COM1 and writes a banner when it boots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { QemuVm, launchWebrtcChromium, openPlayer, type QemuOptions } from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const VM_ID = 'serial';
const CONTROL = 'serial-control-token';
const VIEW = 'serial-view-token';
const BANNER = 'qemu-webrtc test guest: serial console on COM1, typing echoes';

interface SerialHooks {
  qemuWebrtc?: {
    role?: string;
    serial: { text(): string; received: number; type(text: string): void; status(): string };
  };
}

/** What the page's terminal holds. */
const terminalText = (page: Page): Promise<string> =>
  page.evaluate(() => (window as SerialHooks).qemuWebrtc?.serial.text() ?? '');

async function waitForText(page: Page, what: string, accept: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 20_000;
  let text = '';
  while (Date.now() < deadline) {
    text = await terminalText(page);
    if (accept(text)) return text;
    await new Promise((r) => setTimeout(r, 100));
  }
  const status = await page.evaluate(() => (window as SerialHooks).qemuWebrtc?.serial.status() ?? '');
  throw new Error(`${what}: not in the page's terminal within 20 s; it shows:\n${text}\nstatus: ${status}`);
}

async function waitForStatus(page: Page, what: string, pattern: RegExp): Promise<void> {
  await page
    .waitForFunction(
      (source) => new RegExp(source).test((window as SerialHooks).qemuWebrtc?.serial.status() ?? ''),
      pattern.source,
      { timeout: 20_000 },
    )
    .catch(async (error: unknown) => {
      const status = await page.evaluate(() => (window as SerialHooks).qemuWebrtc?.serial.status() ?? '');
      throw new Error(`${what}: status is "${status}" (${String(error)})`);
    });
}

test('the serial console in Chromium: echo, scrollback for a late page, view-only cannot type, QEMU restart', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const qemuOptions: QemuOptions = {
    busAddress: bus.address,
    video: 'vga',
    width: 800,
    height: 600,
    serialOnDbus: true,
  };
  let vm = await QemuVm.start(dir, qemuOptions);
  t.after(() => vm.stop());
  const system = await StartedSystem.onVm((fn) => t.after(fn), bus.address, VM_ID, {
    [CONTROL]: 'control',
    [VIEW]: 'view',
  });
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const control = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);

  await t.test('the guest’s boot banner reaches the page', async () => {
    await waitForStatus(control, 'the serial console connected', /· connected/);
    // The guest booted before the input service held the stream (QEMU drops what nobody reads):
    // reboot it, as a user would to see the boot log.
    await vm.qmp.execute('system_reset');
    await waitForText(control, 'the banner', (text) => text.includes(BANNER));
  });

  await t.test('a string typed in the terminal comes back', async () => {
    const t0 = Date.now();
    await control.click('#serial-terminal');
    await control.keyboard.type('hello-serial-42');
    await control.keyboard.press('Enter');
    await waitForText(control, 'the echo', (text) => text.includes('hello-serial-42'));
    t.diagnostic(`typed to echoed in the page: ${Date.now() - t0} ms (upper bound: a loaded machine)`);
  });

  await t.test('a page that joins late sees the scrollback', async () => {
    const late = await openPlayer(browser, system.baseUrl, VM_ID, CONTROL);
    try {
      const text = await waitForText(
        late,
        'the scrollback',
        (x) => x.includes(BANNER) && x.includes('hello-serial-42'),
      );
      // Exactly once each: the replay and live output are joined without doubling.
      assert.equal(text.split('hello-serial-42').length - 1, 1, text);
      assert.equal(text.split(BANNER).length - 1, 1, text);
    } finally {
      await late.close();
    }
  });

  await t.test('a view-only page sees the console but cannot type', async () => {
    const viewer = await openPlayer(browser, system.baseUrl, VM_ID, VIEW);
    try {
      await waitForText(viewer, 'the scrollback in the view-only page', (x) => x.includes('hello-serial-42'));
      await viewer.click('#serial-terminal');
      await viewer.keyboard.type('viewonly-xyz');
      await viewer.keyboard.press('Enter');
      // Past the page: the terminal's own input path, as if typed.
      await viewer.evaluate(() => (window as SerialHooks).qemuWebrtc?.serial.type('viewonly-abc\r'));
      await waitForStatus(viewer, 'the refusal', /View only/);
      // Then the control page types: once its echo shows, anything the viewer sent would have too.
      await control.click('#serial-terminal');
      await control.keyboard.type('after-view');
      await control.keyboard.press('Enter');
      const text = await waitForText(viewer, 'the control page’s echo', (x) => x.includes('after-view'));
      assert.ok(!text.includes('viewonly'), `nothing the view-only page typed reached the guest:\n${text}`);
      assert.ok(!(await terminalText(control)).includes('viewonly'));
    } finally {
      await viewer.close();
    }
  });

  await t.test(
    'a paste larger than one message arrives whole and in order; a huge one is refused',
    async () => {
      const t0 = Date.now();
      const line = Array.from({ length: 500 }, (_, i) => String(i % 10).repeat(9) + '|').join('');
      await control.evaluate((x) => (window as SerialHooks).qemuWebrtc?.serial.type(x + '\r'), line);
      // The guest's uptime lines may land in the middle of its echo.
      const echo = await waitForText(control, 'the 5000-byte paste echoed', (x) =>
        x.replace(/qemu-webrtc test guest: up \d+ s\n?/g, '').includes(line),
      );
      t.diagnostic(`5000-byte paste echoed in ${Date.now() - t0} ms (upper bound: a loaded machine)`);
      assert.ok(echo.length > 0);
      await control.evaluate(() => (window as SerialHooks).qemuWebrtc?.serial.type('y'.repeat(100_000)));
      await waitForStatus(control, 'the refusal of a 100 KB paste', /Paste refused: 100000 bytes/);
    },
  );

  await t.test('QEMU stops: the page says so and keeps what was said; a new QEMU is followed', async () => {
    await vm.stop();
    await waitForStatus(control, 'QEMU gone', /QEMU is not running|gone|closed/);
    assert.ok((await terminalText(control)).includes('hello-serial-42'), 'the log is still there');
    vm = await QemuVm.start(dir, qemuOptions);
    await waitForStatus(control, 'the new QEMU’s console connected', /· connected/);
    // The input service registers as soon as QEMU is on the bus: the new guest's boot banner is
    // kept. Typing before the guest sets its UART up would be lost (it clears the FIFO), as on
    // real hardware: wait for the banner.
    await waitForText(control, 'the new guest’s banner', (x) => x.split(BANNER).length - 1 === 2);
    await control.click('#serial-terminal');
    await control.keyboard.type('second-qemu');
    await control.keyboard.press('Enter');
    const text = await waitForText(control, 'the new guest’s echo', (x) => x.includes('second-qemu'));
    assert.ok(text.includes('hello-serial-42'), 'the first QEMU’s output is still above');
  });
});

test('the start command’s demo VM has its serial console in the page, no flag needed', async (t) => {
  const system = await StartedSystem.start([...FREE_PORT_ARGS, '--demo-size', '800x600'], {
    env: { SIGNALING_TOKENS: `${CONTROL}:control` },
  });
  t.after(() => system.stop());
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, 'demo', CONTROL);
  await waitForStatus(
    page,
    'the demo’s serial console connected',
    /org\.qemu\.console\.serial\.0 · connected/,
  );
  await page.click('#serial-terminal');
  await page.keyboard.type('demo-echo');
  await page.keyboard.press('Enter');
  await waitForText(page, 'the demo guest’s echo', (x) => x.includes('demo-echo'));
});
