// Every NATS subject the project uses, defined here and nowhere else.

/** VM ids, renditions and encoder ids become subject tokens: letters, digits, '_' and '-' only. */
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

export function isSubjectToken(value: string): boolean {
  return TOKEN.test(value);
}

/** Turns any name (e.g. QEMU's VM Name) into a valid subject token. */
export function toSubjectToken(value: string): string {
  const cleaned = value
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64);
  return cleaned === '' ? 'vm' : cleaned;
}

const NIL_UUID = /^[0-]*$/;

/**
 * A VM's id when none is configured (capture, the start command): its Name (QEMU's -name), else its
 * UUID (-uuid) unless that is the nil UUID QEMU reports without one, else "vm"; made a subject token.
 */
export function defaultVmId(vm: { name: string; uuid: string }): string {
  return toSubjectToken(vm.name || (NIL_UUID.test(vm.uuid) ? '' : vm.uuid));
}

function token(value: string, what: string): string {
  if (!TOKEN.test(value))
    throw new TypeError(`${what} must match ${TOKEN.source}, got ${JSON.stringify(value)}`);
  return value;
}

/** Console ids are QEMU's console indexes: small integers. */
export function isConsoleId(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= 0xffff;
}

function consoleIndex(value: number): string {
  if (!isConsoleId(value)) {
    throw new TypeError(`console id must be an integer 0..65535, got ${value}`);
  }
  return String(value);
}

/** "vm.console.rendition": a stream's id in logs, maps and hashes. */
export function streamKeyId(s: StreamKey): string {
  return `${s.vmId}.${s.consoleId}.${s.rendition}`;
}

export interface StreamKey {
  vmId: string;
  consoleId: number;
  rendition: string;
}

const streamPrefix = (s: StreamKey): string =>
  `qw.stream.${token(s.vmId, 'vm id')}.${consoleIndex(s.consoleId)}.${token(s.rendition, 'rendition')}`;

const consolePrefix = (vmId: string, consoleId: number): string =>
  `qw.vm.${token(vmId, 'vm id')}.console.${consoleIndex(consoleId)}`;

export const subjects = {
  /** ConsoleInfo, published by capture on start, on change, and periodically. */
  consoleInfo: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.info`,
  consoleInfoAll: 'qw.vm.*.console.*.info',
  /** FrameReady for a console's newest frame in the ring. */
  frameReady: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.frame`,
  frameReadyAll: 'qw.vm.*.console.*.frame',
  cursorShape: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.cursor.shape`,
  cursorPosition: (vmId: string, consoleId: number): string =>
    `${consolePrefix(vmId, consoleId)}.cursor.position`,
  cursorAll: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.cursor.*`,
  /** Every cursor message of every console (permissions). */
  cursorAllConsoles: 'qw.vm.*.console.*.cursor.*',
  /** Request (empty body) -> capture republishes the ConsoleInfo of its consoles. */
  consoleRefresh: 'qw.vm.refresh',
  /** InputEvents for one VM. */
  input: (vmId: string): string => `qw.vm.${token(vmId, 'vm id')}.input`,
  inputAll: 'qw.vm.*.input',
  /** EncodedFrame access units of a stream. */
  encoded: (s: StreamKey): string => `${streamPrefix(s)}.au`,
  encodedAll: 'qw.stream.*.*.*.au',
  keyframeRequest: (s: StreamKey): string => `${streamPrefix(s)}.keyframe`,
  keyframeRequestAll: 'qw.stream.*.*.*.keyframe',
  encoderControl: (s: StreamKey): string => `${streamPrefix(s)}.control`,
  encoderControlAll: 'qw.stream.*.*.*.control',
  /** StreamClaim announcements by encoders. */
  streamClaims: 'qw.encoders.claims',
  encoderHeartbeat: 'qw.encoders.heartbeat',
} as const;

/**
 * The VM and console a console subject (qw.vm.<vm>.console.<n>.…) names, or undefined when it is
 * not one. Receivers check a message's body against its subject: a body naming another VM than
 * the subject it came on is forged or broken.
 */
export function consoleOfSubject(subject: string): { vmId: string; consoleId: number } | undefined {
  const parts = subject.split('.');
  if (parts[0] !== 'qw' || parts[1] !== 'vm' || parts[3] !== 'console') return undefined;
  const vmId = parts[2] ?? '';
  const consoleId = Number(parts[4]);
  if (!isSubjectToken(vmId) || !/^\d{1,5}$/.test(parts[4] ?? '') || !isConsoleId(consoleId)) return undefined;
  return { vmId, consoleId };
}

/** True when a message body's vm id and console id are the ones its subject names. */
export function bodyMatchesConsoleSubject(
  subject: string,
  body: { vmId?: string | null; consoleId?: number | null },
): boolean {
  const c = consoleOfSubject(subject);
  return c !== undefined && c.vmId === (body.vmId ?? '') && c.consoleId === (body.consoleId ?? 0);
}

/** A stream key from a message, when every part is valid (vm id and rendition as subject tokens). */
export function validStreamKey(s: {
  vmId?: string | null;
  consoleId?: number | null;
  rendition?: string | null;
}): StreamKey | undefined {
  const vmId = s.vmId ?? '';
  const consoleId = s.consoleId ?? 0;
  const rendition = s.rendition ?? '';
  if (!isSubjectToken(vmId) || !isConsoleId(consoleId) || !isSubjectToken(rendition)) return undefined;
  return { vmId, consoleId, rendition };
}
