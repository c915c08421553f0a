import { randomInt } from 'node:crypto';
import {
  MAX_SERIAL_INPUT_BYTES,
  publishProto,
  serialOfSubject,
  subjects,
  subscribeProto,
  type BadInputLog,
  type Logger,
  type NatsConnection,
  type SerialStatus,
  type Subscription,
} from '@qemu-webrtc/common';
import type { WebSocket } from '@fastify/websocket';
import type { ErrorCode, Role } from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';

const { SerialData, SerialInput, SerialReplay, SerialState } = qemu_webrtc.v1;

/** A replay not answered by then: the page is told, and gets live output from there on. */
const REPLAY_TIMEOUT_MS = 3000;
/** Live chunks held for one page while its replay is on its way, at most (then dropped: a gap). */
const MAX_PENDING_BYTES = 512 * 1024;
/** A page whose WebSocket has this much unsent is skipped (a gap, filled by a replay later). */
const MAX_SOCKET_BUFFERED = 1024 * 1024;
/** A VM's state not heard for this long: its owner (the input service) is taken to be gone. */
const STATE_STALE_MS = 12_000;

export interface SerialSinkIo {
  /** Output bytes for the page (a binary WebSocket message). */
  data(bytes: Uint8Array): void;
  status(status: SerialStatus): void;
  /** Bytes waiting in the page's socket. */
  buffered(): number;
}

interface VmState {
  state: qemu_webrtc.v1.SerialState;
  at: number;
}

/**
 * One page's view of one serial console: scrollback first, then live output, each byte exactly
 * once, in order. Offsets (SerialData) say where every chunk belongs: a chunk after the expected
 * offset is a gap (NATS dropped something, or the page's socket was full) and a replay from the
 * scrollback fills it.
 */
export class SerialSink {
  chardev = '';
  private epoch = 0;
  private next = 0;
  private replayId = 0;
  private replayTimer: NodeJS.Timeout | undefined;
  private pending: qemu_webrtc.v1.SerialData[] = [];
  private pendingBytes = 0;
  private lostBytes = 0;
  private lastStatus = '';
  closed = false;

  constructor(
    private readonly hub: SerialHub,
    readonly vmId: string,
    private readonly wanted: string | undefined,
    readonly viewerId: string,
    private readonly io: SerialSinkIo,
  ) {}

  /** The VM's state changed (or arrived): pick the chardev, say how it is. */
  onState(state: qemu_webrtc.v1.SerialState | undefined, stale: boolean): void {
    if (this.closed) return;
    const list = (state?.chardevs ?? [])
      .map((c) => ({
        chardev: c.chardev ?? '',
        name: c.name ?? '',
        connected: c.connected === true,
        problem: c.problem ?? '',
        inputDropped: c.inputDropped ?? 0,
      }))
      .sort((a, b) => a.chardev.localeCompare(b.chardev));
    if (this.chardev === '') {
      const pick = this.wanted !== undefined ? list.find((c) => c.chardev === this.wanted) : list[0];
      if (pick) {
        this.chardev = pick.chardev;
        this.requestReplay(0, 0);
      }
    }
    const c = list.find((x) => x.chardev === this.chardev);
    let problem: string;
    if (!state || stale) problem = 'no serial console service answers (is the input service running?)';
    else if (!c)
      problem =
        this.wanted !== undefined
          ? `the VM has no serial console "${this.wanted}" (QEMU: -chardev dbus,id=…,name=org.qemu.console.serial.0)`
          : 'the VM has no serial console on D-Bus (QEMU: -chardev dbus,id=ser0,name=org.qemu.console.serial.0 -serial chardev:ser0)';
    else if (!state.qemuUp) problem = 'QEMU is not running; what it said is kept';
    else problem = c.problem;
    this.sendStatus({
      vm: this.vmId,
      chardev: this.chardev,
      name: c?.name ?? '',
      connected: !stale && state?.qemuUp === true && c?.connected === true,
      problem: c?.connected === true && !stale ? '' : problem,
      lostBytes: this.lostBytes,
      inputDropped: c?.inputDropped ?? 0,
    });
  }

  private sendStatus(status: SerialStatus): void {
    const key = JSON.stringify(status);
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    this.io.status(status);
  }

  private requestReplay(epoch: number, from: number): void {
    if (this.replayId !== 0 || this.chardev === '') return;
    this.replayId = randomInt(1, 2 ** 31);
    this.hub.replay(this.vmId, this.chardev, this.replayId, epoch, from);
    this.replayTimer = setTimeout(() => {
      // Nobody answered: go on with live output, from wherever it is.
      this.replayId = 0;
      this.epoch = 0;
      this.flushPending();
    }, REPLAY_TIMEOUT_MS);
  }

  onData(m: qemu_webrtc.v1.SerialData): void {
    if (this.closed || m.chardev !== this.chardev) return;
    if (m.replayId !== 0) {
      if (m.replayId !== this.replayId) return;
      clearTimeout(this.replayTimer);
      this.replayId = 0;
      if (m.epoch !== this.epoch) {
        this.epoch = m.epoch;
        this.next = m.offset;
      }
      const lost = m.lost;
      if (lost > 0) this.lostBytes += lost;
      this.deliver(m);
      this.flushPending();
      return;
    }
    if (this.replayId !== 0) {
      if (this.pendingBytes + m.data.length <= MAX_PENDING_BYTES) {
        this.pending.push(m);
        this.pendingBytes += m.data.length;
      }
      return;
    }
    if (this.epoch === 0) {
      // Live without a replay (the owner did not answer in time): start here.
      this.epoch = m.epoch;
      this.next = m.offset;
    } else if (m.epoch !== this.epoch) {
      // The owner restarted: its offsets start again; fetch its (new) scrollback.
      this.pending.push(m);
      this.pendingBytes += m.data.length;
      this.requestReplay(0, 0);
      return;
    }
    if (m.offset > this.next) {
      // A gap: ask for what is missing; this chunk waits for the answer.
      this.pending.push(m);
      this.pendingBytes += m.data.length;
      this.requestReplay(this.epoch, this.next);
      return;
    }
    this.deliver(m);
  }

