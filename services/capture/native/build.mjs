// Builds the capture addon with node-gyp when it is missing or older than its sources
// (CAPTURE_NATIVE_REBUILD=1 forces it). node-gyp must never download Node headers: it gets
// --nodedir (npm_config_nodedir, else the prefix of the running node when it has include/node).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
const addon = join(nativeDir, 'build/Release/capture.node');
const require = createRequire(import.meta.url);

const sources = readdirSync(nativeDir)
  .filter((f) => /\.(cc|h|gyp)$/.test(f))
  .map((f) => join(nativeDir, f))
  .concat([require.resolve('node-addon-api/package.json')]);
const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
if (existsSync(addon) && statSync(addon).mtimeMs >= newest && process.env.CAPTURE_NATIVE_REBUILD !== '1') {
  process.exit(0);
}

const prefix = dirname(dirname(process.execPath));
const nodedir =
  process.env.npm_config_nodedir ||
  (existsSync(join(prefix, 'include/node/node_api.h')) ? prefix : undefined);
if (!nodedir) {
  console.error(`capture: no Node headers under ${prefix}/include/node; set npm_config_nodedir`);
  process.exit(1);
}
const gyp = require.resolve('node-gyp/bin/node-gyp.js');
// `configure build` rather than `rebuild`: make only recompiles what changed.
const result = spawnSync(
  process.execPath,
  [
    gyp,
    'configure',
    'build',
    `--nodedir=${nodedir}`,
    '--directory',
    nativeDir,
    '--loglevel=warn',
    `--jobs=max`,
  ],
  { stdio: 'inherit', cwd: nativeDir },
);
process.exit(result.status ?? 1);
