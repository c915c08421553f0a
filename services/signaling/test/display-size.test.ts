// Which control viewer's window sets a console's size (SetUIInfo): the follower that last sent
// input wins; while none has, the newest hint; the leader leaving hands over to the next follower.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DisplaySizeArbiter, type SizeFollower, type SizeHint } from '../src/display-size.js';

const hint = (width: number, height: number): SizeHint => ({ width, height, widthMm: 0, heightMm: 0 });

function follower(id: string, log: string[], consoleKey = 'vm.0'): SizeFollower {
  return {
    id,
    consoleKey,
    sendHint: (h) => log.push(`${id} sends ${h.width}x${h.height}`),
    overruled: () => log.push(`${id} overruled`),
  };
}

test('the newest hint wins until someone sends input; then the last to send input', () => {
  const log: string[] = [];
  const arbiter = new DisplaySizeArbiter();
  const a = follower('a', log);
  const b = follower('b', log);
  arbiter.hint(a, hint(1024, 768), 1);
  arbiter.hint(b, hint(1600, 900), 2);
  assert.deepEqual(log.splice(0), ['a sends 1024x768', 'b sends 1600x900', 'a overruled']);
  arbiter.input(a, 3);
  assert.deepEqual(log.splice(0), ['a sends 1024x768', 'b overruled']);
  // a leads by input: b's new hint does not go out.
  arbiter.hint(b, hint(800, 600), 4);
  assert.deepEqual(log.splice(0), ['b overruled']);
  arbiter.hint(a, hint(1280, 720), 5);
  assert.deepEqual(log.splice(0), ['a sends 1280x720']);
  arbiter.input(b, 6);
  assert.deepEqual(log.splice(0), ['b sends 800x600', 'a overruled']);
  assert.equal(arbiter.leaderOf('vm.0'), 'b');
});

test('the leader leaving hands over; viewers that keep the mode and other consoles take no part', () => {
  const log: string[] = [];
  const arbiter = new DisplaySizeArbiter();
  const a = follower('a', log);
  const b = follower('b', log);
  const keeper = follower('k', log);
  const other = follower('o', log, 'vm.1');
  arbiter.hint(a, hint(1024, 768), 1);
  arbiter.hint(b, hint(1600, 900), 2);
  arbiter.input(a, 3);
  arbiter.input(keeper, 4); // no hint: keeps the guest's mode
  arbiter.hint(other, hint(640, 480), 5);
  log.length = 0;
  arbiter.stop(a);
  assert.deepEqual(log.splice(0), ['b sends 1600x900']);
  arbiter.stop(b);
  assert.equal(arbiter.leaderOf('vm.0'), undefined);
  assert.equal(arbiter.leaderOf('vm.1'), 'o');
  assert.deepEqual(log, []);
});
