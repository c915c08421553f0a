// What most QEMU tests start before anything else: a private directory and a dbus-daemon for QEMU's
// display and input, and for those that run services in-process, a nats-server and a client of it.
import { connect, type NatsConnection } from 'nats';
import { DbusDaemon, NatsServer, TempDir } from '@qemu-webrtc/test-kit';

export interface BusAndNats {
  dir: TempDir;
  bus: DbusDaemon;
  nats: NatsServer;
  nc: NatsConnection;
}

/** The directory, then the dbus-daemon in it; `onCleanup` as for startBusAndNats. */
export async function startDirAndBus(
  onCleanup: (fn: () => unknown) => void,
): Promise<{ dir: TempDir; bus: DbusDaemon }> {
  const dir = new TempDir();
  onCleanup(() => dir.remove());
  const bus = await DbusDaemon.start(dir);
  onCleanup(() => bus.stop());
  return { dir, bus };
}

/**
 * The directory, dbus-daemon, nats-server and a client of it, started in that order, handing each one's teardown to `onCleanup` as soon as it is up (so a
 * later failure still tears down what started). `onCleanup` is t.after, or a last-in-first-out list
 * where the test's services must stop before NATS and the bus.
 */
export async function startBusAndNats(onCleanup: (fn: () => unknown) => void): Promise<BusAndNats> {
  const { dir, bus } = await startDirAndBus(onCleanup);
  const nats = await NatsServer.start(dir);
  onCleanup(() => nats.stop());
  const nc = await connect({ servers: nats.url });
  onCleanup(() => nc.close());
  return { dir, bus, nats, nc };
}
