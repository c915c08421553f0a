// Builds a package's node-addon-api addon with node-gyp, incrementally: nothing when the addon is
// newer than every source under the native folder, `configure` only when binding.gyp changed, then
// `build` (make tracks headers). `--force` rebuilds from scratch. node-gyp never downloads Node
// headers: it gets --nodedir (npm_config_nodedir, else the prefix of the running node when that has
// include/node), and the build stops with a clear message when there is none.
//
// usage (from the package folder): node ../../scripts/build-native.mjs <native dir> <addon name> [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const [dirArg, addonName] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!dirArg || !addonName) {
  console.error('usage: build-native.mjs <native dir> <addon name> [--force]');
  process.exit(2);
}
const force = process.argv.includes('--force') || process.env.NATIVE_REBUILD === '1';
const nativeDir = resolve(dirArg);
const addon = join(nativeDir, `build/Release/${addonName}.node`);
const gypFile = join(nativeDir, 'binding.gyp');
// node-gyp and node-addon-api come from the package being built.
const require = createRequire(join(process.cwd(), 'package.json'));

/** @param {string} f */
const mtime = (f) => statSync(f).mtimeMs;
/**
 * @param {string} dir
 * @returns {string[]}
 */
const sourcesUnder = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? e.name === 'build'
        ? []
        : sourcesUnder(join(dir, e.name))
      : /\.(cc|cpp|c|h|hpp|gyp)$/.test(e.name)
        ? [join(dir, e.name)]
        : [],
  );
// The shared helper kit's headers count as sources too (packages/native-kit/include).
const nativeKitInclude = String(require('@qemu-webrtc/native-kit/include'));
const sources = sourcesUnder(nativeDir).concat(
  [require.resolve('node-addon-api/package.json')],
  sourcesUnder(nativeKitInclude),
);
if (!force && existsSync(addon) && mtime(addon) >= Math.max(...sources.map(mtime))) process.exit(0);

const prefix = dirname(dirname(process.execPath));
const nodedir =
  process.env.npm_config_nodedir ||
  (existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined);
if (!nodedir) {
  console.error(`${addonName}: no Node headers under ${prefix}/include/node; set npm_config_nodedir`);
  process.exit(1);
}
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
/** @param {string[]} args */
const run = (...args) =>
  spawnSync(process.execPath, [gyp, ...args, `--nodedir=${nodedir}`, '--loglevel=warn'], {
    stdio: 'inherit',
    cwd: nativeDir,
  }).status ?? 1;

const config = join(nativeDir, 'build/config.gypi');
const needsConfigure =
  force || !existsSync(join(nativeDir, 'build/Makefile')) || mtime(gypFile) > mtime(config);
let status = needsConfigure ? run(...(force ? ['rebuild', '--jobs=max'] : ['configure'])) : 0;
if (status === 0 && !(force && needsConfigure)) status = run('build', '--jobs=max');
process.exit(status);
