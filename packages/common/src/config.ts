import { z } from 'zod';
import { ConfigError } from './errors.js';
import { REDACTED, addSecrets, redactSecrets, secret, secretPartsOf, urlPasswords } from './secrets.js';

export { z };

/**
 * Reads a service's configuration from environment variables, once, through a zod schema keyed by
 * variable name. Invalid or missing values throw one ConfigError naming every bad variable.
 */
export function readConfig<S extends z.ZodRawShape>(
  shape: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<z.ZodObject<S>> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    if (value === undefined || value === '') continue;
    picked[key] = value;
    // Known before parsing: even a message about a bad value cannot print the secret in it.
    const parts = secretPartsOf(shape[key], value);
    if (parts) addSecrets(parts);
  }
  const parsed = z.object(shape).safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/**
 * The configuration fit for logging: a field marked secret() is shown as its variable's text with
 * the secret parts replaced (e.g. ICE_SERVERS "turn:user:[redacted]@host:3478"), or "[redacted]".
 */
export function redactConfig(
  shape: z.ZodRawShape,
  config: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => {
      const text = env[k];
      const parts = text !== undefined && text !== '' ? secretPartsOf(shape[k], text) : undefined;
      // Not secret, or unset (a default is no secret).
      if (parts === undefined || text === undefined) return [k, v];
      let shown = text;
      for (const p of parts.filter((x) => x !== '').sort((a, b) => b.length - a.length)) {
        shown = shown.split(p).join(REDACTED);
      }
      return [k, redactSecrets(shown)];
    }),
  );
}

/** Boolean environment values: 1/0, true/false, yes/no, on/off. */
export const envBoolean = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off']))
  .transform((v) => v === '1' || v === 'true' || v === 'yes' || v === 'on');

/** Settings every service shares. */
export const commonConfigShape = {
  /** May carry credentials (nats://user:password@host): the password is secret. */
  NATS_URL: secret(z.string().default('nats://127.0.0.1:4222'), urlPasswords),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: secret(z.string().optional()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HTTP_HOST: z.string().default('127.0.0.1'),
};
