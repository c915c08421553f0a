// keycodemapdb's KeyboardEvent.code -> AT set 1 table, as noVNC ships it: the one home of finding it,
// for the build-time generators (services/input's keymap, services/signaling's keyboard layouts).
//
// keycodemapdb's keymaps.csv is the source of truth, but it is not an npm package. noVNC (the
// @novnc/novnc devDependency) ships core/input/xtscancodes.js, generated from keymaps.csv by
// `keymap-gen code-map --lang=js keymaps.csv html atset1`: KeyboardEvent.code -> AT set 1 (XT)
// scancode, with extended keys as 0xE0xx.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Loads noVNC's xtscancodes.js as installed for the package at pkgRoot.
 * @param {string} pkgRoot the folder of the package.json that depends on @novnc/novnc
 * @returns {Promise<{ table: Record<string, unknown>, version: string, checksum: string, source: string }>}
 */
export async function loadXtScancodes(pkgRoot) {
  // The package's "exports" hides its files from require.resolve: find its folder through the
  // resolution paths instead.
  const require = createRequire(join(pkgRoot, 'package.json'));
  const novncDir = (require.resolve.paths('@novnc/novnc') ?? [])
    .map((p) => join(p, '@novnc/novnc'))
    .find((p) => {
      try {
        readFileSync(join(p, 'package.json'));
        return true;
      } catch {
        return false;
      }
    });
  if (!novncDir) throw new Error('@novnc/novnc is not installed (pnpm install)');
  const source = join(novncDir, 'core/input/xtscancodes.js');
  /** @type {(text: string) => { version: string }} */
  const parsePackage = JSON.parse;
  const { version } = parsePackage(readFileSync(join(novncDir, 'package.json'), 'utf8'));
  const text = readFileSync(source, 'utf8');
  const checksum = /Database checksum sha256\(([0-9a-f]{64})\)/.exec(text)?.[1];
  if (!checksum || !text.includes('keymaps.csv')) {
    throw new Error(`${source} does not look generated from keycodemapdb's keymaps.csv`);
  }
  /** @type {(url: string) => Promise<{ default: Record<string, unknown> }>} */
  const importTable = (url) => import(url);
  const { default: table } = await importTable(pathToFileURL(source).href);
  return { table, version, checksum, source };
}
