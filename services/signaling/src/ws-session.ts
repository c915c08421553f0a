import type { WebSocket } from '@fastify/websocket';
import {
  MAX_WS_MESSAGE_BYTES,
  WS_CLOSE_UNAUTHORIZED,
  nowUs,
  type BrowserIceServer,
  type ClientMessage,
  type ErrorCode,
  type Logger,
  type Role,
  type ServerMessage,
} from '@qemu-webrtc/common';
import type { ConsoleDirectory } from './console-directory.js';
import type { SignalingMetrics } from './metrics.js';
import { TokenBucket } from './rate-limit.js';
import { openSerial, typeSerial, type SerialHub, type SerialSink } from './serial-hub.js';
import type { Viewer } from './viewer.js';
import { CapacityError, type ViewerManager } from './viewer-manager.js';
import { clientMessageSchema } from './ws-protocol.js';

export interface WsSessionDeps {
  /** The role of a token, undefined when it is not a valid one. */
  authenticate: (token: string) => Role | undefined;
  viewers: ViewerManager;
  consoles: ConsoleDirectory;
  metrics: SignalingMetrics;
  logger: Logger;
  iceServers: BrowserIceServer[];
  defaultRendition: string;
  /** Called once, when the socket has authenticated or closed (whichever comes first). */
  settled?: () => void;
  /** Serial consoles (the `serial_open` message and binary messages); absent: refused. */
  serial?: SerialHub;
}

/** After this many refused messages in a row the socket is closed (policy violation). */
const MAX_STRIKES = 50;
/** A socket that has not sent its token by then is closed. */
export const WS_AUTH_TIMEOUT_MS = 10_000;

/**
 * One browser's signaling socket. Its first message is {type:"auth", token} (a token in the URL
 * would end up in proxy logs); then we say hello, it asks to watch a console, we offer (H.264
 * video + DataChannels), it answers, candidates go both ways. Every bad message gets an error back
 * on this socket only.
 */
