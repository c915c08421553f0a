/** Feedback a viewer's receiver sent us, from one RTCP (compound) packet. */
export interface RtcpFeedback {
  pli: number;
  fir: number;
  nack: number;
  /** Receiver report blocks: fraction of packets lost since the last report (0..1), and jitter. */
  reports: {
    ssrc: number;
    fractionLost: number;
    cumulativeLost: number;
    /** Extended highest sequence number received (cycles << 16 | highest). */
    highestSequence: number;
    jitter: number;
  }[];
}

/** Parses an RTCP compound packet (RFC 3550, 4585, 5104); stops quietly at anything malformed. */
export function parseRtcp(buf: Uint8Array): RtcpFeedback {
  const out: RtcpFeedback = { pli: 0, fir: 0, nack: 0, reports: [] };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + 4 <= buf.byteLength) {
    const b0 = view.getUint8(off);
    if (b0 >> 6 !== 2) break;
    const count = b0 & 0x1f;
    const pt = view.getUint8(off + 1);
    const length = (view.getUint16(off + 2) + 1) * 4;
    if (off + length > buf.byteLength) break;
    if (pt === 206 && count === 1) out.pli++;
    else if (pt === 206 && count === 4) out.fir++;
    else if (pt === 205 && count === 1) out.nack++;
    else if (pt === 201 || pt === 200) {
      // RR: header(4) + sender SSRC(4); SR adds 20 bytes of sender info.
      let p = off + (pt === 201 ? 8 : 28);
      for (let i = 0; i < count && p + 24 <= off + length; i++, p += 24) {
        const lost = view.getUint32(p + 4);
        out.reports.push({
          ssrc: view.getUint32(p),
          fractionLost: (lost >>> 24) / 256,
          cumulativeLost: lost & 0xffffff,
          highestSequence: view.getUint32(p + 8),
          jitter: view.getUint32(p + 12),
        });
      }
    }
    off += length;
  }
  return out;
}
