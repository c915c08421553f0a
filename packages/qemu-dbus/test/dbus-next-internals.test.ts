// dbus-next's private files have one home: src/dbus-next-internals.ts, on an exactly pinned version.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DBUS_NEXT_VERSION } from '../src/index.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url)); // from packages/qemu-dbus/dist/test
const HOME = 'packages/qemu-dbus/src/dbus-next-internals.ts';
const SKIP = new Set(['node_modules', 'dist', 'build', 'gen', '.git']);

function files(dir: string, keep: (name: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (SKIP.has(name)) return [];
    if (statSync(path).isDirectory()) return files(path, keep);
    return keep(name) ? [path] : [];
  });
}

test('only dbus-next-internals.ts reaches into dbus-next: its lib/ files or a private field', () => {
  // Split so that this file does not match itself.
  const needles = ['dbus-next' + '/lib', "'_" + "connection'"];
  const sources = ['packages', 'services', 'test', 'scripts'].flatMap((d) =>
    files(join(root, d), (n) => /\.(ts|mts|cts|js|mjs|cjs)$/.test(n)),
  );
  assert.ok(sources.length > 50, `found only ${sources.length} source files under ${root}`);
  const offenders = sources
    .filter((f) => needles.some((needle) => readFileSync(f, 'utf8').includes(needle)))
    .map((f) => relative(root, f));
  assert.deepEqual(offenders, [HOME]);
});

test('every package.json that lists dbus-next pins the version installed', () => {
  const manifests = ['packages', 'services', 'test', 'proto'].flatMap((d) =>
    files(join(root, d), (n) => n === 'package.json'),
  );
  const ranges = manifests.flatMap((f) => {
    const pkg = JSON.parse(readFileSync(f, 'utf8')) as Record<string, Record<string, string> | undefined>;
    const kinds = ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'];
    return kinds.flatMap((k) => {
      const range = pkg[k]?.['dbus-next'];
      return range === undefined ? [] : [`${relative(root, f)} ${range}`];
    });
  });
  assert.ok(ranges.length > 0);
  assert.deepEqual(
    ranges.filter((r) => !r.endsWith(` ${DBUS_NEXT_VERSION}`)),
    [],
    `pin dbus-next to exactly ${DBUS_NEXT_VERSION}`,
  );
});
