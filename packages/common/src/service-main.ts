import { readConfig, redactConfig, type z } from './config.js';
import { createLogger, type Logger } from './logger.js';

export interface Service {
  start(): Promise<void>;
  /** Stops everything; safe to call twice. */
  destroy(): Promise<void>;
}

/**
 * The whole of a service's main.ts: read env -> config (printed, secrets redacted) -> create ->
 * start; destroy() on SIGTERM/SIGINT. Exits non-zero with a clear message on bad configuration.
 */
export async function runService<S extends z.ZodRawShape>(
  name: string,
  shape: S,
  create: (config: z.infer<z.ZodObject<S>>, logger: Logger) => Promise<Service>,
): Promise<void> {
  const logger = createLogger(name);
  let service: Service | undefined;
  try {
    const config = readConfig(shape);
    logger.info({ config: redactConfig(shape, config) }, 'configuration');
    service = await create(config, logger);
    await service.start();
  } catch (error) {
    logger.fatal({ err: error }, `${name} failed to start`);
    await service?.destroy().catch(() => undefined);
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    service
      .destroy()
      .then(() => logger.info('stopped'))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exitCode = 1;
      });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
