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

const serialPrefix = (vmId: string, chardev: string): string =>
  `qw.vm.${token(vmId, 'vm id')}.serial.${token(chardev, 'chardev id')}`;

/** The services that connect to NATS, each as its own NATS user. */
export const NATS_SERVICES = ['capture', 'encoder', 'signaling', 'input'] as const;
export type NatsService = (typeof NATS_SERVICES)[number];

/** The services that use a subject one way, each with when or why (a phrase for docs/design.md). */
export type SubjectUsers = Readonly<Partial<Record<NatsService, string>>>;

export interface SubjectRow {
  /** The subject, `<name>` standing for each variable token. */
  subject: string;
  /** What a message on it carries: a protobuf message of packages/proto, or what else. */
  message: string;
  /**
   * The NATS permission that lets its users at it: the subject with `*` for each variable token,
   * or wider where a subscriber subscribes with a wildcard (signaling's `…cursor.*`).
   */
  permission: string;
  publishers: SubjectUsers;
  subscribers: SubjectUsers;
}

/**
 * Every subject, who publishes it and who subscribes to it. The one description of the bus:
 * NATS_PERMISSIONS (nats-permissions.ts) is derived from it, and scripts/generate-from-subjects.mjs
 * writes deploy/nats.conf and docs/design.md's subject table from it. A service that starts using a
 * subject is added here, or NATS refuses it.
 */
