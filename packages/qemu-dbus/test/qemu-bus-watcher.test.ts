// QemuBusWatcher against a fake bus: backoff, connect and setup timeouts, QEMU's presence, ping.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { test } from 'node:test';
import dbus from 'dbus-next';
import { QemuBusWatcher, type MessageBus, type QemuBusWatcherOptions } from '../src/index.js';

interface FakeBehaviour {
  /** What the connection does after opening: say Hello, fail, or nothing. */
  hello: 'ok' | 'error' | 'never';
  /** QEMU's unique name ('' while QEMU is away). */
  owner: string;
  /** Which daemon methods never answer. */
  hang: Set<string>;
}

/** A bus connection that answers like dbus-daemon, as far as the watcher asks. */
class FakeBus extends EventEmitter {
  /** The private stream dbus-next reports the end of (see onBusClosed). */
  readonly _connection = new EventEmitter();
  disconnected = false;
  readonly calls: string[] = [];

  constructor(private readonly behaviour: FakeBehaviour) {
    super();
    setImmediate(() => {
      if (behaviour.hello === 'ok') this.emit('connect');
      else if (behaviour.hello === 'error') this.emit('error', new Error('ECONNREFUSED'));
    });
  }

  call(msg: dbus.Message): Promise<{ body: unknown[] }> {
    this.calls.push(msg.member);
    if (this.behaviour.hang.has(msg.member)) return new Promise(() => undefined);
    if (msg.member === 'GetNameOwner') {
      return this.behaviour.owner !== ''
        ? Promise.resolve({ body: [this.behaviour.owner] })
        : Promise.reject(new Error('org.freedesktop.DBus.Error.NameHasNoOwner'));
    }
    return Promise.resolve({ body: [] });
  }

  disconnect(): void {
    this.disconnected = true;
  }

  /** The daemon's NameOwnerChanged for org.qemu (from `sender`, the daemon unless given). */
  ownerChanged(from: string, to: string, sender = 'org.freedesktop.DBus'): void {
    this.behaviour.owner = to;
    this.emit('message', {
      type: dbus.MessageType.SIGNAL,
      sender,
      interface: 'org.freedesktop.DBus',
      member: 'NameOwnerChanged',
      path: '/org/freedesktop/DBus',
      body: ['org.qemu', from, to],
    });
  }
}

/** A watcher whose connections are FakeBuses made from `plan` in turn (the last one repeats). */
function watcherWith(
  plan: Partial<FakeBehaviour>[],
  opts: Partial<QemuBusWatcherOptions> = {},
): { watcher: QemuBusWatcher; buses: FakeBus[] } {
  const buses: FakeBus[] = [];
  const watcher = new QemuBusWatcher({
    address: 'unix:path=/nonexistent',
    retryMinMs: 10,
    retryMaxMs: 40,
    pingMs: 0,
    connectTimeoutMs: 1000,
    ...opts,
    connect: () => {
      const step = plan[Math.min(buses.length, plan.length - 1)] ?? {};
      const bus = new FakeBus({ hello: 'ok', owner: '', hang: new Set(), ...step });
      buses.push(bus);
      return bus as unknown as MessageBus;
    },
  });
  return { watcher, buses };
}

test('a bus that refuses is retried with doubling delays up to the maximum, from the minimum again once connected', async (t) => {
  const { watcher, buses } = watcherWith([
    { hello: 'error' },
    { hello: 'error' },
    { hello: 'error' },
    { hello: 'error' },
    { hello: 'ok' },
    { hello: 'error' },
  ]);
  t.after(() => {
    watcher.close();
  });
  const delays: number[] = [];
  const started = performance.now();
  watcher.on('unreachable', (_error, retryInMs) => delays.push(retryInMs));
  watcher.start();
  await once(watcher, 'connected');
  const elapsed = performance.now() - started;
  assert.deepEqual(delays, [10, 20, 40, 40]);
  assert.ok(elapsed >= 100, `four retries took ${elapsed.toFixed(0)} ms, at least 110 were due`);
  assert.ok(
    buses.slice(0, 4).every((b) => b.disconnected),
    'failed connections are disconnected',
  );

  // The connection ends: the reconnect waits the minimum again (10), a refusal then the double.
  const bus = buses[4];
  assert.ok(bus);
  const disconnected = once(watcher, 'disconnected');
  bus._connection.emit('end');
  const [, error] = (await disconnected) as [MessageBus, Error];
  assert.match(error.message, /bus connection closed/);
  assert.equal(watcher.bus, undefined);
  await once(watcher, 'unreachable');
  assert.deepEqual(delays, [10, 20, 40, 40, 20]);
});

