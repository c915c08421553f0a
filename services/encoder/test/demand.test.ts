// Demand leases: per consumer, expiring, released, then the linger (src/demand.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DemandTable, MAX_LEASE_MS, MIN_LEASE_MS } from '../src/demand.js';

test('a stream is wanted while a lease is live, then for the linger', () => {
  const d = new DemandTable(1000);
  assert.equal(d.wanted('vm.0.full', 0), false, 'no lease: idle');
  d.heard('vm.0.full', 'signaling-a', 7000, false, 0);
  assert.equal(d.wanted('vm.0.full', 6999), true);
  assert.equal(d.wanted('vm.0.full', 7500), true, 'expired at 7000: lingering');
  assert.equal(d.wanted('vm.0.full', 8000), false, 'linger over');
  assert.equal(d.sweep(8000), 0);
});

test('leases are per consumer; a release ends only its own; renewals extend', () => {
  const d = new DemandTable(500);
  d.heard('s', 'a', 2000, false, 0);
  d.heard('s', 'b', 2000, false, 0);
  d.heard('s', 'a', 2000, true, 100);
  assert.equal(d.leases('s', 100), 1);
  d.heard('s', 'b', 2000, false, 1500);
  assert.equal(d.wanted('s', 3000), true, 'b renewed');
  d.heard('s', 'b', 2000, true, 3000);
  assert.equal(d.wanted('s', 3400), true, 'lingering after the release');
  assert.equal(d.wanted('s', 3500), false);
  d.heard('t', 'x', 0, true, 0);
  assert.equal(d.wanted('t', 0), false, 'a release of nothing wants nothing');
});

test('ttls are clamped', () => {
  const d = new DemandTable(0);
  d.heard('s', 'a', 1, false, 0);
  assert.equal(d.wanted('s', MIN_LEASE_MS - 1), true);
  d.heard('u', 'a', 4_000_000_000, false, 0);
  assert.equal(d.wanted('u', MAX_LEASE_MS), false);
});
