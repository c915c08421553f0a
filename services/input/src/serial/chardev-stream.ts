import type { Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import {
  CHARDEV_INTERFACE,
  callMethod,
  chardevPath,
  QEMU_BUS_NAME,
  streamPair,
  withTimeout,
  type MessageBus,
} from '@qemu-webrtc/qemu-dbus';
import { Scrollback } from './scrollback.js';

const REGISTER_TIMEOUT_MS = 5000;

export interface ChardevStreamOptions {
  scrollbackBytes: number;
  inputQueueBytes: number;
  /** Called with each chunk the guest wrote, after it is in the scrollback. */
  output: (offset: number, data: Buffer) => void;
  /** Something the state shows changed. */
  changed: () => void;
}

/**
 * One D-Bus chardev (QEMU's `-chardev dbus,id=ID,name=...`): its byte stream (Register(h) hands
 * QEMU one end of a socket pair; QEMU's socket chardev speaks raw bytes on it) and its scrollback.
 * The scrollback outlives the stream: QEMU leaving, restarting or the chardev vanishing keeps what
 * was said, and a new stream appends to it.
 */
export class ChardevStream {
  readonly scrollback: Scrollback;
  /** This buffer's identity: offsets count from 0 within an epoch. */
  readonly epoch = randomInt(1, 2 ** 31);
  name = '';
  feOpened = false;
  /** QEMU exports it on the bus right now. */
  present = false;
  problem = 'not registered yet';
  /** Typed bytes refused (queue full, or no stream). */
  inputDropped = 0;
  private socket: Socket | undefined;
  private connecting = false;
  private closed = false;

  constructor(
    readonly id: string,
    private readonly opts: ChardevStreamOptions,
  ) {
    this.scrollback = new Scrollback(opts.scrollbackBytes);
  }

  /** A method, not the field: TypeScript would assume the field unchanged across an await. */
  private isClosed(): boolean {
    return this.closed;
  }

  get connected(): boolean {
    return this.socket !== undefined;
  }

  /** Registers a new stream with QEMU unless one is open or being opened. */
  async connect(bus: MessageBus): Promise<void> {
    if (this.socket || this.connecting || this.closed) return;
    this.connecting = true;
    let pair;
    try {
      pair = await streamPair();
    } catch (error) {
      this.connecting = false;
      this.setProblem(`could not make a socket pair: ${text(error)}`);
      return;
    }
    try {
      await withTimeout(
        callMethod(bus, {
          destination: QEMU_BUS_NAME,
          path: chardevPath(this.id),
          interface: CHARDEV_INTERFACE,
          member: 'Register',
          signature: 'h',
          body: [pair.remoteFd],
        }),
        REGISTER_TIMEOUT_MS,
        'Chardev.Register',
      );
    } catch (error) {
      pair.closeRemote();
      pair.local.destroy();
      this.connecting = false;
      // QEMU refuses a second client while one is connected ("Couldn't register FD!").
      this.setProblem(`QEMU refused the stream: ${text(error)}`);
      return;
    } finally {
      pair.closeRemote();
    }
    this.connecting = false;
    if (this.isClosed()) {
      pair.local.destroy();
      return;
    }
    const socket = pair.local;
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      const offset = this.scrollback.end;
      this.scrollback.append(chunk);
      this.opts.output(offset, chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.setProblem(this.present ? 'QEMU closed the stream' : 'the chardev is gone from QEMU');
    });
    socket.resume();
    this.problem = '';
    this.opts.changed();
  }

  /** Writes typed bytes; false (and counted) when there is no stream or its queue is full. */
  write(data: Uint8Array): boolean {
    const socket = this.socket;
    if (!socket || socket.writableLength + data.length > this.opts.inputQueueBytes) {
      this.inputDropped += data.length;
      this.opts.changed();
      return false;
    }
    socket.write(data);
    return true;
  }

  /** The stream ends (QEMU left, the chardev vanished, or stop); the scrollback stays. */
  disconnect(problem: string): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.setProblem(problem);
  }

  close(): void {
    this.closed = true;
    this.disconnect('stopped');
  }

  private setProblem(problem: string): void {
    if (this.problem === problem) return;
    this.problem = problem;
    this.opts.changed();
  }
}

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
