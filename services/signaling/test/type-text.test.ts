// The page's "Type text" planning (web/src/type-text.ts, compiled by the web project): text to key
// strokes through the generated layout tables. What reaches a guest is test/tests/paste-layouts.
import { test } from 'node:test';
import assert from 'node:assert/strict';

interface Layout {
  id: string;
  label: string;
  chars: ReadonlyMap<string, readonly [string, boolean, boolean]>;
}
interface Plan {
  strokes: { code: string; shift: boolean; altGr: boolean }[];
  untypeable: { char: string; count: number }[];
}

const { planTyping } = (await import(new URL('../../web/dist/type-text.js', import.meta.url).href)) as {
  planTyping: (text: string, layout: Layout) => Plan;
};
const { KEYBOARD_LAYOUTS } = (await import(
  new URL('../../web/dist/gen/keyboard-layouts.js', import.meta.url).href
)) as { KEYBOARD_LAYOUTS: Layout[] };

function layout(id: string): Layout {
  const l = KEYBOARD_LAYOUTS.find((x) => x.id === id);
  assert.ok(l, `layout ${id}`);
  return l;
}

test('the generated tables: five layouts, each types letters, digits and space', () => {
  assert.deepEqual(
    KEYBOARD_LAYOUTS.map((l) => l.id),
    ['us', 'gb', 'de', 'fr', 'ch'],
  );
  for (const l of KEYBOARD_LAYOUTS) {
    const plan = planTyping('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ', l);
    assert.deepEqual(plan.untypeable, [], l.id);
  }
});

test('keys and modifiers per layout (AZERTY, QWERTZ, AltGr)', () => {
  const keys = (id: string, text: string): string[] =>
    planTyping(text, layout(id)).strokes.map((s) => `${s.shift ? 'S+' : ''}${s.altGr ? 'G+' : ''}${s.code}`);
  assert.deepEqual(keys('us', 'aZ@'), ['KeyA', 'S+KeyZ', 'S+Digit2']);
  assert.deepEqual(keys('de', 'zy@€'), ['KeyY', 'KeyZ', 'G+KeyQ', 'G+KeyE']);
  assert.deepEqual(keys('fr', 'aq1'), ['KeyQ', 'KeyA', 'S+Digit1']);
  assert.deepEqual(keys('gb', '"@£'), ['S+Digit2', 'S+Quote', 'S+Digit3']);
});

test('Enter and Tab; \\r\\n is one Enter; text is composed first (e + U+0301 is é)', () => {
  const plan = planTyping('a\r\nb\tc\re\u0301', layout('fr'));
  assert.deepEqual(
    plan.strokes.map((s) => s.code),
    ['KeyQ', 'Enter', 'KeyB', 'Tab', 'KeyC', 'Enter', 'Digit2'],
  );
});

test('untypeable characters are listed once each, with their count', () => {
  const plan = planTyping('a^b^Жc', layout('de'));
  assert.deepEqual(plan.untypeable, [
    { char: '^', count: 2 },
    { char: 'Ж', count: 1 },
  ]);
});
