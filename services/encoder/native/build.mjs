// Builds the addon with node-gyp, incrementally: nothing when build/Release/encoder.node is newer
// than every source, `configure` only when binding.gyp changed, then `build` (make tracks headers).
// `--force` rebuilds from scratch. node-gyp never downloads Node headers: it gets --nodedir
// (npm_config_nodedir, else the prefix of the running node when that has include/node).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
const addon = join(nativeDir, 'build/Release/encoder.node');
const gypFile = join(nativeDir, 'binding.gyp');
const require = createRequire(import.meta.url);
const force = process.argv.includes('--force');

const mtime = (f) => statSync(f).mtimeMs;
const sources = readdirSync(join(nativeDir, 'src'))
  .map((f) => join(nativeDir, 'src', f))
  .concat([gypFile, require.resolve('node-addon-api/package.json')]);
if (!force && existsSync(addon) && mtime(addon) >= Math.max(...sources.map(mtime))) process.exit(0);

const prefix = dirname(dirname(process.execPath));
const nodedir =
  process.env.npm_config_nodedir ||
  (existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined);
if (!nodedir) {
  console.error(`encoder: no Node headers under ${prefix}/include/node; set npm_config_nodedir`);
  process.exit(1);
}
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
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
