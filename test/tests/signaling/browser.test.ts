// The whole stage a user touches, on the live pipeline (QEMU + test guest -> capture -> encoder ->
// signaling): headless Chromium opens the player with a token, receives the video, and the guest's
// frame counter read from the <video> pixels advances; a control page's keys become InputEvents,
// a view-only page's never do; a WHEP client (node-datachannel) receives H.264 that decodes to the
// guest's screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchWebrtcChromium,
  openPlayer,
  readDecodedGuestStatus,
  statusFromPage,
  waitFor,
  withToken,
  type PlayerHooks,
} from '@qemu-webrtc/test-kit';
import { H264Decoder } from '@qemu-webrtc/encoder/native';
import { CONTROL_TOKEN, VIEW_TOKEN, WhepClient } from './harness.js';
import { LivePipeline, VM_ID } from './live-pipeline.js';

const WIDTH = 800;
const HEIGHT = 600;

test('Chromium plays the live console, input follows the token role, WHEP decodes', async (t) => {
  const p = await LivePipeline.start(t, { width: WIDTH, height: HEIGHT });
  const s = p.signaling;
  await waitFor('capture to announce the console', () => s.service.consoles.get(VM_ID, 0)?.running, 30_000);
  const input = s.recordInput(VM_ID);
  const browser = await launchWebrtcChromium();
  p.defer(() => browser.close());
  const base = s.baseUrl;

  await t.test('the start page lists the console', async () => {
    const page = await browser.newPage();
    await page.goto(withToken(`${base}/`, CONTROL_TOKEN));
    await page.waitForSelector(`a[href^="/view/${VM_ID}/0"]`, { timeout: 10_000 });
    const unauthorised = await browser.newPage();
    await unauthorised.goto(withToken(`${base}/`, 'wrong'));
    await unauthorised.waitForFunction(() =>
      document.querySelector('#message')?.textContent.includes('Not authorised'),
    );
    await page.close();
    await unauthorised.close();
  });

  const control = await openPlayer(browser, base, VM_ID, CONTROL_TOKEN);

  await t.test('frame numbers read from the <video> pixels advance', async () => {
    // The guest sets its mode after booting (the first frames may be the firmware's): wait for it.
    await control.waitForFunction(
      ({ w, h }) => {
        const video = document.querySelector('video');
        return video?.videoWidth === w && video.videoHeight === h;
      },
      { w: WIDTH, h: HEIGHT },
      { timeout: 30_000 },
    );
    const frames: number[] = [];
    await waitFor(
      'five frame numbers, increasing',
      async () => {
        const status = await statusFromPage(control);
        if (status && (frames.length === 0 || status.frame > (frames.at(-1) ?? 0))) frames.push(status.frame);
        return frames.length >= 5;
      },
      30_000,
      300,
    );
    t.diagnostic(`frame numbers seen in the page: ${frames.join(', ')}`);
    const stats = await control.evaluate(() => (window as PlayerHooks).qemuWebrtc?.stats);
    assert.ok((stats?.framesDecoded ?? 0) > 0, 'the stats overlay counts decoded frames');
  });

  await t.test(
    'a control page sends its key presses as InputEvents with the server’s viewer id',
    async () => {
      await control.waitForFunction(() => (window as PlayerHooks).qemuWebrtc?.inputOpen === true);
      assert.equal(await control.evaluate(() => (window as PlayerHooks).qemuWebrtc?.role), 'control');
      await control.focus('#stage');
      await control.keyboard.press('KeyA');
      const down = await waitFor('KeyA down', () => input.find((e) => e.key?.code === 'KeyA' && e.key.down));
      const up = await waitFor('KeyA up', () => input.find((e) => e.key?.code === 'KeyA' && !e.key.down));
      assert.match(down.viewerId, /^v-[0-9a-f]{12}$/);
      assert.equal(up.viewerId, down.viewerId);
      assert.ok(up.sequence > down.sequence);
      assert.equal(down.vmId, VM_ID);
      assert.equal(down.consoleId, 0);

      // A click on the picture: a move to the console pixel under the pointer, then the button.
      const box = await control.locator('#stage').boundingBox();
      assert.ok(box);
      // The 800x600 picture is letterboxed into the stage: its centre is the stage's centre.
      await control.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
      const move = await waitFor('a move', () => input.find((e) => e.move));
      assert.ok(Math.abs((move.move?.x ?? 0) - WIDTH / 2) <= 1, `x ${move.move?.x}`);
      assert.ok(Math.abs((move.move?.y ?? 0) - HEIGHT / 2) <= 1, `y ${move.move?.y}`);
      await waitFor('button down and up', () => input.filter((e) => e.button?.button === 0).length >= 2);
    },
  );

  await t.test('a view-only page’s key presses never produce InputEvents', async () => {
    const viewer = await openPlayer(browser, base, VM_ID, VIEW_TOKEN);
    await viewer.waitForFunction(() => (window as PlayerHooks).qemuWebrtc?.inputOpen === true);
    assert.equal(await viewer.evaluate(() => (window as PlayerHooks).qemuWebrtc?.role), 'view');
    const before = input.length;
    const refusedBefore = await refused(s.metricsUrl);
    await viewer.focus('#stage');
    for (const key of ['KeyB', 'Enter', 'Escape', 'KeyC']) await viewer.keyboard.press(key);
    await viewer.mouse.click(100, 100);
    // Straight onto the DataChannel, past the page's own checks.
    await viewer.evaluate(() => {
      (window as PlayerHooks).qemuWebrtc?.sendRaw(JSON.stringify({ t: 'key', code: 'KeyD', down: true }));
    });
    await viewer.waitForFunction(() => document.querySelector('#toast')?.textContent.includes('View only'));
    await waitFor(
      'the server to count the refusals',
      async () => (await refused(s.metricsUrl)) >= refusedBefore + 5,
    );
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(
      input.slice(before).map((e) => e.key?.code ?? e.button?.button ?? '?'),
      [],
      'no InputEvent from the view-only page',
    );
    await viewer.close();
  });

  await t.test('closing the control page releases what it held', async () => {
    const viewerId = input.find((e) => e.key)?.viewerId;
    await control.close();
    await waitFor(
      'release_all from that viewer',
      () => input.find((e) => e.releaseAll && e.viewerId === viewerId),
      20_000,
    );
  });

  await t.test('a WHEP client receives H.264 that decodes to the guest’s screen', async () => {
    const client = new WhepClient();
    p.defer(() => client.close());
    const res = await fetch(`${base}/whep/${VM_ID}/0`, {
      method: 'POST',
      headers: { 'content-type': 'application/sdp', authorization: `Bearer ${VIEW_TOKEN}` },
      body: await client.offer(),
    });
    assert.equal(res.status, 201);
    client.answer(await res.text());
    await waitFor('20 access units', () => client.depacketizer.units.length >= 20, 30_000);
    assert.ok(client.depacketizer.units[0]?.keyframe, 'starts at an IDR');
    const decoder = new H264Decoder({ format: 'bgra' });
    p.defer(() => decoder.close());
    const frames: number[] = [];
    for (const u of client.depacketizer.units.slice(0, 20)) {
      for (const pic of await decoder.decode(u.data)) {
        assert.equal(pic.width, WIDTH);
        const status = readDecodedGuestStatus(pic);
        if (status) frames.push(status.frame);
      }
    }
    assert.ok(frames.length >= 10, `guest status in ${frames.length} decoded pictures`);
    assert.ok((frames.at(-1) ?? 0) > (frames[0] ?? 0), `frame numbers advance: ${frames.join(',')}`);
    const gone = await fetch(`${base}${res.headers.get('location') ?? ''}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${VIEW_TOKEN}` },
    });
    assert.equal(gone.status, 200);
  });
});

/** The server's count of refused view-only input (from its metrics port). */
async function refused(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const m = /signaling_input_events_total\{result="view_only"\} (\d+)/.exec(text);
  return Number(m?.[1] ?? 0);
}
