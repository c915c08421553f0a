import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** The root logger of a service; components take `logger.child({ component })`. */
export function createLogger(service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: service, level, base: { service } });
}
