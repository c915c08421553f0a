import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACTED, REDACT_PATHS, redactSecrets } from './secrets.js';

export type { Logger } from 'pino';

/**
 * The root logger of a service; components take `logger.child({ component })`. Secrets never
 * reach its output: pino censors the usual paths (password, token, authorization...), and every
 * line is searched for the secret values known to the process (config fields marked secret(),
 * generated tokens) wherever they are embedded.
 */
export function createLogger(
  service: string,
  level = process.env.LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      name: service,
      level,
      base: { service },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: { streamWrite: redactSecrets },
    },
    destination,
  );
}
