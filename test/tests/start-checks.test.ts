// The start command checks what it is given before it starts anything: a bad --vm (no socket, a
// bare path, a QMP socket, a bus without QEMU) or a port in use ends it with one line saying what is
// wrong and what to do, exit code 2, and no process started. And the README's own-VM steps, run as
// written (the test guest's options standing in for `...`), give a page that shows the guest, under
// an id taken from the VM's name; Ctrl-C then stops what the command started, not the user's VM.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { guestQemuArgs } from '@qemu-webrtc/demo-vm';
import {
  ManagedProcess,
  QemuVm,
  TempDir,
  freePort,
  guestStatusInPage,
  launchWebrtcChromium,
  openPlayer,
  statusFromPage,
  waitFor,
} from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem, startScriptPath } from '../harness/started-system.js';
import { startDirAndBus } from '../harness/bus-and-nats.js';

const TOKEN = 'start-checks-token';
const readmePath = new URL('../../../README.md', import.meta.url);

/** Runs the start command, expecting a refusal: exit 2, one line on stderr, nothing started. */
function refusal(args: readonly string[]): string {
  const r = spawnSync(process.execPath, [startScriptPath, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}\n${r.stdout}\n${r.stderr}`);
  assert.doesNotMatch(r.stdout, /"event":"started"/, 'nothing was started');
  assert.doesNotMatch(r.stdout, /is running/);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, got:\n${r.stderr}`);
  return lines[0] ?? '';
}

const quoted = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test('a --vm socket that does not exist: the dbus-daemon and QEMU commands to run', () => {
  const line = refusal(['--vm', 'unix:path=/nonexistent', ...FREE_PORT_ARGS]);
  assert.equal(
    line,
    '--vm: no socket at /nonexistent: start the bus with ' +
      '`dbus-daemon --session --fork --address=unix:path=/nonexistent`, ' +
      'then QEMU with -display dbus,addr=unix:path=/nonexistent',
  );
});

test('a bare path: write unix:path=PATH', () => {
  const line = refusal(['--vm', '/run/qemu-vm1/bus.sock', ...FREE_PORT_ARGS]);
  assert.match(
    line,
    /^--vm takes a D-Bus address, not a bare path: write --vm unix:path=\/run\/qemu-vm1\/bus\.sock /,
  );
});

test('a QMP socket: said plainly, no D-Bus authentication talk', async (t) => {
  const dir = new TempDir();
  t.after(() => dir.remove());
  const qmpPath = dir.join('user-qmp.sock');
  const vm = await QemuVm.start(dir, { extraArgs: ['-qmp', `unix:${qmpPath},server=on,wait=off`] });
  t.after(() => vm.stop());
  const line = refusal(['--vm', `unix:path=${qmpPath}`, ...FREE_PORT_ARGS]);
  assert.match(line, new RegExp(`^--vm: ${quoted(qmpPath)} is a QEMU QMP monitor, not a D-Bus bus: `));
  assert.match(line, /give --vm the address of QEMU's -display dbus,addr=ADDRESS/);
  assert.doesNotMatch(line, /keyring|auth/i);
});

test('a D-Bus bus with no QEMU on it: the -display option to start QEMU with', async (t) => {
  const { dir, bus } = await startDirAndBus((fn) => t.after(fn));
  const address = `unix:path=${dir.join('bus.sock')}`;
  assert.ok(bus.address.startsWith(`${address},guid=`), bus.address);
  const line = refusal(['--vm', address, ...FREE_PORT_ARGS]);
  assert.equal(
    line,
    `--vm: the D-Bus bus at ${dir.join('bus.sock')} has no QEMU on it (waited 5 s): ` +
      `start QEMU with -display dbus,addr=${address}`,
  );
});

test('the HTTP port in use: named, with the option that moves it', async (t) => {
  const port = await freePort();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => server.close());
  const line = refusal(['--port', String(port), '--nats-port', '0', '--metrics-port', '0']);
  assert.equal(line, `port ${port} (HTTP) is in use: pass --port N or --port 0 (a free one)`);
});

