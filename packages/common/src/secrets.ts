import { z } from 'zod';

/** What a secret is replaced by wherever it would be printed. */
export const REDACTED = '[redacted]';

/**
 * Secrets shorter than this are not searched for in free text: they would blank out common words
 * in every line (and are too short to protect anything). Config fields still never print them.
 */
export const MIN_SECRET_LENGTH = 4;

/** The secret parts of a secret variable's text (by default the whole text). */
export type SecretParts = (text: string) => string[];

const secretFields = z.registry<{ parts: SecretParts }>();

/**
 * Marks a config field secret: readConfig remembers its secret parts, and every logger of the
 * process replaces them by "[redacted]" wherever they appear in a line. Wrap the field's whole
 * schema (after .optional()/.default()): the shape's own value is what is looked up.
 */
export function secret<T extends z.ZodType>(schema: T, parts: SecretParts = (text) => [text]): T {
  secretFields.add(schema, { parts });
  return schema;
}

/** The secret parts of `text` when `schema` is marked secret; undefined when it is not. */
export function secretPartsOf(schema: unknown, text: string): string[] | undefined {
  const meta = secretFields.get(schema as z.ZodType);
  if (!meta) return undefined;
  try {
    return meta.parts(text);
  } catch {
    return [text];
  }
}

/** Secret parts of URLs (comma-separated): the password of scheme://user:password@host. */
export const urlPasswords: SecretParts = (text) =>
  text.split(',').flatMap((url) => {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(url.trim());
    const userinfo = m?.[1];
    if (userinfo === undefined) return [];
    const colon = userinfo.indexOf(':');
    return colon < 0 ? [] : [userinfo.slice(colon + 1)];
  });

const known = new Set<string>();
let pattern: RegExp | undefined;

/** The ways a secret can appear in printed text: as it is, JSON-escaped, URL-encoded or decoded. */
function spellings(value: string): string[] {
  const out = [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)];
  try {
    out.push(decodeURIComponent(value));
  } catch {
    // not URL-encoded
  }
  return out;
}

/** Adds secrets this process must never print (config values, generated tokens). */
export function addSecrets(values: Iterable<string>): void {
  let added = false;
  for (const value of values) {
    for (const s of spellings(value)) {
      if (s.length < MIN_SECRET_LENGTH || known.has(s)) continue;
      known.add(s);
      added = true;
    }
  }
  if (!added) return;
  // Longest first, so a secret that contains another is replaced whole.
  const alternatives = [...known]
    .sort((a, b) => b.length - a.length)
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  pattern = new RegExp(alternatives.join('|'), 'g');
}

/** `text` with every known secret replaced by "[redacted]". */
export function redactSecrets(text: string): string {
  return pattern === undefined ? text : text.replace(pattern, REDACTED);
}

/**
 * Object paths pino censors in every log record (what is printed there is never meant to be
 * read), besides the values replaced anywhere by redactSecrets.
 */
export const REDACT_PATHS = [
  'password',
  'pass',
  'token',
  'tokens',
  'credential',
  'authorization',
  '*.password',
  '*.pass',
  '*.token',
  '*.tokens',
  '*.credential',
  '*.authorization',
  '*.headers.authorization',
  '*.*.headers.authorization',
];
