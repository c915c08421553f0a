// NATS users and permissions: deploy/nats.conf (compose) says what NATS_PERMISSIONS says (derived
// from the one description, SUBJECT_TABLE in packages/common/src/subjects.ts), and the start
// command's generated configuration (scripts/nats-auth.mjs) admits only its users, each to its own
// subjects, from a private file. A real nats-server enforces it: what a user may not publish never
// arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from 'nats';
import { NATS_PERMISSIONS, NATS_SERVICES, subjects } from '@qemu-webrtc/common';
import { ManagedProcess, TempDir, freePort, waitFor } from '@qemu-webrtc/test-kit';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Parsed {
  publish: string[];
  subscribe: string[];
}

/** The users of a nats.conf's authorization block, with their allowed subjects (deny [">"]: none). */
function parseUsers(conf: string): Map<string, Parsed> {
  const text = conf.replace(/#.*$/gm, '');
  const users = new Map<string, Parsed>();
  const chunks = text.split(/\buser:\s*/).slice(1);
  const allowOf = (chunk: string, what: string): string[] => {
    const m = new RegExp(`${what}:\\s*\\{([^}]*)\\}`).exec(chunk);
    const allow = m?.[1] !== undefined ? /allow:\s*\[([^\]]*)\]/.exec(m[1]) : null;
    return [...(allow?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((x) => x[1] ?? '');
  };
  for (const chunk of chunks) {
    const name = /^"?([A-Za-z0-9_-]+)"?/.exec(chunk)?.[1] ?? '';
    users.set(name, { publish: allowOf(chunk, 'publish'), subscribe: allowOf(chunk, 'subscribe') });
  }
  return users;
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

test('deploy/nats.conf gives each service exactly the permissions NATS_PERMISSIONS describes', () => {
  const users = parseUsers(readFileSync(`${root}deploy/nats.conf`, 'utf8'));
  assert.deepEqual(sorted([...users.keys()]), sorted(NATS_SERVICES));
  for (const name of NATS_SERVICES) {
    const conf = users.get(name);
    assert.deepEqual(sorted(conf?.publish ?? []), sorted(NATS_PERMISSIONS[name].publish), `${name} publish`);
    assert.deepEqual(
      sorted(conf?.subscribe ?? []),
      sorted(NATS_PERMISSIONS[name].subscribe),
      `${name} subscribe`,
    );
  }
});

interface NatsAuth {
  conf: string;
  env: Record<string, { NATS_USER: string; NATS_PASSWORD: string }>;
  testCredential: string | undefined;
}

test("the start command's NATS admits only its users, each to its own subjects, from private files", async (t) => {
  const dir = new TempDir();
  t.after(() => dir.remove());
  const { writeNatsAuthConfig } = (await import(`${root}scripts/nats-auth.mjs`)) as {
    writeNatsAuthConfig: (
      root: string,
      parent: string,
      port: number,
      o: { testUser: boolean },
    ) => Promise<NatsAuth>;
  };
  const port = await freePort();
  const auth = await writeNatsAuthConfig(root, dir.path, port, { testUser: true });
  assert.equal(statSync(auth.conf).mode & 0o777, 0o600, 'the configuration is readable by its owner only');
  assert.equal(statSync(dirname(auth.conf)).mode & 0o777, 0o700);
  assert.ok(auth.testCredential !== undefined);
  assert.equal(statSync(auth.testCredential).mode & 0o777, 0o600);
  // Generated configuration generated from the description: it parses back to it.
  const users = parseUsers(readFileSync(auth.conf, 'utf8'));
  for (const name of NATS_SERVICES) {
    assert.deepEqual(sorted(users.get(name)?.publish ?? []), sorted(NATS_PERMISSIONS[name].publish));
  }

  const server = new ManagedProcess('nats-server', 'nats-server', ['-c', auth.conf]);
  t.after(() => server.stop());
  await server.waitForOutput(/Server is ready/);
  const url = `nats://127.0.0.1:${port}`;
  await assert.rejects(
    connect({ servers: url, reconnect: false }),
    /Authorization/i,
    'no credentials: refused',
  );
  await assert.rejects(
    connect({ servers: url, user: 'capture', pass: 'guessed', reconnect: false }),
    /Authorization/i,
  );

  const as = async (name: string): Promise<NatsConnection> => {
    const creds = auth.env[name];
    assert.ok(creds);
    const nc = await connect({ servers: url, user: creds.NATS_USER, pass: creds.NATS_PASSWORD });
    t.after(() => nc.close());
    return nc;
  };
  const { user, pass } = JSON.parse(readFileSync(auth.testCredential, 'utf8')) as {
    user: string;
    pass: string;
  };
  const observer = await connect({ servers: url, user, pass });
  t.after(() => observer.close());
  const seen: string[] = [];
  observer.subscribe('>', { callback: (_e, m) => seen.push(m.subject) });
  await observer.flush();

  const capture = await as('capture');
  const input = await as('input');
  const inputGot: string[] = [];
  input.subscribe(subjects.inputAll, { callback: (_e, m) => inputGot.push(m.subject) });
  const forbiddenSub: string[] = [];
  const subErrors: string[] = [];
  capture.subscribe(subjects.inputAll, {
    callback: (e, m) => (e ? subErrors.push(e.message) : forbiddenSub.push(m.subject)),
  });
  await Promise.all([capture.flush(), input.flush()]);

  capture.publish(subjects.frameReady('vm1', 0)); // its own
  capture.publish(subjects.input('vm1')); // not its own: a forged keystroke
  capture.publish(subjects.encoded({ vmId: 'vm1', consoleId: 0, rendition: 'full' }));
  input.publish(subjects.consoleRefresh); // not its own: input publishes only UiInfoResult, serial output and state
  observer.publish(subjects.input('vm2')); // the test user may
  await waitFor(
    'the allowed messages',
    () => seen.includes(subjects.frameReady('vm1', 0)) && inputGot.length > 0,
  );
  await observer.flush();
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(sorted(seen), sorted([subjects.frameReady('vm1', 0), subjects.input('vm2')]));
  assert.deepEqual(inputGot, [subjects.input('vm2')]);
  assert.deepEqual(forbiddenSub, [], 'capture may not read input');
  assert.match(subErrors.join('\n'), /permissions violation/i, 'and is told so');
});
