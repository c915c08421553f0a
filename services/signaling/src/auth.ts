import { createHash, randomBytes } from 'node:crypto';

export type Role = 'control' | 'view';

const TOKEN_RE = /^[A-Za-z0-9._~+/=-]{1,256}$/;

/** Parses "token:role,token:role"; roles "control" or "view". */
export function parseTokens(text: string): Map<string, Role> {
  const tokens = new Map<string, Role>();
  for (const part of text.split(',')) {
    const entry = part.trim();
    if (entry === '') continue;
    const colon = entry.lastIndexOf(':');
    const token = colon < 0 ? entry : entry.slice(0, colon);
    const role = colon < 0 ? 'control' : entry.slice(colon + 1);
    if (!TOKEN_RE.test(token)) {
      throw new Error('a token must be 1..256 characters of A-Z a-z 0-9 . _ ~ + / = -');
    }
    if (role !== 'control' && role !== 'view') {
      throw new Error(`token role must be "control" or "view", got ${JSON.stringify(role)}`);
    }
    if (tokens.has(token)) throw new Error('a token is listed twice');
    tokens.set(token, role);
  }
  if (tokens.size === 0) throw new Error('no tokens given');
  return tokens;
}

const digest = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Who may watch, and who may also control. Tokens are kept as SHA-256 digests: a lookup does not
 * compare the secret itself byte by byte, and a memory dump does not reveal it.
 */
export class TokenStore {
  private readonly roles = new Map<string, Role>();
  /** The token generated at start when none was configured (to print once). */
  readonly generated: string | undefined;

  constructor(tokens: Map<string, Role> | undefined) {
    if (tokens === undefined || tokens.size === 0) {
      this.generated = randomBytes(18).toString('base64url');
      this.roles.set(digest(this.generated), 'control');
    } else {
      for (const [token, role] of tokens) this.roles.set(digest(token), role);
    }
  }

  /** The role of a token, or undefined when it is missing or unknown. */
  roleOf(token: string | undefined): Role | undefined {
    if (token === undefined || token.length > 256 || token === '') return undefined;
    return this.roles.get(digest(token));
  }
}

/** The token of a request: "Authorization: Bearer …", else the `token` query parameter. */
export function requestToken(
  headers: { authorization?: string | undefined },
  query: unknown,
): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m?.[1];
  }
  if (typeof query === 'object' && query !== null && 'token' in query) {
    const t = query.token;
    if (typeof t === 'string') return t;
  }
  return undefined;
}
