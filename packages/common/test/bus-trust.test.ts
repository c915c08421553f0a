// The pieces a service uses to decide whether to believe a bus message: the encoder roster
// (probation, timeouts, holds, quarantine), claim epochs, console subjects against bodies, and
// the rate-limited log of bad input. Hand-driven clocks; no NATS needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import {
  BadInputLog,
  EncoderRoster,
  bodyMatchesConsoleSubject,
  claimEpoch,
  consoleOfSubject,
  isPlausibleEpoch,
  subjects,
} from '../src/index.js';

test('the roster admits an encoder after probation and two heartbeats, and forgets it after the timeout', () => {
  let now = 0;
  const roster = new EncoderRoster({ timeoutMs: 1000, probationMs: 1000, now: () => now });
  assert.equal(roster.heard({ encoderId: 'ghost', streams: ['vm.0.full'] }), undefined);
  now = 1500;
  assert.deepEqual(roster.admitted(), [], 'one heartbeat, then silence: never a member');
  assert.deepEqual(roster.expire(), [], 'and it does not "leave" either');

  now = 2000;
  roster.heard({ encoderId: 'real', streams: [] });
  now = 2250;
  roster.heard({ encoderId: 'real', streams: [] });
  assert.deepEqual(roster.admitted(), [], 'still on probation');
  now = 3000;
  assert.equal(roster.heard({ encoderId: 'real', streams: ['vm.0.full'] }), 'joined');
  assert.deepEqual(roster.admitted(), ['real']);
  assert.ok(roster.holds('real', 'vm.0.full'));
  roster.claimed('real', 'vm.1.full', false);
  assert.ok(roster.holds('real', 'vm.1.full'), 'a claim counts before the next heartbeat');
  roster.claimed('real', 'vm.1.full', true);
  assert.ok(!roster.holds('real', 'vm.1.full'), 'a release too');
  roster.claimed('nobody', 'vm.0.full', false);
  assert.ok(!roster.holds('nobody', 'vm.0.full'), 'claims of unknown encoders are ignored');

  roster.quarantine('real');
  assert.deepEqual(roster.owners(), [], 'quarantined: no ownership');
  assert.deepEqual(roster.admitted(), ['real'], 'but still alive');

  now = 4100;
  assert.ok(!roster.holds('real', 'vm.0.full'), 'timed out: holds nothing');
  assert.deepEqual(roster.expire(), ['real']);
  assert.equal(roster.heard({ encoderId: 'real', streams: [], leaving: true }), undefined);
});

test('claim epochs grow in tenths of a second; one past the clock (plus skew) is implausible', () => {
  const t = Date.UTC(2026, 11, 2, 12);
  assert.equal(claimEpoch(t + 100) - claimEpoch(t), 1);
  assert.ok(claimEpoch(t) < 2 ** 32);
  assert.ok(isPlausibleEpoch(claimEpoch(t), t));
  assert.ok(isPlausibleEpoch(claimEpoch(t + 30_000), t), 'a clock 30 s ahead is tolerated');
  assert.ok(!isPlausibleEpoch(claimEpoch(t + 120_000), t));
  assert.ok(!isPlausibleEpoch(2 ** 32 - 1, t));
  assert.ok(!isPlausibleEpoch(-1, t));
});

test('console subjects name their console; a body naming another is caught', () => {
  const subject = subjects.consoleInfo('vm-1', 3);
  assert.deepEqual(consoleOfSubject(subject), { vmId: 'vm-1', consoleId: 3 });
  assert.deepEqual(consoleOfSubject(subjects.frameReady('vm-1', 65535)), { vmId: 'vm-1', consoleId: 65535 });
  assert.equal(consoleOfSubject('qw.vm.vm-1.console.99999.info'), undefined);
  assert.equal(consoleOfSubject('qw.stream.vm-1.0.full.au'), undefined);
  assert.ok(bodyMatchesConsoleSubject(subject, { vmId: 'vm-1', consoleId: 3 }));
  assert.ok(!bodyMatchesConsoleSubject(subject, { vmId: '../../etc', consoleId: 3 }));
  assert.ok(!bodyMatchesConsoleSubject(subject, { vmId: 'vm-1', consoleId: 4294967295 }));
});

test('bad input is logged rate-limited: the first few in full, the rest summed up, no stacks', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n'))
        if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const log = new BadInputLog(pino(sink), { burst: 3, intervalMs: 60_000 });
  for (let i = 0; i < 1000; i++)
    log.warn('undecodable', { err: new Error(`bad ${i}`), subject: 'x' }, 'dropped');
  log.warn('other', {}, 'another kind still gets through');
  log.close();
  const full = lines.filter((l) => l.kind === 'undecodable' && l.suppressed === undefined);
  assert.equal(full.length, 3);
  assert.equal(full[0]?.error, 'Error: bad 0');
  assert.ok(
    lines.every((l) => !JSON.stringify(l).includes('at ')),
    'no stack traces',
  );
  assert.ok(lines.some((l) => l.kind === 'undecodable' && l.suppressed === 997));
  assert.ok(lines.some((l) => l.kind === 'other'));
  assert.ok(lines.length <= 6, `${lines.length} lines for 1001 bad inputs`);
});
