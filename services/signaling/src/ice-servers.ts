import type { BrowserIceServer } from '@qemu-webrtc/common';
import type { IceServer as NdcIceServer } from 'node-datachannel';

/** One STUN or TURN server, as configured. */
export interface IceServerSpec {
  scheme: 'stun' | 'stuns' | 'turn' | 'turns';
  host: string;
  port: number;
  username?: string;
  credential?: string;
  transport?: 'udp' | 'tcp';
}

const URL_RE =
  /^(stuns?|turns?):(?:([^:@\s]+):([^@\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(?:\?transport=(udp|tcp))?$/;

/**
 * The secret parts of ICE_SERVERS: each TURN password, as written and URL-decoded (also from an
 * entry too malformed to parse, so that its error message cannot show it).
 */
export function iceCredentials(text: string): string[] {
  return text.split(',').flatMap((entry) => {
    const m = /^\s*[a-z]+:([^@\s]*)@/i.exec(entry);
    const userinfo = m?.[1];
    const colon = userinfo?.indexOf(':') ?? -1;
    if (userinfo === undefined || colon < 0) return [];
    const password = userinfo.slice(colon + 1);
    try {
      return [password, decodeURIComponent(password)];
    } catch {
      return [password];
    }
  });
}

/** Parses "stun:host:port,turn:user:pass@host:port?transport=tcp" (empty: none). */
export function parseIceServers(text: string): IceServerSpec[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => {
      const m = URL_RE.exec(s);
      if (!m) throw new Error(`bad ICE server ${JSON.stringify(s.replace(/:[^:@]*@/, ':***@'))}`);
      const scheme = m[1] as IceServerSpec['scheme'];
      const secure = scheme === 'stuns' || scheme === 'turns';
      const port = m[5] !== undefined ? Number(m[5]) : secure ? 5349 : 3478;
      if (port < 1 || port > 65535) throw new Error(`bad port in ICE server ${m[4] ?? ''}`);
      const turn = scheme === 'turn' || scheme === 'turns';
      if (turn && (m[2] === undefined || m[3] === undefined)) {
        throw new Error(`TURN server ${m[4] ?? ''} needs user:password@`);
      }
      return {
        scheme,
        host: m[4] ?? '',
        port,
        ...(m[2] !== undefined ? { username: decodeURIComponent(m[2]) } : {}),
        ...(m[3] !== undefined ? { credential: decodeURIComponent(m[3]) } : {}),
        ...(m[6] !== undefined ? { transport: m[6] as 'udp' | 'tcp' } : {}),
      };
    });
}

/** For node-datachannel's RtcConfig.iceServers. */
export function toNdcIceServer(s: IceServerSpec): NdcIceServer | string {
  if (s.scheme === 'stun' || s.scheme === 'stuns') return `${s.scheme}:${s.host}:${s.port}`;
  return {
    hostname: s.host.replace(/^\[|\]$/g, ''),
    port: s.port,
    username: s.username ?? '',
    password: s.credential ?? '',
    relayType: s.scheme === 'turns' ? 'TurnTls' : s.transport === 'tcp' ? 'TurnTcp' : 'TurnUdp',
  };
}

/** For the browser (sent with the session's first message). */
export function toBrowserIceServer(s: IceServerSpec): BrowserIceServer {
  const url = `${s.scheme}:${s.host}:${s.port}${s.transport !== undefined ? `?transport=${s.transport}` : ''}`;
  return {
    urls: url,
    ...(s.username !== undefined ? { username: s.username } : {}),
    ...(s.credential !== undefined ? { credential: s.credential } : {}),
  };
}
