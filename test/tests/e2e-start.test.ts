// The README's start command with no VM named: start.mjs starts NATS, the demo VM and the four
// services, prints the URL with a generated token (once, in its #fragment); that URL in Chromium lists the demo console, whose page
// shows the guest; Ctrl-C (SIGINT) stops every process it started and exits cleanly. Bad options
// are refused before anything starts.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchWebrtcChromium, processAlive, watchConsoleFromStartPage } from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem, startScriptPath } from '../harness/started-system.js';

const WIDTH = 1024;
const HEIGHT = 768;

/** Local addresses of the UDP sockets (IPv4 dotted, IPv6 as hex) a process holds. */
function udpAddressesOf(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const out: string[] = [];
  for (const table of ['udp', 'udp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      const [hex] = f[1]?.split(':') ?? [];
      if (hex === undefined || !inodes.has(f[9] ?? '')) continue;
      out.push(
        table === 'udp'
          ? (hex.match(/../g) ?? [])
              .map((b) => parseInt(b, 16))
              .reverse()
              .join('.')
          : `[${hex}]`,
      );
    }
  }
  return out;
}

test('start.mjs runs the demo VM, prints a URL that shows it, and stops everything on Ctrl-C', async (t) => {
  const system = await StartedSystem.start([...FREE_PORT_ARGS, '--demo-size', `${WIDTH}x${HEIGHT}`], {
    env: { SIGNALING_TOKENS: '' },
  });
  t.after(() => system.stop());
  const { url: base, pids, demo, tokenGenerated } = system.ready;
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'the ready line has no token');
  assert.equal(tokenGenerated, true);
  // The generated token is for the person at the terminal: one plain line, in the URL's fragment.
  const open = system.printedUrls;
  assert.equal(open.length, 1, 'the URL is printed for people once');
  const url = open[0] ?? '';
  const token = /^http:\/\/127\.0\.0\.1:\d+\/#token=([\w-]{20,})$/.exec(url)?.[1];
  assert.ok(token !== undefined && url.startsWith(base), `a URL with a generated token: ${url}`);
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

  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const { page } = await watchConsoleFromStartPage(browser, url, {
    consolePath: '/view/demo/0',
    size: { width: WIDTH, height: HEIGHT },
  });
  // WebRTC media stays on loopback like the TCP ports (ICE_BIND_ADDRESS=127.0.0.1 by default).
  const media = udpAddressesOf(pids.signaling ?? 0);
  assert.ok(media.length > 0, 'the viewer has a UDP socket');
  assert.deepEqual([...new Set(media)], ['127.0.0.1'], `media sockets on ${media.join(', ')}`);
  await page.close();

  const started = system.events.flatMap((e) => (e.event === 'started' ? [e.pid] : []));
  const exit = await system.interrupt();
  assert.deepEqual(exit, { code: 0, signal: null }, 'a clean exit on Ctrl-C');
  assert.ok(
    system.events.some((e) => e.event === 'stopped'),
    'it says it stopped',
  );
  assert.deepEqual(started.filter(processAlive), [], 'no process it started is left');
  assert.equal(
    system.process.output.split(token).length - 1,
    1,
    'the token is printed nowhere else (no event line, no service log)',
  );
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
