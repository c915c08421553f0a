// Generates web/src/gen/keyboard-layouts.ts: for each keyboard layout the page offers for "Type
// text" (paste as keystrokes), character -> [KeyboardEvent.code, Shift, AltGr]. Nothing is typed by
// hand: each layout is resolved by libxkbcommon from xkeyboard-config's data
// (`xkbcli compile-keymap --layout X`: Debian's libxkbcommon-tools and xkb-data), keysym names are
// turned into characters with X11's keysymdef.h (x11proto-dev), and keys into KeyboardEvent.code
// through keycodemapdb's table (noVNC's xtscancodes.js, as services/input's keymap).
//
// Which key of the compiled keymap is which code: xkb keycodes are Linux evdev codes + 8, and evdev
// codes 1..88 are the AT set 1 scancodes themselves (Linux's input-event-codes.h was laid out from
// them); set 1 scancode -> KeyboardEvent.code is keycodemapdb's table inverted. Only group 1 and
// levels 1-4 (none, Shift, AltGr, Shift+AltGr) are used; Lock/NumLock/Control levels are not, and
// dead keys are not typed (their characters are reported as untypeable).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadXtScancodes } from '../../../scripts/lib/xtscancodes.mjs';

/** The layouts offered, in the page's order: [xkb layout, label]. */
const LAYOUTS = [
  ['us', 'English (US)'],
  ['gb', 'English (UK)'],
  ['de', 'German'],
  ['fr', 'French (AZERTY)'],
  ['ch', 'German (Switzerland)'],
];
const KEYSYMDEF = '/usr/include/X11/keysymdef.h';

const here = dirname(fileURLToPath(import.meta.url));
const pkgRoot = join(here, '..');

function need(what, fn) {
  try {
    return fn();
  } catch (error) {
    throw new Error(
      `generate-layouts: ${what} (install Debian's libxkbcommon-tools, xkb-data and x11proto-dev: scripts/setup.sh): ${error.message}`,
    );
  }
}

// keysym name -> code point, from the names keysymdef.h marks with an exact Unicode equivalent.
const keysymText = need(`cannot read ${KEYSYMDEF}`, () => readFileSync(KEYSYMDEF, 'utf8'));
const keysymChar = new Map();
for (const m of keysymText.matchAll(/^#define XK_(\w+)\s+0x[0-9a-fA-F]+\s*\/\* U\+([0-9A-F]{4,6}) /gm)) {
  keysymChar.set(m[1], Number.parseInt(m[2], 16));
}
if (keysymChar.size < 500)
  throw new Error(`generate-layouts: only ${keysymChar.size} keysyms in ${KEYSYMDEF}`);
function charOf(name) {
  const u = /^U([0-9A-Fa-f]{4,6})$/.exec(name);
  const cp = u ? Number.parseInt(u[1], 16) : keysymChar.get(name);
  if (cp === undefined || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp > 0x10ffff) return undefined;
  return String.fromCodePoint(cp);
}

// set 1 scancode (plain, 0x01..0x58) -> KeyboardEvent.code.
const { table, version, checksum } = await loadXtScancodes(pkgRoot);
const codeOfScancode = new Map();
for (const [code, xt] of Object.entries(table)) {
  if (Number.isInteger(xt) && xt >= 0x01 && xt <= 0x58 && /^[A-Za-z0-9]+$/.test(code)) {
    if (!codeOfScancode.has(xt)) codeOfScancode.set(xt, code);
  }
}

/** Level (1-based) -> [shift, altgr] for the standard four levels, and for a parsed type. */
const STANDARD_LEVELS = new Map([
  [1, [false, false]],
  [2, [true, false]],
  [3, [false, true]],
  [4, [true, true]],
]);

function parseTypes(text) {
  const types = new Map();
  for (const m of text.matchAll(/type "([^"]+)" \{([\s\S]*?)\n\t\};/g)) {
    const levels = new Map([[1, [false, false]]]);
    for (const e of m[2].matchAll(/map\[([^\]]+)\]= (\d+);/g)) {
      const mods = e[1].split('+');
      if (!mods.every((x) => x === 'Shift' || x === 'LevelThree')) continue;
      const level = Number(e[2]);
      const combo = [mods.includes('Shift'), mods.includes('LevelThree')];
      const old = levels.get(level);
      // The fewest modifiers that reach the level.
      if (!old || Number(combo[0]) + Number(combo[1]) < Number(old[0]) + Number(old[1]))
        levels.set(level, combo);
    }
    types.set(m[1], levels);
  }
  return types;
}