export const SUBJECT_TABLE = {
  consoleInfo: {
    subject: 'qw.vm.<vm>.console.<c>.info',
    message: 'ConsoleInfo',
    permission: 'qw.vm.*.console.*.info',
    publishers: {
      capture:
        'per console on start, on change (PropertiesChanged, display enabled or disabled), every 5 s, and on `qw.vm.refresh`',
    },
    subscribers: {
      encoder:
        'a graphic, enabled console has streams; a body naming another VM or console than its subject is dropped',
      signaling:
        'the console list (a console silent for `CONSOLE_STALE_MS` is "not running"); a body naming another VM or console than its subject is dropped',
    },
  },
  frameReady: {
    subject: 'qw.vm.<vm>.console.<c>.frame',
    message: 'FrameReady',
    permission: 'qw.vm.*.console.*.frame',
    publishers: { capture: 'per published frame' },
    subscribers: { encoder: 'body checked against the subject; only the holder of a stream reads the ring' },
  },
  cursorShape: {
    subject: 'qw.vm.<vm>.console.<c>.cursor.shape',
    message: 'CursorShape',
    permission: 'qw.vm.*.console.*.cursor.*',
    publishers: { capture: "on QEMU's CursorDefine" },
    subscribers: {
      signaling:
        '`...cursor.*`, one subscription per console someone watches; the last shape and position are kept for new viewers',
    },
  },
  cursorPosition: {
    subject: 'qw.vm.<vm>.console.<c>.cursor.position',
    message: 'CursorPosition',
    permission: 'qw.vm.*.console.*.cursor.*',
    publishers: { capture: "on QEMU's MouseSet" },
    subscribers: { signaling: 'the same subscription' },
  },
  consoleRefresh: {
    subject: 'qw.vm.refresh',
    message: 'empty body: a request for ConsoleInfo and the newest FrameReady',
    permission: 'qw.vm.refresh',
    publishers: {
      encoder: 'once at start; when it starts a demanded stream with no frame to begin from',
      signaling: 'once at start',
    },
    subscribers: {
      capture:
        "republishes every console's `ConsoleInfo` (not the cursor) and its newest `FrameReady` (unchanged frame, same slot), at most every 250 ms",
    },
  },
  input: {
    subject: 'qw.vm.<vm>.input',
    message: 'InputEvent',
    permission: 'qw.vm.*.input',
    publishers: {
      signaling:
        "for viewers with the control role, and a `release_all` when such a viewer leaves; pointer motion coalesced, at most one motion message per viewer every 5 ms; `ui_info` (the player area) only from the control viewer that sets the console's size",
    },
    subscribers: { input: 'the VM id in the subject must equal `vm_id`' },
  },
  uiInfoResult: {
    subject: 'qw.vm.<vm>.console.<c>.ui-info',
    message: 'UiInfoResult',
    permission: 'qw.vm.*.console.*.ui-info',
    publishers: {
      input:
        'once per `ui_info` it applied: applied, unsupported (QEMU refused), ignored (the size did not follow within 3 s), failed',
    },
    subscribers: {
      signaling:
        'tells the viewer named in the body (a body naming another VM or console than its subject is dropped)',
    },
  },
  serialOut: {
    subject: 'qw.vm.<vm>.serial.<chardev>.out',
    message: 'SerialData',
    permission: 'qw.vm.*.serial.*.out',
    publishers: {
      input:
        'what the guest wrote on a D-Bus serial chardev, as it arrives (offsets count every byte); a replay of the scrollback (256 KiB) answering `serial.replay`',
    },
    subscribers: {
      signaling:
        'relays to the pages that opened that serial console, each from the offset it needs: nothing lost or doubled',
    },
  },
  serialIn: {
    subject: 'qw.vm.<vm>.serial.<chardev>.in',
    message: 'SerialInput',
    permission: 'qw.vm.*.serial.*.in',
    publishers: { signaling: 'bytes typed by control viewers (at most 4 KiB a message)' },
    subscribers: {
      input:
        'written to the chardev; bounded queue per chardev (64 KiB), beyond it refused and said in `serial.state`',
    },
  },
  serialReplay: {
    subject: 'qw.vm.<vm>.serial.<chardev>.replay',
    message: 'SerialReplay',
    permission: 'qw.vm.*.serial.*.replay',
    publishers: { signaling: 'a page opened the serial console, or live bytes were lost on the way' },
    subscribers: { input: 'answers on `serial.<chardev>.out` with the scrollback from the asked offset' },
  },
  serialState: {
    subject: 'qw.vm.<vm>.serial.state',
    message: 'SerialState',
    permission: 'qw.vm.*.serial.state',
    publishers: { input: 'on every change of a chardev (found, connected, lost) and every 5 s' },
    subscribers: {
      signaling: 'what the pages show about the serial console (connected, QEMU gone, input refused)',
    },
  },
  encoded: {
    subject: 'qw.stream.<vm>.<c>.<rendition>.au',
    message: 'EncodedFrame',
    permission: 'qw.stream.*.*.*.au',
    publishers: {
      encoder: 'the one holding the stream; during a hand-over, the old and the new holder for a moment',
    },
    subscribers: {
      signaling:
        'one subscription per stream with viewers; a unit counts only from an admitted encoder that holds the stream, with a plausible epoch (below)',
    },
  },
  keyframeRequest: {
    subject: 'qw.stream.<vm>.<c>.<rendition>.keyframe',
    message: 'KeyframeRequest',
    permission: 'qw.stream.*.*.*.keyframe',
    publishers: {
      signaling:
        'viewer joined, PLI/FIR, waiting too long for an IDR; at most one per `KEYFRAME_MIN_INTERVAL_MS` per stream',
    },
    subscribers: { encoder: 'the holder acts, itself rate-limited' },
  },
  encoderControl: {
    subject: 'qw.stream.<vm>.<c>.<rendition>.control',
    message: 'EncoderControl',
    permission: 'qw.stream.*.*.*.control',
    publishers: {
      signaling:
        'its link adapter lowers the bitrate when every viewer struggles, raises it by steps after; repeated every 5 s while lowered',
    },
    subscribers: { encoder: 'the holder clamps it and lets it expire (below)' },
  },
  streamDemand: {
    subject: 'qw.stream.<vm>.<c>.<rendition>.demand',
    message: 'StreamDemand',
    permission: 'qw.stream.*.*.*.demand',
    publishers: {
      signaling:
        'while a stream has viewers: on the first viewer, every `DEMAND_RENEW_MS` (2 s) after, `released` when the last leaves',
    },
    subscribers: {
      encoder:
        'every encoder keeps every lease; the holder encodes a stream only while a lease is live, then `DEMAND_LINGER_MS` more',
    },
  },
  encoderHeartbeat: {
    subject: 'qw.encoders.heartbeat',
    message: 'EncoderHeartbeat',
    permission: 'qw.encoders.heartbeat',
    publishers: {
      encoder:
        'every encoder, every `HEARTBEAT_MS` (250 ms), with the streams it holds and its renditions; `leaving: true` on clean shutdown',
    },
    subscribers: {
      encoder: 'membership for rendezvous hashing; which streams each member holds, for make-before-break',
      signaling: 'its roster (which encoders are alive and what they hold) and the rendition ladder',
    },
  },
  streamClaims: {
    subject: 'qw.encoders.claims',
    message: 'StreamClaim',
    permission: 'qw.encoders.claims',
    publishers: { encoder: 'taking (new epoch) or releasing a stream' },
    subscribers: {
      signaling:
        'its roster learns a take or a release at once, not a heartbeat later; encoders read holdings from heartbeats instead',
    },
  },
  audioPcm: {
    subject: 'qw.vm.<vm>.audio.pcm',
    message: 'AudioChunk',
    permission: 'qw.vm.*.audio.pcm',
    publishers: {
      capture: "each `Write` of QEMU's AudioOutListener, unchanged, with the format of its `Init`",
    },
    subscribers: {
      encoder: '`qw.vm.*.audio.pcm`; only the encoder that rendezvous hashing gives `audio:<vm>` encodes it',
    },
  },
  audioOpus: {
    subject: 'qw.audio.<vm>.opus',
    message: 'OpusPacket',
    permission: 'qw.audio.*.opus',
    publishers: {
      encoder: "the one encoding the VM's audio: one 20 ms packet per 20 ms of sound, none in silence (DTX)",
    },
    subscribers: {
      signaling:
        'one subscription per VM with viewers; follows one encoder at a time, another after 500 ms of silence from it',
    },
  },
} as const satisfies Readonly<Record<string, SubjectRow>>;

