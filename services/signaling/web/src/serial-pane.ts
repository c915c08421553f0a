// The serial console pane: QEMU's D-Bus chardev (served by the input service, relayed by
// signaling) in an xterm.js terminal. It has its own signaling WebSocket (the video's session
// comes and goes with WebRTC; the serial console does not need it): `auth`, then `serial_open`,
// then the guest's output arrives as binary messages (the scrollback first) and what is typed
// goes back as binary messages (control viewers only: the server refuses the others).
// xterm.js is served from node_modules by signaling (/vendor/, app.ts); src/vendor-types/ and
// tsconfig.json's `paths` give these URLs the packages' types.
import { FitAddon } from '/vendor/xterm-addon-fit/lib/addon-fit.mjs';
import { Terminal } from '/vendor/xterm/lib/xterm.mjs';
import {
  MAX_SERIAL_INPUT_BYTES,
  MAX_SERIAL_PASTE_BYTES,
  type ClientMessage,
  type Role,
  type SerialStatus,
  type ServerMessage,
} from './protocol/browser-protocol.js';

export interface SerialPaneElements {
  pane: HTMLElement;
  terminal: HTMLElement;
  status: HTMLElement;
  copy: HTMLButtonElement;
  toggle: HTMLButtonElement;
}

export class SerialPane {
  readonly term: Terminal;
  private readonly fitAddon = new FitAddon();
  private ws: WebSocket | undefined;
  private role: Role | undefined;
  private serial: SerialStatus | undefined;
  private notice = '';
  private retryMs = 500;
  private readonly encoder = new TextEncoder();
  /** Bytes received from the guest (tests compare what came back). */
  received = 0;

  constructor(
    private readonly el: SerialPaneElements,
    private readonly token: string,
    private readonly vm: string,
  ) {
    this.term = new Terminal({ scrollback: 5000, fontSize: 13, cursorBlink: true, convertEol: false });
    this.term.loadAddon(this.fitAddon);
    this.term.open(el.terminal);
    this.term.onData((text) => this.type(text));
    this.term.onBinary((text) => this.type(text, true));
    el.copy.addEventListener('click', () => void this.copyAll());
    el.toggle.addEventListener('click', () => this.show(el.pane.hidden));
    new ResizeObserver(() => this.fit()).observe(el.terminal);
    this.connect();
  }

  show(on: boolean): void {
    this.el.pane.hidden = !on;
    this.el.toggle.classList.toggle('active', on);
    if (on) this.fit();
  }

  /** Columns and rows that fill the pane. */
  private fit(): void {
    if (!this.el.pane.hidden) this.fitAddon.fit();
  }

  /** Everything the terminal holds, as text (the "Copy all" button; tests read it too). */
  text(): string {
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buf.length; i++) {
      const line = buf.getLine(i);
      const text = line?.translateToString(true) ?? '';
      // A line the terminal wrapped continues the one before it.
      const last = lines.pop();
      if (last === undefined) lines.push(text);
      else if (line?.isWrapped === true) lines.push(last + text);
      else lines.push(last, text);
    }
    return lines.join('\n').replace(/\n+$/, '');
  }

  private async copyAll(): Promise<void> {
    const text = this.text();
    try {
      await navigator.clipboard.writeText(text);
      this.setNotice(`copied ${text.length} characters`);
    } catch {
      // No clipboard permission: select it all, so Ctrl+C copies it.
      this.term.selectAll();
      this.setNotice('selected all: press Ctrl+C to copy');
    }
  }

  private send(m: ClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private connect(): void {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => this.send({ type: 'auth', token: this.token });
    ws.onmessage = (e) => {
      if (e.data instanceof ArrayBuffer) {
        const bytes = new Uint8Array(e.data);
        this.received += bytes.length;
        this.term.write(bytes);
        return;
      }
      if (typeof e.data === 'string') this.onMessage(e.data);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.setNotice('disconnected from the server; reconnecting…');
      window.setTimeout(() => this.connect(), this.retryMs);
      this.retryMs = Math.min(10_000, this.retryMs * 2);
    };
  }

  private onMessage(text: string): void {
    let m: ServerMessage;
    try {
      m = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    if (m.type === 'hello') {
      this.role = m.role;
      this.retryMs = 500;
      // The server replays the scrollback from its start: begin with an empty terminal.
      this.term.reset();
      this.received = 0;
      this.send({ type: 'serial_open', vm: this.vm });
    } else if (m.type === 'serial') {
      const first = this.serial === undefined || (this.serial.chardev === '' && m.serial.chardev !== '');
      this.serial = m.serial;
      if (first && m.serial.chardev !== '') this.show(true);
      this.render();
    } else if (m.type === 'error') {
      this.setNotice(m.code === 'view_only' ? 'View only: typing is not sent to the guest.' : m.message);
    }
  }

  /** Typed or pasted text (xterm gives a paste as one string) as bytes to the guest. */
  private type(text: string, binary = false): void {
    const bytes = binary ? Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff) : this.encoder.encode(text);
    if (bytes.length > MAX_SERIAL_PASTE_BYTES) {
      this.setNotice(
        `Paste refused: ${bytes.length} bytes, the limit is ${MAX_SERIAL_PASTE_BYTES} (the guest reads slowly).`,
      );
      return;
    }
    const ws = this.ws;
    if (ws?.readyState !== WebSocket.OPEN) {
      this.setNotice('not connected: typing is lost');
      return;
    }
    for (let i = 0; i < bytes.length; i += MAX_SERIAL_INPUT_BYTES) {
      ws.send(bytes.subarray(i, i + MAX_SERIAL_INPUT_BYTES));
    }
  }

  private setNotice(text: string): void {
    this.notice = text;
    this.render();
  }

  private render(): void {
    const s = this.serial;
    const parts: string[] = [];
    if (s) {
      parts.push(s.chardev !== '' ? s.name || s.chardev : 'serial console');
      parts.push(s.connected ? 'connected' : s.problem || 'not connected');
      if (s.lostBytes > 0) parts.push(`${s.lostBytes} earlier bytes no longer kept`);
      if (s.inputDropped > 0) parts.push(`${s.inputDropped} typed bytes refused (the guest is not reading)`);
    }
    if (this.role === 'view') parts.push('view only');
    if (this.notice !== '') parts.push(this.notice);
    this.el.status.textContent = parts.join(' · ');
    this.el.status.classList.toggle('error', s !== undefined && !s.connected);
  }
}