export class WsSession {
  private role: Role | undefined;
  private authTimer: NodeJS.Timeout | undefined;
  private viewer: Viewer | undefined;
  private readonly bucket = new TokenBucket(40, 200);
  private strikes = 0;
  private closed = false;
  private settled = false;
  /** Stops following the watched console's changes (set while a viewer watches one). */
  private unwatchConsole: (() => void) | undefined;
  /** The serial console this socket opened (serial-hub.ts). */
  private serialSink: SerialSink | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly deps: WsSessionDeps,
  ) {
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('close', () => this.onClose());
    socket.on('error', (error) => deps.logger.debug({ err: error }, 'websocket error'));
    this.authTimer = setTimeout(
      () => this.refuse(`no token within ${WS_AUTH_TIMEOUT_MS / 1000} s`),
      WS_AUTH_TIMEOUT_MS,
    );
  }

  /** The first message: a valid token, or the socket is closed with a reason the page can show. */
  private authenticate(message: ClientMessage): void {
    clearTimeout(this.authTimer);
    if (message.type !== 'auth') {
      this.refuse('the first message must be {"type":"auth","token":"…"}');
      return;
    }
    const role = this.deps.authenticate(message.token);
    if (!role) {
      this.refuse(message.token === '' ? 'no token given' : 'the token is not valid');
      return;
    }
    this.role = role;
    this.settle();
    this.send({ type: 'hello', role, iceServers: this.deps.iceServers });
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.deps.settled?.();
  }

  private refuse(why: string): void {
    this.deps.metrics.rejected.inc({ reason: 'unauthorized' });
    this.send({
      type: 'error',
      code: 'unauthorized',
      message: `a valid token is needed: ${why}`,
      fatal: true,
    });
    this.socket.close(WS_CLOSE_UNAUTHORIZED, 'unauthorized');
    this.onClose();
  }

  private send(message: ServerMessage): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private error(code: ErrorCode, message: string, fatal = false): void {
    this.deps.metrics.rejected.inc({ reason: `ws_${code}` });
    this.send({ type: 'error', code, message, fatal });
  }

  private strike(code: ErrorCode, message: string): void {
    // Before its token, a socket gets no second chance.
    if (this.role === undefined) {
      this.refuse('the first message must be {"type":"auth","token":"…"}');
      return;
    }
    this.error(code, message);
    if (++this.strikes >= MAX_STRIKES) {
      this.socket.close(1008, 'too many bad messages');
    }
  }

  private onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (this.closed) return;
    if (!this.bucket.take()) {
      this.strike('rate_limited', 'too many messages; slow down');
      return;
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.byteLength, 0) : data.byteLength;
    if (size > MAX_WS_MESSAGE_BYTES) {
      this.strike('too_large', `messages are limited to ${MAX_WS_MESSAGE_BYTES} bytes`);
      return;
    }
    if (isBinary) {
      // Binary: typed bytes for the serial console this socket opened (control viewers only).
      if (this.role !== undefined && this.serialSink) {
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
        const refused = typeSerial(this.deps.serial, this.serialSink, this.role, bytes);
        if (refused) this.error(refused.code, refused.message);
        return;
      }
      this.strike('bad_message', 'messages must be JSON text (binary only after serial_open)');
      return;
    }
    const text = Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data as ArrayBuffer).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      this.strike('bad_message', 'messages must be JSON');
      return;
    }
    const parsed = clientMessageSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      this.strike(
        'bad_message',
        `bad message${issue ? `: ${issue.path.join('.') || '(root)'} ${issue.message}` : ''}`,
      );
      return;
    }
    const m = parsed.data;
    if (this.role === undefined) {
      this.authenticate(m);
      return;
    }
    this.strikes = 0;
    switch (m.type) {
      case 'auth':
        this.error('bad_message', 'already authenticated');
        break;
      case 'watch':
        this.watch(m.vm, m.console, m.rendition);
        break;
      case 'answer':
        if (!this.viewer) {
          this.error('not_watching', 'send "watch" first');
          return;
        }
        try {
          this.viewer.setAnswer(m.sdp);
        } catch (error) {
          this.error('negotiation_failed', `the answer was refused: ${errorText(error)}`, true);
          this.viewer.close('bad answer');
        }
        break;
      case 'candidate':
        if (!this.viewer) {
          this.error('not_watching', 'send "watch" first');
          return;
        }
        if (m.candidate === '') return; // end of candidates
        try {
          this.viewer.addRemoteCandidate(m.candidate, m.mid);
        } catch (error) {
          this.error('bad_message', `bad ICE candidate: ${errorText(error)}`);
        }
        break;
      case 'ping':
        this.send({ type: 'pong', t: m.t, serverUs: nowUs() });
        break;
      case 'resize':
      case 'resize_stop':
        if (this.role !== 'control') {
          this.error('view_only', 'this token may watch but not set the VM’s screen size');
          return;
        }
        if (!this.viewer || this.viewer.closed) {
          this.error('not_watching', 'send "watch" first');
          return;
        }
        this.viewer.setDisplaySize(
          m.type === 'resize'
            ? { width: m.width, height: m.height, widthMm: m.widthMm, heightMm: m.heightMm }
            : null,
        );
        break;
      case 'serial_open':
        this.serialSink?.close();
        this.serialSink = openSerial(this.deps.serial, this.socket, m.vm, m.chardev, (status) =>
          this.send({ type: 'serial', serial: status }),
        );
        if (!this.serialSink) this.error('no_serial', 'serial consoles are not served here');
        break;
    }
  }

  private watch(vmId: string, consoleId: number, asked: string | undefined): void {
    if (this.viewer && !this.viewer.closed) {
      this.error('already_watching', 'this connection already watches a console');
      return;
    }
    const entry = this.deps.consoles.get(vmId, consoleId);
    if (!entry?.graphic) {
      this.error('unknown_console', `no console ${consoleId} of VM "${vmId}" is known here`, true);
      return;
    }
    if (!entry.running) {
      this.error(
        'vm_not_running',
        `VM "${vmId}" is not running (capture has not announced it recently)`,
        true,
      );
      return;
    }
    const role = this.role;
    if (role === undefined) return;
    let result: { viewer: Viewer; offer: string };
    try {
      // A viewer that names a rendition keeps it; otherwise its link chooses.
      const rendition = asked ?? this.deps.defaultRendition;
      result = this.deps.viewers.offer(
        role,
        { vmId, consoleId, rendition },
        asked === undefined,
        entry.hasAudio,
      );
    } catch (error) {
      if (error instanceof CapacityError) this.error('too_many_viewers', error.message, true);
      else {
        this.deps.logger.error({ err: error }, 'could not create a peer connection');
        this.error('negotiation_failed', 'the server could not create a connection', true);
      }
      return;
    }
    const viewer = result.viewer;
    this.viewer = viewer;
    this.unwatchConsole?.();
    this.unwatchConsole = this.deps.consoles.watch(vmId, consoleId, (changed) =>
      this.send({ type: 'console', console: changed }),
    );
    viewer.on('candidate', (candidate, mid) => this.send({ type: 'candidate', candidate, mid }));
    viewer.on('state', (state) => this.send({ type: 'state', state }));
    viewer.on('notice', (code, message) => this.error(code, message));
    viewer.on('rendition', (name) => this.send({ type: 'rendition', rendition: name }));
    viewer.on('resize', (r) => this.send({ type: 'resize', ...r }));
    viewer.once('closed', (reason) => {
      if (reason === 'connection failed' || reason === 'connect timeout') {
        this.error('connection_failed', `the WebRTC connection failed (${reason})`, true);
      }
      this.send({ type: 'closed', reason });
    });
    this.send({ type: 'console', console: entry });
    this.send({ type: 'offer', sdp: result.offer, viewerId: viewer.id });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.settle();
    clearTimeout(this.authTimer);
    this.unwatchConsole?.();
    this.unwatchConsole = undefined;
    this.viewer?.close('left');
    this.serialSink?.close();
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