export type SubjectName = keyof typeof SUBJECT_TABLE;

export const subjects = {
  /** ConsoleInfo, published by capture on start, on change, and periodically. */
  consoleInfo: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.info`,
  consoleInfoAll: SUBJECT_TABLE.consoleInfo.permission,
  /** FrameReady for a console's newest frame in the ring. */
  frameReady: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.frame`,
  frameReadyAll: SUBJECT_TABLE.frameReady.permission,
  cursorShape: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.cursor.shape`,
  cursorPosition: (vmId: string, consoleId: number): string =>
    `${consolePrefix(vmId, consoleId)}.cursor.position`,
  cursorAll: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.cursor.*`,
  /** Every cursor message of every console (permissions). */
  cursorAllConsoles: SUBJECT_TABLE.cursorShape.permission,
  /** Request (empty body) -> capture republishes the ConsoleInfo of its consoles. */
  consoleRefresh: SUBJECT_TABLE.consoleRefresh.subject,
  /** InputEvents for one VM. */
  input: (vmId: string): string => `qw.vm.${token(vmId, 'vm id')}.input`,
  inputAll: SUBJECT_TABLE.input.permission,
  /** UiInfoResult: what became of a viewer's SetUIInfo hint. */
  uiInfoResult: (vmId: string, consoleId: number): string => `${consolePrefix(vmId, consoleId)}.ui-info`,
  uiInfoResultAll: SUBJECT_TABLE.uiInfoResult.permission,
  /** Serial consoles (D-Bus chardevs): output and replays, typed input, replay requests, state. */
  serialOut: (vmId: string, chardev: string): string => `${serialPrefix(vmId, chardev)}.out`,
  serialOutAll: SUBJECT_TABLE.serialOut.permission,
  serialIn: (vmId: string, chardev: string): string => `${serialPrefix(vmId, chardev)}.in`,
  serialInAll: SUBJECT_TABLE.serialIn.permission,
  serialReplay: (vmId: string, chardev: string): string => `${serialPrefix(vmId, chardev)}.replay`,
  serialReplayAll: SUBJECT_TABLE.serialReplay.permission,
  serialState: (vmId: string): string => `qw.vm.${token(vmId, 'vm id')}.serial.state`,
  serialStateAll: SUBJECT_TABLE.serialState.permission,
  /** EncodedFrame access units of a stream. */
  encoded: (s: StreamKey): string => `${streamPrefix(s)}.au`,
  encodedAll: SUBJECT_TABLE.encoded.permission,
  keyframeRequest: (s: StreamKey): string => `${streamPrefix(s)}.keyframe`,
  keyframeRequestAll: SUBJECT_TABLE.keyframeRequest.permission,
  encoderControl: (s: StreamKey): string => `${streamPrefix(s)}.control`,
  encoderControlAll: SUBJECT_TABLE.encoderControl.permission,
  /** StreamDemand leases: someone wants the stream encoded. */
  streamDemand: (s: StreamKey): string => `${streamPrefix(s)}.demand`,
  streamDemandAll: SUBJECT_TABLE.streamDemand.permission,
  /** StreamClaim announcements by encoders. */
  streamClaims: SUBJECT_TABLE.streamClaims.subject,
  encoderHeartbeat: SUBJECT_TABLE.encoderHeartbeat.subject,
  /** AudioChunk: a VM's PCM as QEMU wrote it. */
  audioPcm: (vmId: string): string => `qw.vm.${token(vmId, 'vm id')}.audio.pcm`,
  audioPcmAll: SUBJECT_TABLE.audioPcm.permission,
  /** OpusPacket: a VM's audio, encoded. */
  audioOpus: (vmId: string): string => `qw.audio.${token(vmId, 'vm id')}.opus`,
} as const;

