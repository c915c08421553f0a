import { createHash, randomBytes } from 'node:crypto';
import { MAX_TOKEN_CHARS, addSecrets, type Role } from '@qemu-webrtc/common';

const TOKEN_RE = new RegExp(`^[A-Za-z0-9._~+/=-]{1,${MAX_TOKEN_CHARS}}$`);

/** The entries of "token:role,token:role" (role "control" when left out), unchecked. */
function tokenEntries(text: string): { token: string; role: string }[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const colon = entry.lastIndexOf(':');
      return colon < 0
        ? { token: entry, role: 'control' }
        : { token: entry.slice(0, colon), role: entry.slice(colon + 1) };
    });
}

/** The secret parts of SIGNALING_TOKENS: the tokens, not their roles. */
export function tokensIn(text: string): string[] {
  return tokenEntries(text).map((e) => e.token);
}

/** Parses "token:role,token:role"; roles "control" or "view". */
export function parseTokens(text: string): Map<string, Role> {
  const tokens = new Map<string, Role>();
  for (const { token, role } of tokenEntries(text)) {
    if (!TOKEN_RE.test(token)) {
      throw new Error(`a token must be 1..${MAX_TOKEN_CHARS} characters of A-Z a-z 0-9 . _ ~ + / = -`);
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
  /** The token generated at start when none was configured (shown once, never logged). */
  readonly generated: string | undefined;

  constructor(tokens: Map<string, Role> | undefined) {
    if (tokens === undefined || tokens.size === 0) {
      this.generated = randomBytes(18).toString('base64url');
      addSecrets([this.generated]);
      this.roles.set(digest(this.generated), 'control');
    } else {
      for (const [token, role] of tokens) this.roles.set(digest(token), role);
    }
  }

  /** The role of a token, or undefined when it is missing or unknown. */
  roleOf(token: string | undefined): Role | undefined {
    return this.identify(token)?.role;
  }

  /**
   * Who a token is: its role and an id that stands for the token itself (its digest), to check
   * later that a request comes with the same token as an earlier one.
   */
  identify(token: string | undefined): { role: Role; id: string } | undefined {
    if (token === undefined || token.length > 256 || token === '') return undefined;
    const id = digest(token);
    const role = this.roles.get(id);
    return role === undefined ? undefined : { role, id };
  }
}

/**
 * The token of an HTTP request: "Authorization: Bearer …" only. Never from the URL: query strings
 * end up in proxy logs and browser history (the page keeps its token in the URL's fragment).
 */
export function requestToken(headers: { authorization?: string | undefined }): string | undefined {
  const auth = headers.authorization;
  if (auth === undefined) return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
}
