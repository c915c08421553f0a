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

function consoleIndex(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
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
  /** Request (empty body) -> capture republishes ConsoleInfo and the cursor of its consoles. */
  consoleRefresh: 'qw.vm.refresh',
  /** InputEvents for one VM. */
  input: (vmId: string): string => `qw.vm.${token(vmId, 'vm id')}.input`,
  inputAll: 'qw.vm.*.input',
  /** EncodedFrame access units of a stream. */
  encoded: (s: StreamKey): string => `${streamPrefix(s)}.au`,
  keyframeRequest: (s: StreamKey): string => `${streamPrefix(s)}.keyframe`,
  keyframeRequestAll: 'qw.stream.*.*.*.keyframe',
  encoderControl: (s: StreamKey): string => `${streamPrefix(s)}.control`,
  encoderControlAll: 'qw.stream.*.*.*.control',
  /** StreamClaim announcements by encoders. */
  streamClaims: 'qw.encoders.claims',
  encoderHeartbeat: 'qw.encoders.heartbeat',
} as const;
