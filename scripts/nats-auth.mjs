// The start command's NATS users: one per service with compose's permissions (generated from
// packages/common/src/nats-permissions.ts, the description deploy/nats.conf is checked against),
// and random passwords that are never printed. The configuration goes to a private directory
// (0700, file 0600); each service gets its user and password in its own environment only.
//
// For tests only: with QEMU_WEBRTC_NATS_TEST_USER=1 a "test" user that may publish and subscribe to
// anything is added, and its credential written to a file (0600) that the ready event line names
// (`natsTestCredential`): the credential itself is never printed either.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** A password nats-server reads as a string (a leading digit would make it a number): quoted. */
const newPassword = () => `p${randomBytes(24).toString('base64url')}`;

/**
 * Writes nats-server's configuration for `port` under a new private directory in `parent`.
 * Returns its path, each service's { NATS_USER, NATS_PASSWORD }, and the test credential file
 * (undefined unless `testUser`).
 * @param {string} root
 * @param {string} parent
 * @param {number} port
 * @param {{ testUser?: boolean }} [options]
 */
export async function writeNatsAuthConfig(root, parent, port, { testUser = false } = {}) {
  /** @type {(path: string) => Promise<typeof import('../packages/common/dist/src/nats-permissions.js')>} */
  const load = (path) => import(path);
  const { NATS_SERVICES, NATS_PERMISSIONS, natsAuthorizationConf } = await load(
    join(root, 'packages/common/dist/src/nats-permissions.js'),
  );
  const dir = mkdtempSync(join(parent, 'nats-'));
  chmodSync(dir, 0o700);
  /** @type {Record<string, { NATS_USER: string, NATS_PASSWORD: string }>} */
  const env = {};
  const users = [];
  for (const name of NATS_SERVICES) {
    const password = newPassword();
    env[name] = { NATS_USER: name, NATS_PASSWORD: password };
    users.push({ user: name, password: JSON.stringify(password), permissions: NATS_PERMISSIONS[name] });
  }
  let testCredential;
  if (testUser) {
    const password = newPassword();
    users.push({ user: 'test', password: JSON.stringify(password) });
    testCredential = join(dir, 'test-credential.json');
    writeFileSync(testCredential, JSON.stringify({ user: 'test', pass: password }), { mode: 0o600 });
  }
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 8MB\n${natsAuthorizationConf(users)}`, {
    mode: 0o600,
  });
  return { conf, env, testCredential };
}
