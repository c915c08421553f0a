// Test-side RTP H.264 depacketizer (RFC 6184, packetization-mode 1): single NAL units, STAP-A and
// FU-A, reassembled into Annex B access units by RTP timestamp / marker bit, in sequence order.

export interface RtpPacket {
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payload: Uint8Array;
  /** Header extensions (one-byte form, RFC 8285): id -> data. */
  extensions: Map<number, Uint8Array>;
}

export function parseRtp(buf: Uint8Array): RtpPacket | undefined {
  if (buf.length < 12 || buf[0] === undefined || buf[0] >> 6 !== 2) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const b0 = buf[0];
  const b1 = buf[1] ?? 0;
  // RTCP shares the port (rtcp-mux): payload types 72..79 with the marker bit are RTCP.
  if (b1 >= 192 && b1 <= 223) return undefined;
  const csrc = b0 & 0x0f;
  let off = 12 + csrc * 4;
  const extensions = new Map<number, Uint8Array>();
  if (b0 & 0x10) {
    if (off + 4 > buf.length) return undefined;
    const profile = view.getUint16(off);
    const words = view.getUint16(off + 2);
    const end = off + 4 + words * 4;
    if (profile === 0xbede) {
      for (let p = off + 4; p < end;) {
        const h = buf[p] ?? 0;
        if (h === 0) {
          p++;
          continue;
        }
        const id = h >> 4;
        const len = (h & 0x0f) + 1;
        extensions.set(id, buf.subarray(p + 1, p + 1 + len));
        p += 1 + len;
      }
    }
    off = end;
  }
  let end = buf.length;
  if (b0 & 0x20) end -= buf[buf.length - 1] ?? 0;
  if (off > end) return undefined;
  return {
    payloadType: b1 & 0x7f,
    marker: (b1 & 0x80) !== 0,
    sequence: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    payload: buf.subarray(off, end),
    extensions,
  };
}

const START = Uint8Array.of(0, 0, 0, 1);

export interface AccessUnit {
  timestamp: number;
  data: Buffer;
  /** Contains an IDR slice (NAL type 5). */
  keyframe: boolean;
  /** Some packet of it was missing. */
  incomplete: boolean;
}

export class H264Depacketizer {
  private nals: Uint8Array[] = [];
  private fu: Uint8Array[] | undefined;
  private timestamp: number | undefined;
  private lastSeq: number | undefined;
  private broken = false;
  readonly units: AccessUnit[] = [];
  lost = 0;

  push(p: RtpPacket): void {
    if (this.lastSeq !== undefined) {
      const gap = (p.sequence - this.lastSeq - 1 + 65536) % 65536;
      if (gap > 0 && gap < 30000) {
        this.lost += gap;
        this.broken = true;
        this.fu = undefined;
      } else if (gap >= 30000) return; // late duplicate
    }
    this.lastSeq = p.sequence;
    if (this.timestamp !== undefined && p.timestamp !== this.timestamp) this.flush();
    this.timestamp = p.timestamp;
    const pl = p.payload;
    const type = (pl[0] ?? 0) & 0x1f;
    if (type >= 1 && type <= 23) {
      this.nals.push(pl);
    } else if (type === 24) {
      for (let off = 1; off + 2 <= pl.length;) {
        const size = ((pl[off] ?? 0) << 8) | (pl[off + 1] ?? 0);
        this.nals.push(pl.subarray(off + 2, off + 2 + size));
        off += 2 + size;
      }
    } else if (type === 28) {
      const fuHeader = pl[1] ?? 0;
      if (fuHeader & 0x80) this.fu = [Uint8Array.of(((pl[0] ?? 0) & 0xe0) | (fuHeader & 0x1f))];
      this.fu?.push(pl.subarray(2));
      if (fuHeader & 0x40 && this.fu) {
        this.nals.push(Buffer.concat(this.fu));
        this.fu = undefined;
      }
    }
    if (p.marker) this.flush();
  }

  private flush(): void {
    if (this.nals.length > 0 && this.timestamp !== undefined) {
      const parts: Uint8Array[] = [];
      let keyframe = false;
      for (const n of this.nals) {
        parts.push(START, n);
        if (((n[0] ?? 0) & 0x1f) === 5) keyframe = true;
      }
      this.units.push({
        timestamp: this.timestamp,
        data: Buffer.concat(parts),
        keyframe,
        incomplete: this.broken,
      });
    }
    this.nals = [];
    this.broken = false;
    this.timestamp = undefined;
  }
}
