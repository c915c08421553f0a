import { connect, type NatsConnection } from 'nats';
import type { StartedSystem } from './started-system.js';

/**
 * A NATS client on a started system's bus, as a test (or someone holding a leaked credential)
 * connects: the one place tests learn the bus's address and credential (the test user the start
 * command adds for StartedSystem: see natsOptions).
 */
export function connectSystemBus(system: StartedSystem, name = 'test'): Promise<NatsConnection> {
  return connect({ ...system.natsOptions(), name });
}
