// The start command's fast path: scripts/setup.sh ends with `build-stamp.mjs write`, which records
// what the finished setup and build were made from; `build-stamp.mjs check` (scripts/start.sh)
// exits 0 when all of it is unchanged, so setup and the build can be skipped, else 1 and one line
// saying what changed. What counts:
//   sources   every file git tracks or would track (the lockfile, setup.sh, all code), by content
//   packages  the installed Debian packages (/var/lib/dpkg/status) and Node (version, binary)
//   deps      pnpm's record of node_modules (node_modules/.modules.yaml: rewritten by each install)
//   outputs   the build's results are all present (a deleted dist/ or addon means a rebuild)
// The stamp lives in node_modules/, so removing node_modules also removes it.
//
// usage: node scripts/build-stamp.mjs check|write
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const stampPath = join(root, 'node_modules/.qemu-webrtc-setup-stamp.json');
/** Build results every start needs (the native addons, each service, the demo VM). */
const OUTPUTS = [
  'packages/frame-ring/native/build/Release/frame_ring.node',
  'services/capture/native/build/Release/capture.node',
  'services/encoder/native/build/Release/encoder.node',
  'packages/qemu-dbus/dist/src/index.js',
  'packages/common/dist/src/index.js',
  'packages/process-supervisor/dist/src/index.js',
  'proto/gen',
  ...['capture', 'encoder', 'input', 'signaling'].map((s) => `services/${s}/dist/src/main.js`),
  'packages/demo-vm/dist/src/guest-qemu-args.js',
  'packages/demo-vm/guest/build/guest.elf',
];
/** Not sources, when git cannot list them (a checkout without .git). */
const NOT_SOURCES = new Set(['.git', 'node_modules', 'dist', 'build', 'gen', '.bench', '.gl', '.whl']);

/** @param {(string | Buffer)[]} parts */
const digest = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p).update('\0');
  return h.digest('hex');
};
/**
 * @param {string} path
 * @param {string} fallback
 * @returns {Buffer | string}
 */
const readOr = (path, fallback) => {
  try {
    return readFileSync(path);
  } catch {
    return fallback;
  }
};

function sourceFiles() {
  const git = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (git.status === 0) return [...new Set(git.stdout.split('\0').filter(Boolean))];
  /**
   * @param {string} dir
   * @returns {string[]}
   */
  const walk = (dir) =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
      if (NOT_SOURCES.has(e.name) || e.name.endsWith('.tsbuildinfo')) return [];
      const path = join(dir, e.name);
      if (e.isDirectory()) return walk(path);
      return e.isFile() ? [relative(root, path)] : [];
    });
  return walk(root);
}

/** The parts of the key, each a hash. */
function currentKey() {
  const h = createHash('sha256');
  for (const f of sourceFiles().sort()) {
    h.update(f).update('\0');
    h.update(readOr(join(root, f), 'missing')).update('\0');
  }
  return {
    sources: h.digest('hex'),
    packages: digest(readOr('/var/lib/dpkg/status', ''), process.version, process.execPath),
    deps: digest(readOr(join(root, 'node_modules/.modules.yaml'), 'missing')),
  };
}

const [command] = process.argv.slice(2);
if (command === 'write') {
  writeFileSync(stampPath, `${JSON.stringify({ ...currentKey(), writtenAt: new Date().toISOString() })}\n`);
} else if (command === 'check') {
  /** @type {(text: string) => Record<string, string>} */
  const parseStamp = JSON.parse;
  let stamp;
  try {
    stamp = parseStamp(readFileSync(stampPath, 'utf8'));
  } catch {
    console.log('no finished setup recorded yet');
    process.exit(1);
  }
  const key = currentKey();
  const changed = /** @type {(keyof typeof key)[]} */ (Object.keys(key)).filter((k) => stamp[k] !== key[k]);
  const missing = OUTPUTS.filter((f) => !existsSync(join(root, f)));
  if (changed.length > 0 || missing.length > 0) {
    const what = { sources: 'the sources', packages: 'the installed packages or Node', deps: 'node_modules' };
    const reasons = changed.map((k) => `${what[k]} changed`);
    if (missing.length > 0) reasons.push(`${missing[0]} is missing`);
    console.log(`${reasons.join(', ')} since the last setup (${stamp.writtenAt})`);
    process.exit(1);
  }
  console.log(`nothing changed since the last setup (${stamp.writtenAt})`);
} else {
  console.error('usage: node scripts/build-stamp.mjs check|write');
  process.exit(2);
}
