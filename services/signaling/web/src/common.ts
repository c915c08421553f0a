import type { ConsoleList, ErrorCode } from './protocol/browser-protocol.js';

/**
 * The token of this page: #token=… in its URL. The fragment never leaves the browser (no request
 * line, no Referer), so no server or proxy log sees it.
 */
export function pageToken(): string {
  return new URLSearchParams(location.hash.slice(1)).get('token') ?? '';
}

/** The fragment that hands this page's token on to another page of ours. */
export function tokenFragment(token: string): string {
  return token === '' ? '' : `#${new URLSearchParams({ token }).toString()}`;
}

export function element<T extends HTMLElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`#${id} missing`);
  return el;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function fetchConsoles(token: string): Promise<ConsoleList> {
  const res = await fetch('/api/consoles', {
    headers: token !== '' ? { authorization: `Bearer ${token}` } : {},
    cache: 'no-store',
  });
  if (!res.ok) throw new HttpError(res.status, `HTTP ${res.status}`);
  return (await res.json()) as ConsoleList;
}

/** A problem the page reports: an error code from the server, or the page's own. */
export type Problem = ErrorCode | 'server_unreachable';

/** What the user reads for each problem, with what to check (others show the server's message). */
export const MESSAGES: Partial<Record<Problem, string>> = {
  unauthorized:
    'Not authorised.\nThe link has no token (it ends in #token=…), or a wrong or revoked one: ask whoever runs the server for a new link.',
  unknown_console:
    'No such console.\nCheck the VM name and console number in the link, or pick one from the list of consoles.',
  vm_not_running:
    'VM not running.\nStart the VM (QEMU with -display dbus) and its capture service. Retrying…',
  connection_failed:
    'Connection failed.\nThe video connection (WebRTC, UDP) could not be set up: check firewalls between browser and server, the server’s ICE_PORT_RANGE, and ICE_SERVERS (STUN/TURN) when behind NAT. Retrying…',
  server_unreachable: 'Cannot reach the server.\nCheck that it runs and that the address is right. Retrying…',
  too_many_viewers: 'The server has too many viewers right now. Retrying…',
  view_only: 'View only: this link does not allow control.',
};