test('a bus that never says Hello times out, and the attempt is dropped', async (t) => {
  const { watcher, buses } = watcherWith([{ hello: 'never' }], { connectTimeoutMs: 30 });
  t.after(() => {
    watcher.close();
  });
  const started = performance.now();
  watcher.start();
  const [error] = (await once(watcher, 'unreachable')) as [Error, number];
  assert.ok(performance.now() - started >= 25);
  assert.match(error.message, /no answer from unix:path=\/nonexistent in 30 ms/);
  assert.equal(buses[0]?.disconnected, true);
});

test('a setup call that never returns counts as a lost connection', async (t) => {
  const { watcher, buses } = watcherWith([{ hang: new Set(['AddMatch']) }, {}], { connectTimeoutMs: 30 });
  t.after(() => {
    watcher.close();
  });
  watcher.start();
  const [, error] = (await once(watcher, 'disconnected')) as [MessageBus, Error];
  assert.match(error.message, /AddMatch: no reply in 30 ms/);
  const [, present] = (await once(watcher, 'watching')) as [MessageBus, boolean];
  assert.equal(present, false);
  assert.equal(buses.length, 2);
});

test("QEMU's presence: found on connect, leaving, coming back; others cannot fake the daemon's signal", async (t) => {
  const { watcher, buses } = watcherWith([{ owner: ':1.7' }], { matchRules: ['type=signal'] });
  t.after(() => {
    watcher.close();
  });
  const seen: string[] = [];
  watcher.on('up', (_bus, owner) => seen.push(`up ${owner}`));
  watcher.on('down', (_bus, reason) => seen.push(`down ${reason}`));
  watcher.on('watching', (_bus, present) => seen.push(`watching ${present}`));
  watcher.start();
  await watcher.whenWatching();
  const bus = buses[0];
  assert.ok(bus);
  assert.deepEqual(bus.calls, ['AddMatch', 'AddMatch', 'GetNameOwner']);
  assert.equal(watcher.qemuOwner, ':1.7');

  bus.ownerChanged(':1.7', '', ':1.66');
  assert.equal(watcher.qemuOwner, ':1.7', 'a signal not from the daemon is ignored');
  bus.ownerChanged(':1.7', '');
  bus.ownerChanged('', ':1.9');
  bus.ownerChanged(':1.9', ':1.10');
  assert.deepEqual(seen, [
    'up :1.7',
    'watching true',
    'down qemu-left',
    'up :1.9',
    'down qemu-left',
    'up :1.10',
  ]);
});

test('a bus daemon that stops answering Ping is left, QEMU with it, and reconnected', async (t) => {
  const { watcher, buses } = watcherWith([{ owner: ':1.7', hang: new Set(['Ping']) }, { owner: ':1.7' }], {
    pingMs: 30,
  });
  t.after(() => {
    watcher.close();
  });
  const seen: string[] = [];
  watcher.on('disconnected', (_bus, error) => seen.push(`disconnected ${error.message}`));
  watcher.on('down', (_bus, reason) => seen.push(`down ${reason}`));
  watcher.on('up', () => seen.push('up'));
  watcher.start();
  await once(watcher, 'alive');
  assert.deepEqual(seen, ['up', 'disconnected Ping: no reply in 30 ms', 'down bus-lost', 'up']);
  assert.equal(buses[0]?.disconnected, true);
  assert.equal(watcher.bus, buses[1] as unknown as MessageBus);
});

test('close stops reconnecting, says nothing more, and releases whenWatching', async () => {
  const { watcher, buses } = watcherWith([{ hello: 'error' }]);
  let events = 0;
  watcher.on('unreachable', () => events++);
  watcher.start();
  await once(watcher, 'unreachable');
  watcher.close();
  await watcher.whenWatching();
  const count = buses.length;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(buses.length, count);
  assert.equal(events, 1);
});
