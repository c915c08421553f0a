import { z } from 'zod';
import { ConfigError } from './errors.js';

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
    if (value !== undefined && value !== '') picked[key] = value;
  }
  const parsed = z.object(shape).safeParse(picked);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}

/** Variable names that hold secrets: their values never reach a log. */
const SECRET = /TOKEN|SECRET|PASSWORD|KEY$|PASS$/;

/** A copy of the configuration fit for logging: secrets replaced by "[redacted]". */
export function redactConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, SECRET.test(k) && v !== undefined ? '[redacted]' : v]),
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
  NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  NATS_USER: z.string().optional(),
  NATS_PASSWORD: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HTTP_HOST: z.string().default('127.0.0.1'),
};
