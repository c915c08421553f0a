// Generates static protobufjs code and its .d.ts from every .proto file here into gen/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const protos = readdirSync(join(here, 'qemu_webrtc/v1'))
  .filter((f) => f.endsWith('.proto'))
  .sort()
  .map((f) => join(here, 'qemu_webrtc/v1', f));
const gen = join(here, 'gen');
mkdirSync(gen, { recursive: true });
const bin = (name) => join(here, 'node_modules/.bin', name);
execFileSync(
  bin('pbjs'),
  [
    '-t',
    'static-module',
    '-w',
    'es6',
    '--es6',
    '--force-number',
    '--no-verify',
    '--no-delimited',
    '--no-beautify',
    '--dependency',
    'protobufjs/minimal.js',
    '-o',
    join(gen, 'messages.js'),
    ...protos,
  ],
  { stdio: 'inherit' },
);
// protobufjs is CommonJS: under Node's ESM its members are reachable through the default export only.
const js = join(gen, 'messages.js');
// 64-bit fields (microsecond timestamps, sequences) stay below 2^53: decode them as plain numbers,
// not Long objects, by configuring protobufjs without Long.
writeFileSync(
  js,
  readFileSync(js, 'utf8').replace(
    /import \* as \$protobuf from "protobufjs\/minimal.js";/,
    'import $protobuf from "protobufjs/minimal.js";\n$protobuf.util.Long = undefined;\n$protobuf.configure();',
  ),
);
execFileSync(bin('pbts'), ['-o', join(gen, 'messages.d.ts'), join(gen, 'messages.js')], { stdio: 'inherit' });