  private flushPending(): void {
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const m of pending) this.onData(m);
  }

  /** Sends the part of `m` after `next` (nothing twice), unless the page's socket is full. */
  private deliver(m: qemu_webrtc.v1.SerialData): void {
    if (m.epoch !== this.epoch) return;
    const offset = m.offset;
    const end = offset + m.data.length;
    if (end <= this.next || offset > this.next) return;
    if (this.io.buffered() > MAX_SOCKET_BUFFERED) return; // a gap: the next chunk asks for a replay
    this.io.data(m.data.subarray(this.next - offset));
    this.next = end;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.replayTimer);
    this.pending = [];
    this.hub.remove(this);
  }
}

/**
 * Serial consoles for pages: follows every VM's serial state and output on NATS (published by the
 * input service, which owns the chardevs), hands each page's sink what it needs, and publishes
 * typed bytes of control viewers.
 */
export class SerialHub {
  private readonly sinks = new Set<SerialSink>();
  private readonly states = new Map<string, VmState>();
  private readonly subs: Subscription[] = [];
  private readonly staleTimer: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    logger: Logger,
    badInput: BadInputLog,
  ) {
    const opts = { logger, badInput };
    this.subs.push(
      subscribeProto(
        nc,
        subjects.serialStateAll,
        SerialState,
        (m, subject) => {
          if (subject !== subjects.serialState(m.vmId)) return;
          this.states.set(m.vmId, { state: m, at: Date.now() });
          for (const s of this.sinks) if (s.vmId === m.vmId) s.onState(m, false);
        },
        opts,
      ),
      subscribeProto(
        nc,
        subjects.serialOutAll,
        SerialData,
        (m, subject) => {
          const where = serialOfSubject(subject);
          if (!where || where.vmId !== m.vmId || where.chardev !== m.chardev) return;
          for (const s of this.sinks) if (s.vmId === m.vmId) s.onData(m);
        },
        opts,
      ),
    );
    this.staleTimer = setInterval(() => {
      const now = Date.now();
      for (const s of this.sinks) {
        const st = this.states.get(s.vmId);
        if (st && now - st.at > STATE_STALE_MS) s.onState(st.state, true);
      }
    }, 2000);
  }

  /** A page opens a VM's serial console (`chardev` undefined: the first one). */
  open(vmId: string, chardev: string | undefined, viewerId: string, io: SerialSinkIo): SerialSink {
    const sink = new SerialSink(this, vmId, chardev, viewerId, io);
    this.sinks.add(sink);
    const st = this.states.get(vmId);
    sink.onState(st?.state, st === undefined || Date.now() - st.at > STATE_STALE_MS);
    return sink;
  }

  remove(sink: SerialSink): void {
    this.sinks.delete(sink);
  }

  replay(vmId: string, chardev: string, replayId: number, epoch: number, fromOffset: number): void {
    if (this.nc.isClosed()) return;
    publishProto(this.nc, subjects.serialReplay(vmId, chardev), SerialReplay, {
      vmId,
      chardev,
      replayId,
      epoch,
      fromOffset,
    });
  }

  /** Typed bytes of a control viewer (the caller checked the role); false when too large or nowhere to go. */
  type(sink: SerialSink, data: Uint8Array): boolean {
    if (sink.chardev === '' || data.length === 0 || data.length > MAX_SERIAL_INPUT_BYTES) return false;
    if (this.nc.isClosed()) return false;
    publishProto(this.nc, subjects.serialIn(sink.vmId, sink.chardev), SerialInput, {
      vmId: sink.vmId,
      chardev: sink.chardev,
      viewerId: sink.viewerId,
      data,
    });
    return true;
  }

  close(): void {
    clearInterval(this.staleTimer);
    for (const s of this.subs) s.unsubscribe();
    for (const s of [...this.sinks]) s.close();
  }
}

/** WsSession's `serial_open`: a sink sending this socket binary output and `serial` status. */
export function openSerial(
  hub: SerialHub | undefined,
  socket: WebSocket,
  vmId: string,
  chardev: string | undefined,
  status: (s: SerialStatus) => void,
): SerialSink | undefined {
  return hub?.open(vmId, chardev, `ws-${randomInt(1, 2 ** 31).toString(36)}`, {
    data: (bytes) => {
      if (socket.readyState === socket.OPEN) socket.send(bytes, { binary: true });
    },
    status,
    buffered: () => socket.bufferedAmount,
  });
}

/** WsSession's binary message: typed bytes, or why they were refused. */
export function typeSerial(
  hub: SerialHub | undefined,
  sink: SerialSink,
  role: Role,
  bytes: Uint8Array,
): { code: ErrorCode; message: string } | undefined {
  if (role !== 'control') return { code: 'view_only', message: 'view only: typing is refused' };
  if (bytes.length > MAX_SERIAL_INPUT_BYTES)
    return {
      code: 'too_large',
      message: `serial input is limited to ${MAX_SERIAL_INPUT_BYTES} bytes a message`,
    };
  if (!hub?.type(sink, bytes)) return { code: 'no_serial', message: 'no serial console to type into' };
  return undefined;
}