function compile(layout) {
  const text = need(`xkbcli compile-keymap --layout ${layout} failed`, () =>
    execFileSync('xkbcli', ['compile-keymap', '--layout', layout], { encoding: 'utf8' }),
  );
  const keycodes = new Map();
  for (const m of text.matchAll(/^\s*<(\w+)>\s*= (\d+);/gm)) keycodes.set(m[1], Number(m[2]));
  const types = parseTypes(text.slice(text.indexOf('xkb_types'), text.indexOf('xkb_compatibility')));
  const symbols = text.slice(text.indexOf('xkb_symbols'));
  /** char -> [code, shift, altgr, level, keycode] (the lowest level, then the lowest keycode). */
  const chars = new Map();
  for (const m of symbols.matchAll(/^\tkey <(\w+)>\s*\{([\s\S]*?)\};/gm)) {
    const keycode = keycodes.get(m[1]);
    const scancode = keycode === undefined ? undefined : keycode - 8;
    const code = scancode === undefined ? undefined : codeOfScancode.get(scancode);
    if (!code) continue;
    const body = m[2];
    const typeName = /type(?:\[Group1\])?= "([^"]+)"/.exec(body)?.[1];
    const group = /symbols\[Group1\]= \[([^\]]*)\]/.exec(body)?.[1] ?? /^\s*\[([^\]]*)\]/.exec(body)?.[1];
    if (group === undefined) continue;
    const levels = typeName ? types.get(typeName) : STANDARD_LEVELS;
    if (!levels) continue;
    group
      .split(',')
      .map((s) => s.trim())
      .forEach((name, i) => {
        const level = i + 1;
        const mods = levels.get(level);
        const ch = charOf(name);
        if (!mods || ch === undefined) return;
        const old = chars.get(ch);
        if (!old || level < old[3] || (level === old[3] && keycode < old[4]))
          chars.set(ch, [code, mods[0], mods[1], level, keycode]);
      });
  }
  return chars;
}

const out = [
  '// Generated by scripts/generate-layouts.mjs: do not edit.',
  '// Sources: xkeyboard-config via libxkbcommon (`xkbcli compile-keymap --layout X`), X11 keysymdef.h,',
  `// keycodemapdb's keymaps.csv (sha256 ${checksum.slice(0, 16)}..., as @novnc/novnc ${version} ships it).`,
  '',
  '/** How to type one character: the key (KeyboardEvent.code) and the modifiers held with it. */',
  'export type KeyStroke = readonly [code: string, shift: boolean, altGr: boolean];',
  '',
  'export interface KeyboardLayout {',
  '  /** xkeyboard-config layout name. */',
  '  readonly id: string;',
  '  readonly label: string;',
  '  readonly chars: ReadonlyMap<string, KeyStroke>;',
  '}',
  '',
  'export const KEYBOARD_LAYOUTS: readonly KeyboardLayout[] = [',
];
for (const [layout, label] of LAYOUTS) {
  const chars = compile(layout);
  for (const c of 'azAZ09 ') {
    if (!chars.has(c)) throw new Error(`generate-layouts: layout ${layout} cannot type ${JSON.stringify(c)}`);
  }
  const entries = [...chars.entries()].sort(([a], [b]) => a.codePointAt(0) - b.codePointAt(0));
  out.push(`  {`, `    id: '${layout}',`, `    label: ${JSON.stringify(label)},`, `    chars: new Map([`);
  for (const [ch, [code, shift, altGr]] of entries) {
    out.push(`      [${JSON.stringify(ch)}, ['${code}', ${shift}, ${altGr}]],`);
  }
  out.push(`    ]),`, `  },`);
  console.log(`generate-layouts: ${layout}: ${entries.length} characters`);
}
out.push('];', '');
mkdirSync(join(pkgRoot, 'web/src/gen'), { recursive: true });
writeFileSync(join(pkgRoot, 'web/src/gen/keyboard-layouts.ts'), out.join('\n'));
