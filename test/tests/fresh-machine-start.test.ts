// The last step of the fresh-machine stage: the README's start command, `bash scripts/start.sh`,
// run in the stage's clean Debian 12 container (where `bash scripts/test.sh` has just set the
// machine up from nothing), with the bundled demo VM. From outside the container, headless
// Chromium opens the URL it printed and must see the guest's frame numbers advance; then Ctrl-C
// (SIGINT to the start command's process group, as a terminal sends it) must end it with exit 0
// and leave nothing of ours running in the container.
//
// A stage of its own: test/fresh-machine/run.sh prepares the container and runs this file with
// FRESH_MACHINE_CONTAINER set (`pnpm test` leaves it out; see scripts/run-tests.mjs).
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchWebrtcChromium, watchConsoleFromStartPage } from '@qemu-webrtc/test-kit';
import { StartedSystem } from '../harness/started-system.js';

const container = process.env.FRESH_MACHINE_CONTAINER ?? '';
const checkout = process.env.FRESH_MACHINE_CHECKOUT ?? '/root/qemu-webrtc';
/** Where the start command's process group id is written inside the container. */
const PGID_FILE = '/tmp/start-command.pgid';

function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`docker ${args.join(' ')}: ${error.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The container's processes other than its init (`sleep infinity`), as `pid args` lines. */
async function processesLeft(): Promise<string[]> {
  const init = (await docker(['inspect', '-f', '{{.State.Pid}}', container])).trim();
  return (await docker(['top', container, '-eo', 'pid,args']))
    .split('\n')
    .slice(1)
    .map((line) => line.trim())
    .filter((line) => line !== '' && line.split(/\s+/)[0] !== init);
}

test('the README start command on a fresh machine: its URL shows the demo guest, Ctrl-C stops everything', async (t) => {
  assert.ok(container, 'FRESH_MACHINE_CONTAINER is not set: run this through test/fresh-machine/run.sh');
  // Free ports instead of the defaults (the container shares this host's network, and others run
  // tests here): the README's options for that, nothing else.
  const startCommand = 'bash scripts/start.sh --port 0 --nats-port 0 --metrics-port 0';
  const system = await StartedSystem.launch(
    'docker',
    [
      'exec',
      '-w',
      checkout,
      container,
      // A process group of its own (setsid), like a shell's job: Ctrl-C goes to the whole group.
      'setsid',
      '-w',
      'bash',
      '-c',
      `echo $$ >${PGID_FILE} && exec ${startCommand}`,
    ],
    { timeoutMs: 300_000 },
  );
  t.after(() => system.stop());
  // The ready line carries no token; the URL printed for the person at the terminal does, in its
  // fragment (as in e2e-start.test.ts).
  assert.match(system.ready.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'the ready line has no token');
  const url = system.printedUrls[0] ?? '';
  assert.match(
    url,
    /^http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]+$/,
    'the URL printed carries a generated token',
  );

  const browser = await launchWebrtcChromium();
  t.after(() => browser.close());
  const { page, first, later } = await watchConsoleFromStartPage(browser, url, {
    consolePath: '/view/demo/0',
  });
  assert.ok(later.frame > first.frame, `frame ${later.frame} after ${first.frame}`);
  await page.close();

  await docker(['exec', container, 'bash', '-c', `kill -INT -- -"$(cat ${PGID_FILE})"`]);
  const timer = setTimeout(() => system.process.signal('SIGKILL'), 60_000);
  const exit = await system.process.exited;
  clearTimeout(timer);
  assert.deepEqual(exit, { code: 0, signal: null }, `a clean exit on Ctrl-C:\n${system.process.output}`);
  assert.ok(
    system.events.some((e) => e.event === 'stopped'),
    'it says it stopped',
  );
  assert.deepEqual(await processesLeft(), [], 'nothing left running in the container');
});
