// Keys held by a viewer are let go when it says so (release_all), when it goes silent, and when the
// service stops; another viewer's keys stay held; stale and repeated sequences are not applied.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputHarness, metricValue } from './input-harness.js';

test('held keys are released on release_all, on silence and on stop; per-viewer order holds', async (t) => {
  const h = await InputHarness.start(t, { env: { INPUT_IDLE_RELEASE_MS: '800' } });
  const held = (n: number, what: string) => h.guest((s) => s.held === n, what);
  const presses = (await h.guest(() => true, 'status')).presses;

  // A viewer holding two keys disconnects (signaling sends release_all for it).
  h.send('a', { key: { code: 'ShiftLeft', down: true } });
  h.send('a', { key: { code: 'KeyQ', down: true } });
  await held(2, 'two keys held');
  h.send('a', { releaseAll: {} });
  await held(0, 'release_all lifts both');

  // Two viewers hold the same key: one leaving does not lift it for the other.
  h.send('a', { key: { code: 'ControlLeft', down: true } });
  h.send('b', { key: { code: 'ControlLeft', down: true } });
  h.send('b', { key: { code: 'AltLeft', down: true } });
  await held(2, 'Ctrl and Alt held');
  const seqA = h.send('a', { releaseAll: {} });
  await h.applied('a', seqA);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await h.status())?.held, 2, "b's Ctrl is still held");
  h.send('b', { key: { code: 'ControlLeft', down: false } });
  h.send('b', { key: { code: 'AltLeft', down: false } });
  await held(0, 'b lets go');

  // Events of one viewer apply in sequence order: an old or repeated sequence is dropped.
  h.publish({ vmId: 'test-vm', viewerId: 'c', sequence: 10, key: { code: 'KeyW', down: true } });
  await held(1, 'W held');
  h.publish({ vmId: 'test-vm', viewerId: 'c', sequence: 10, key: { code: 'KeyW', down: false } });
  h.publish({ vmId: 'test-vm', viewerId: 'c', sequence: 9, key: { code: 'KeyW', down: false } });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal((await h.status())?.held, 1, 'stale releases were not applied');
  h.publish({ vmId: 'test-vm', viewerId: 'c', sequence: 11, key: { code: 'KeyW', down: false } });
  await held(0, 'W released by the next sequence');

  // A viewer that goes silent with a key held: released after INPUT_IDLE_RELEASE_MS.
  const silentAt = performance.now();
  h.send('d', { key: { code: 'ShiftRight', down: true } });
  await held(1, 'Shift held');
  await held(0, 'the silent viewer’s key is released');
  const after = performance.now() - silentAt;
  assert.ok(after >= 700, `released after ${Math.round(after)} ms, not before the timeout`);

  // The service stops with a key held: it lets go first.
  h.send('e', { key: { code: 'KeyE', down: true } });
  await held(1, 'E held');
  const text = await h.metricsText();
  assert.equal(metricValue(text, 'input_releases_total{reason="release_all"}'), 3);
  assert.equal(metricValue(text, 'input_releases_total{reason="idle"}'), 1);
  assert.equal(metricValue(text, 'input_events_dropped_total{reason="stale_sequence"}'), 2);
  assert.equal(metricValue(text, 'input_held'), 1);
  await h.service.destroy();
  await held(0, 'stop lifts every key');
  const end = await h.guest(() => true, 'status');
  assert.equal(
    end.presses,
    presses + 7,
    'seven makes: the shared Ctrl is one (its second press is a repeat)',
  );
});
