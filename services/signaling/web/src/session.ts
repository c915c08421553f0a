import type {
  ClientMessage,
  ConsoleEntry,
  ErrorCode,
  Role,
  ServerMessage,
} from './protocol/browser-protocol.js';

export interface SessionEvents {
  hello(role: Role): void;
  console(entry: ConsoleEntry): void;
  track(stream: MediaStream, receiver: RTCRtpReceiver): void;
  input(channel: RTCDataChannel): void;
  cursor(channel: RTCDataChannel): void;
  connected(): void;
  /** Something went wrong; `fatal` ends this session (the player reconnects). */
  problem(code: ErrorCode, message: string, fatal: boolean): void;
  ended(reason: string): void;
  /** The answer to this page's `resize` (follow-window.ts). */
  resize?(message: Extract<ServerMessage, { type: 'resize' }>): void;
}

/**
 * One attempt to watch a console: the signaling WebSocket and the RTCPeerConnection. The server
 * offers (H.264 video, "input" and "cursor" DataChannels); we answer; candidates trickle both ways.
 */
export class Session {
  private peer: RTCPeerConnection | undefined;
  private readonly ws: WebSocket;
  private ended = false;
  private pingTimer: number | undefined;
  /** Server clock minus ours, in ms (from ping/pong; NaN until measured). */
  clockOffsetMs = Number.NaN;
  private bestRttMs = Infinity;

  constructor(
    token: string,
    private readonly target: { vm: string; console: number; rendition?: string },
    private readonly on: SessionEvents,
  ) {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    // The token goes in the first message, not in the URL (which proxies log).
    this.ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws.onopen = () => this.send({ type: 'auth', token });
    this.ws.onmessage = (e) => {
      if (typeof e.data === 'string') void this.onMessage(e.data);
    };
    this.ws.onclose = () => this.end('signaling closed');
    this.ws.onerror = () => undefined;
  }

  get peerConnection(): RTCPeerConnection | undefined {
    return this.peer;
  }

  /** The player area for the VM's resolution (null: stop following the window). */
  sendResize(size: { width: number; height: number; widthMm: number; heightMm: number } | null): void {
    this.send(size ? { type: 'resize', ...size } : { type: 'resize_stop' });
  }

  private send(message: ClientMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private async onMessage(text: string): Promise<void> {
    let m: ServerMessage;
    try {
      m = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    switch (m.type) {
      case 'hello':
        this.on.hello(m.role);
        this.createPeer(m.iceServers);
        this.send({
          type: 'watch',
          vm: this.target.vm,
          console: this.target.console,
          ...(this.target.rendition !== undefined ? { rendition: this.target.rendition } : {}),
        });
        this.ping();
        this.pingTimer = window.setInterval(() => this.ping(), 5000);
        break;
      case 'offer':
        await this.answer(m.sdp);
        break;
      case 'candidate':
        await this.peer?.addIceCandidate({ candidate: m.candidate, sdpMid: m.mid }).catch(() => undefined);
        break;
      case 'console':
        this.on.console(m.console);
        break;
      case 'state':
        if (m.state === 'connected') this.on.connected();
        break;
      case 'resize':
        this.on.resize?.(m);
        break;
      case 'rendition':
        // The link moved us to another rendition: the track goes on, the picture's size follows.
        break;
      case 'pong': {
        const now = Date.now();
        const rtt = now - m.t;
        if (rtt <= this.bestRttMs * 1.5 || Number.isNaN(this.clockOffsetMs)) {
          this.bestRttMs = Math.min(this.bestRttMs, rtt);
          this.clockOffsetMs = m.serverUs / 1000 - (m.t + rtt / 2);
        }
        break;
      }
      case 'error':
        this.on.problem(m.code, m.message, m.fatal);
        if (m.fatal) this.end(m.code);
        break;
      case 'closed':
        this.end(m.reason);
        break;
    }
  }

  private ping(): void {
    this.send({ type: 'ping', t: Date.now() });
  }

  private createPeer(iceServers: RTCIceServer[]): void {
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    this.peer = pc;
    pc.onicecandidate = (e) => {
      if (e.candidate?.candidate) {
        this.send({ type: 'candidate', candidate: e.candidate.candidate, mid: e.candidate.sdpMid ?? '' });
      }
    };
    pc.ontrack = (e) => {
      const receiver = e.receiver as RTCRtpReceiver & {
        jitterBufferTarget?: number | null;
        playoutDelayHint?: number;
      };
      // Lowest-latency playout: no added jitter buffer (where the browser allows).
      try {
        if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
        if ('playoutDelayHint' in receiver) receiver.playoutDelayHint = 0;
      } catch {
        // not supported
      }
      this.on.track(e.streams[0] ?? new MediaStream([e.track]), e.receiver);
    };
    pc.ondatachannel = (e) => {
      const dc = e.channel;
      dc.binaryType = 'arraybuffer';
      if (dc.label === 'input') this.on.input(dc);
      else if (dc.label === 'cursor') this.on.cursor(dc);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') {
        this.on.problem('connection_failed', 'the WebRTC connection failed', true);
        this.end('connection_failed');
      }
    };
  }

  private async answer(sdp: string): Promise<void> {
    const pc = this.peer;
    if (!pc) return;
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      this.send({ type: 'answer', sdp: pc.localDescription?.sdp ?? answer.sdp ?? '' });
    } catch (error) {
      this.on.problem('connection_failed', `could not answer: ${String(error)}`, true);
      this.end('negotiation_failed');
    }
  }

  /** Closes everything; safe to call twice. */
  end(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    window.clearInterval(this.pingTimer);
    this.ws.onclose = null;
    try {
      this.ws.close();
    } catch {
      // already closed
    }
    this.peer?.close();
    this.on.ended(reason);
  }
}