test('a service that dies before the system is ready ends the start, named, with no restart loop', () => {
  // A log level pino does not know: each service dies at once (the earliest one is named).
  const r = spawnSync(process.execPath, [startScriptPath, ...FREE_PORT_ARGS], {
    encoding: 'utf8',
    timeout: 90_000,
    env: { ...process.env, LOG_LEVEL: 'nonsense' },
  });
  assert.equal(r.status, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(
    r.stderr,
    /^could not start: (capture|encoder|input|signaling) exited \(code 1\) before the system was ready; it said: .*nonsense/m,
  );
  assert.doesNotMatch(r.stderr, /restarting/);
  const events = r.stdout
    .split('\n')
    .flatMap((l) =>
      l.startsWith('@qemu-webrtc ') ? [JSON.parse(l.slice(13)) as { event: string; pid?: number }] : [],
    );
  const started = events.filter((e) => e.event === 'started').map((e) => e.pid);
  const exited = events.filter((e) => e.event === 'exited').map((e) => e.pid);
  assert.ok(started.length >= 2, 'it got as far as the services');
  assert.deepEqual([...exited].sort(), [...started].sort(), 'each process started once, and stopped');
  assert.equal(events.at(-1)?.event, 'stopped');
  assert.ok(!events.some((e) => e.event === 'ready'));
});

test("the README's own-VM steps as written show the guest, under the VM's name", async (t) => {
  const dir = new TempDir();
  t.after(() => dir.remove());
  // The README's block (the sh block that starts a dbus-daemon), comments dropped, its folder moved
  // into this test's own.
  const block = /```sh\n((?:(?!```)[^])*dbus-daemon(?:(?!```)[^])*)```/.exec(
    readFileSync(readmePath, 'utf8'),
  )?.[1];
  assert.ok(block, "the README's own-VM block");
  const [mkdir, busLine, qemuLine, startLine, ...rest] = block
    .replaceAll('/run/qemu-vm1', dir.join('qemu-vm1'))
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, ''))
    .filter((line) => line.trim() !== '');
  assert.deepEqual(rest, [], 'four steps');
  assert.ok(mkdir && busLine && qemuLine && startLine);

  execFileSync('bash', ['-c', mkdir]);
  assert.match(busLine, /^dbus-daemon /);
  const busPid = Number(execFileSync('bash', ['-c', busLine], { encoding: 'utf8' }).trim());
  assert.ok(busPid > 0, 'dbus-daemon printed its pid');
  t.after(() => process.kill(busPid));

  // `...`: the test guest's options (its display options come from the README's line).
  const m = /^qemu-system-x86_64 \.\.\. (.*) &$/.exec(qemuLine);
  assert.ok(m?.[1], `QEMU's line: ${qemuLine}`);
  const guest = guestQemuArgs({ name: 'readme.vm:1', width: 1024, height: 768, video: 'virtio' });
  assert.deepEqual(guest.slice(-2), ['-display', 'none']);
  const qemu = new ManagedProcess('qemu', 'qemu-system-x86_64', [...guest.slice(0, -2), ...m[1].split(' ')]);
  t.after(() => qemu.stop());

  const s = /^bash scripts\/start\.sh (.*)$/.exec(startLine);
  assert.ok(s?.[1], `the start line: ${startLine}`);
  const system = await StartedSystem.start([...s[1].split(' '), ...FREE_PORT_ARGS], {
    env: { SIGNALING_TOKENS: `${TOKEN}:control` },
  });
  t.after(() => system.stop());
  assert.equal(system.ready.vmId, 'readme-vm-1', "the id comes from QEMU's -name");
  assert.equal(system.ready.demo, null);
  assert.deepEqual(Object.keys(system.ready.pids).sort(), [
    'capture',
    'encoder',
    'input',
    'nats',
    'signaling',
  ]);

  // The page of the console under the id the start command chose (the kit's openPlayer, which
  // knows where the page takes its token).
  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const page = await openPlayer(browser, system.baseUrl, 'readme-vm-1', TOKEN);
  const status = await guestStatusInPage(page, 'the guest in the <video>', {
    size: { width: 1024, height: 768 },
    intervalMs: 250,
  });
  await waitFor(
    'its frames to advance',
    async () => ((await statusFromPage(page))?.frame ?? 0) > status.frame,
    30_000,
  );
  await page.close();

  assert.deepEqual(await system.interrupt(), { code: 0, signal: null }, 'a clean exit on Ctrl-C');
  assert.ok(qemu.running, "the user's QEMU is not the start command's to stop");
});

test('--help, also through start.sh (which then runs no setup), tells the fast path and --rebuild', () => {
  const startSh = new URL('../../../scripts/start.sh', import.meta.url).pathname;
  const r = spawnSync('bash', [startSh, '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /\[setup\]|\[start\]/, 'no setup ran, no stamp was checked');
  assert.match(r.stdout, /--rebuild +run setup and the build even when nothing changed/);
  assert.match(r.stdout, /only when something\nchanged since the last setup finished/);
});
