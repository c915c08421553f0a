import { Events, connect, type NatsConnection, type Subscription } from 'nats';
import { BadInputLog } from './bad-input-log.js';
import type { Logger } from './logger.js';

export type { NatsConnection, Subscription } from 'nats';

export interface NatsOptions {
  url: string;
  user?: string | undefined;
  password?: string | undefined;
  /** Connection name shown by the server (the service and instance). */
  name: string;
}

/**
 * Connects to NATS and keeps reconnecting forever: a service started before NATS, or across a NATS
 * restart, carries on by itself. Status changes are logged.
 */
export async function connectNats(opts: NatsOptions, logger: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: opts.url.split(','),
    name: opts.name,
    ...(opts.user !== undefined ? { user: opts.user, pass: opts.password ?? '' } : {}),
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
  });
  logger.info({ server: nc.getServer() }, 'connected to NATS');
  void (async () => {
    for await (const status of nc.status()) {
      const level = status.type === Events.Error || status.type === Events.Disconnect ? 'warn' : 'debug';
      logger[level]({ status: status.type, data: status.data }, 'NATS status');
    }
  })();
  return nc;
}

/**
 * Drains (delivers what is in flight, then closes), giving up after `timeoutMs`: with NATS gone a
 * drain would wait for a reconnection forever, and shutdown must not hang. Closed already is fine.
 */
export async function drainNats(nc: NatsConnection | undefined, timeoutMs = 2000): Promise<void> {
  if (!nc || nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    await Promise.race([nc.drain(), timeout]);
    // nats.js resolves drain() without closing when it is disconnected: make sure it is closed.
    if (!nc.isClosed()) await nc.close();
  } catch {
    await nc.close();
  } finally {
    clearTimeout(timer);
  }
}

/** A protobufjs static message class, as generated in @qemu-webrtc/proto. */
export interface ProtoCodec<I, T extends I> {
  encode(message: I): { finish(): Uint8Array };
  decode(data: Uint8Array): T;
  readonly name?: string;
}

export function publishProto<I, T extends I>(
  nc: NatsConnection,
  subject: string,
  codec: ProtoCodec<I, T>,
  message: I,
): void {
  nc.publish(subject, codec.encode(message).finish());
}

/**
 * Subscribes and decodes each message with `codec`. Undecodable messages and handler errors are
 * counted by `onBadMessage` and logged rate-limited (`badInput`, or one of the subscription's
 * own), never thrown: one bad peer must not stop a subscription, nor flood the log.
 */
export function subscribeProto<I, T extends I>(
  nc: NatsConnection,
  subject: string,
  codec: ProtoCodec<I, T>,
  handler: (message: T, subject: string) => void | Promise<void>,
  opts: { logger: Logger; queue?: string; onBadMessage?: (error: unknown) => void; badInput?: BadInputLog },
): Subscription {
  const sub = nc.subscribe(subject, opts.queue !== undefined ? { queue: opts.queue } : {});
  const badInput = opts.badInput ?? new BadInputLog(opts.logger);
  void (async () => {
    for await (const msg of sub) {
      let decoded: T;
      try {
        decoded = codec.decode(msg.data);
      } catch (error) {
        opts.onBadMessage?.(error);
        badInput.warn('undecodable', { subject: msg.subject, err: error }, 'dropped undecodable message');
        continue;
      }
      try {
        await handler(decoded, msg.subject);
      } catch (error) {
        opts.onBadMessage?.(error);
        badInput.warn('handler_failed', { subject: msg.subject, err: error }, 'message handler failed');
      }
    }
    if (opts.badInput === undefined) badInput.close();
  })();
  return sub;
}
