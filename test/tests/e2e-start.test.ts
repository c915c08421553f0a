// The README's start command with no VM named: start.mjs starts NATS, the demo VM and the four
// services, prints the URL with its token; that URL in Chromium lists the demo console, whose page
// shows the guest; Ctrl-C (SIGINT) stops every process it started and exits cleanly. Bad options
// are refused before anything starts.
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  StartedSystem,
  launchWebrtcChromium,
  startScriptPath,
  watchConsoleFromStartPage,
} from '../kit/index.js';

const WIDTH = 1024;
const HEIGHT = 768;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('start.mjs runs the demo VM, prints a URL that shows it, and stops everything on Ctrl-C', async (t) => {
  const system = await StartedSystem.start(
    ['--port', '0', '--nats-port', '0', '--metrics-port', '0', '--demo-size', `${WIDTH}x${HEIGHT}`],
    { env: { SIGNALING_TOKENS: '' } },
  );
  t.after(() => system.stop());
  const { url, pids, demo } = system.ready;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+$/, 'the URL carries a generated token');
  assert.deepEqual(Object.keys(pids).sort(), [
    'capture',
    'dbus',
    'demo-vm',
    'encoder',
    'input',
    'nats',
    'signaling',
  ]);
  assert.deepEqual(demo && [demo.width, demo.height], [WIDTH, HEIGHT]);
  assert.match(
    system.process.output,
    new RegExp(`Open ${url.replace(/[?.]/g, '\\$&')}`),
    'printed for people too',
  );

  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const { page } = await watchConsoleFromStartPage(browser, url, {
    consolePath: '/view/demo/0',
    size: { width: WIDTH, height: HEIGHT },
  });
  await page.close();

  const started = system.events.flatMap((e) => (e.event === 'started' ? [e.pid] : []));
  const exit = await system.interrupt();
  assert.deepEqual(exit, { code: 0, signal: null }, 'a clean exit on Ctrl-C');
  assert.ok(
    system.events.some((e) => e.event === 'stopped'),
    'it says it stopped',
  );
  assert.deepEqual(started.filter(alive), [], 'no process it started is left');
});

test('start.mjs refuses bad options before starting anything', () => {
  for (const [args, message] of [
    [['--demo-video', 'cirrus'], /--demo-video takes vga or virtio/],
    [['--demo-size', '12x7'], /--demo-size must look like 1280x720/],
    [['--port', '70000'], /--port takes a port number/],
    [['--vm-id', 'a.b'], /--vm-id takes letters/],
    [['--max-fps', '0'], /--max-fps takes 1..240/],
  ] as const) {
    const r = spawnSync(process.execPath, [startScriptPath, ...args], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /"event":"started"/, 'nothing was started');
  }
  const help = spawnSync(process.execPath, [startScriptPath, '--help'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--demo-video KIND/);
});