/** The VM an audio subject (qw.vm.<vm>.audio.pcm or qw.audio.<vm>.opus) names, or undefined. */
export function vmOfAudioSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  let vmId: string | undefined;
  if (
    parts.length === 5 &&
    parts[0] === 'qw' &&
    parts[1] === 'vm' &&
    parts[3] === 'audio' &&
    parts[4] === 'pcm'
  )
    vmId = parts[2];
  else if (parts.length === 4 && parts[0] === 'qw' && parts[1] === 'audio' && parts[3] === 'opus')
    vmId = parts[2];
  return vmId !== undefined && isSubjectToken(vmId) ? vmId : undefined;
}

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

/** The VM an input subject (qw.vm.<vm>.input) names, or undefined when it is not one. */
export function vmOfInputSubject(subject: string): string | undefined {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'qw' || parts[1] !== 'vm' || parts[3] !== 'input') return undefined;
  const vmId = parts[2] ?? '';
  return isSubjectToken(vmId) ? vmId : undefined;
}

/**
 * The console and the kind of message (CursorShape or CursorPosition) a cursor subject
 * (qw.vm.<vm>.console.<c>.cursor.shape|position) names, or undefined when it is not one.
 */
export function cursorOfSubject(
  subject: string,
): { vmId: string; consoleId: number; kind: 'shape' | 'position' } | undefined {
  const c = consoleOfSubject(subject);
  const parts = subject.split('.');
  if (c === undefined || parts.length !== 7 || parts[5] !== 'cursor') return undefined;
  const kind = parts[6];
  return kind === 'shape' || kind === 'position' ? { ...c, kind } : undefined;
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

/**
 * The VM and chardev a serial subject (qw.vm.<vm>.serial.<chardev>.out|in|replay) names, or
 * undefined when it is not one.
 */
export function serialOfSubject(
  subject: string,
): { vmId: string; chardev: string; kind: 'out' | 'in' | 'replay' } | undefined {
  const parts = subject.split('.');
  if (parts.length !== 6 || parts[0] !== 'qw' || parts[1] !== 'vm' || parts[3] !== 'serial') return undefined;
  const [vmId = '', chardev = '', kind = ''] = [parts[2], parts[4], parts[5]];
  if (!isSubjectToken(vmId) || !isSubjectToken(chardev)) return undefined;
  if (kind !== 'out' && kind !== 'in' && kind !== 'replay') return undefined;
  return { vmId, chardev, kind };
}
