/** What we send: H.264 constrained baseline level 3.1, non-interleaved (what the encoder produces). */
export const H264_FMTP = 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f';
export const H264_PAYLOAD_TYPE = 96;
/** The RTP header extension that asks the receiver for no playout delay. */
export const PLAYOUT_DELAY_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay';
export const MAX_SDP_BYTES = 64 * 1024;

export class SdpError extends Error {
  override readonly name = 'SdpError';
}

export interface OfferedVideo {
  mid: string;
  payloadType: number;
  fmtp: string;
  /** The offer's id for the playout-delay extension, when it offers one. */
  playoutDelayId: number | undefined;
}

function fmtpParams(fmtp: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const part of fmtp.split(';')) {
    const [k, v] = part.split('=', 2);
    if (k !== undefined && v !== undefined) params.set(k.trim().toLowerCase(), v.trim().toLowerCase());
  }
  return params;
}

/**
 * Whether a profile-level-id describes a stream a constrained baseline encoder may send: profile
 * baseline (0x42) with constraint_set1 (constrained baseline), or constrained high/main decoders that
 * accept it (0x4d/0x64 with constraint_set1 are rarer; we keep to 0x42).
 */
function acceptsConstrainedBaseline(profileLevelId: string | undefined): boolean {
  if (profileLevelId === undefined) return true; // RFC 6184 default: baseline, level 1.0 (receivers cope)
  if (!/^[0-9a-f]{6}$/.test(profileLevelId)) return false;
  return profileLevelId.startsWith('42');
}

/**
 * Finds the video section of a client's offer and the H.264 format to answer with:
 * packetization-mode=1 and a baseline profile, preferring exactly 42e01f. Throws SdpError with a
 * message fit for the client when the offer is malformed or offers nothing we can send.
 */
export function parseVideoOffer(sdp: string): OfferedVideo {
  if (Buffer.byteLength(sdp) > MAX_SDP_BYTES) throw new SdpError(`SDP larger than ${MAX_SDP_BYTES} bytes`);
  const lines = sdp.split(/\r?\n/).filter((l) => l !== '');
  if (lines[0] !== 'v=0') throw new SdpError('not an SDP offer: it must start with "v=0"');
  for (const l of lines) {
    if (!/^[a-z]=/.test(l)) throw new SdpError(`malformed SDP line ${JSON.stringify(l.slice(0, 60))}`);
  }
  const sections: string[][] = [];
  for (const l of lines) {
    if (l.startsWith('m=')) sections.push([l]);
    else sections.at(-1)?.push(l);
  }
  const video = sections.find((s) => s[0]?.startsWith('m=video '));
  if (!video) throw new SdpError('the offer has no video section');
  const mline = (video[0] ?? '').split(' ');
  if (mline.length < 4 || mline[1] === '0') throw new SdpError('the offer rejects video');
  const attr = (name: string): string[] =>
    video.filter((l) => l.startsWith(`a=${name}:`)).map((l) => l.slice(name.length + 3));
  const mid = attr('mid')[0];
  if (mid === undefined || !/^[A-Za-z0-9_.-]{1,32}$/.test(mid))
    throw new SdpError('the video section has no valid a=mid');
  if (video.includes('a=sendonly') || video.includes('a=inactive')) {
    throw new SdpError('the video section must be recvonly or sendrecv');
  }
  const rtpmaps = new Map<number, string>();
  for (const v of attr('rtpmap')) {
    const m = /^(\d{1,3}) ([A-Za-z0-9-]+)\/90000/.exec(v);
    if (m) rtpmaps.set(Number(m[1]), (m[2] ?? '').toUpperCase());
  }
  const fmtps = new Map<number, string>();
  for (const v of attr('fmtp')) {
    const m = /^(\d{1,3}) (.*)$/.exec(v);
    if (m) fmtps.set(Number(m[1]), m[2] ?? '');
  }
  const candidates: { pt: number; fmtp: string; score: number }[] = [];
  for (const pt of mline.slice(3).map(Number)) {
    if (rtpmaps.get(pt) !== 'H264') continue;
    const fmtp = fmtps.get(pt) ?? '';
    const p = fmtpParams(fmtp);
    if (p.get('packetization-mode') !== '1') continue;
    const pli = p.get('profile-level-id');
    if (!acceptsConstrainedBaseline(pli)) continue;
    candidates.push({ pt, fmtp, score: pli === '42e01f' ? 2 : pli?.startsWith('42e0') ? 1 : 0 });
  }
  const best = candidates.sort((a, b) => b.score - a.score)[0];
  if (!best) {
    throw new SdpError('the offer has no H.264 with packetization-mode=1 and a constrained baseline profile');
  }
  const playout = attr('extmap')
    .map((v) => /^(\d{1,2})(?:\/\w+)? (\S+)/.exec(v))
    .find((m) => m?.[2] === PLAYOUT_DELAY_URI);
  return {
    mid,
    payloadType: best.pt,
    fmtp: best.fmtp,
    playoutDelayId: playout ? Number(playout[1]) : undefined,
  };
}

/** Candidates ("a=candidate:…") of a trickle-ICE SDP fragment (RFC 8840), with their mid. */
export function parseSdpFragment(frag: string): { candidate: string; mid: string }[] {
  if (Buffer.byteLength(frag) > MAX_SDP_BYTES) throw new SdpError('SDP fragment too large');
  const out: { candidate: string; mid: string }[] = [];
  let mid = '';
  for (const line of frag.split(/\r?\n/)) {
    if (line === '') continue;
    if (!/^[a-z]=/.test(line))
      throw new SdpError(`malformed SDP fragment line ${JSON.stringify(line.slice(0, 60))}`);
    if (line.startsWith('a=mid:')) mid = line.slice(6);
    else if (line.startsWith('a=candidate:')) out.push({ candidate: line.slice(2), mid });
  }
  return out;
}

/**
 * Takes the ICE candidates out of an SDP (to add them later, one by one), with the mid of the
 * section each was in; also drops "a=end-of-candidates" so the description stays open to trickle.
 */
export function takeCandidates(sdp: string): {
  sdp: string;
  candidates: { candidate: string; mid: string }[];
} {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(/\r?\n/);
  const candidates: { candidate: string; mid: string }[] = [];
  const kept: string[] = [];
  let section: string[] = [];
  const flush = (): void => {
    const mid = section.find((l) => l.startsWith('a=mid:'))?.slice(6) ?? '';
    for (const l of section) {
      if (l.startsWith('a=candidate:')) candidates.push({ candidate: l.slice(2), mid });
      else if (l !== 'a=end-of-candidates') kept.push(l);
    }
    section = [];
  };
  for (const l of lines) {
    if (l.startsWith('m=')) flush();
    section.push(l);
  }
  flush();
  return { sdp: kept.join(eol), candidates };
}

/**
 * With an advertised address (ICE_ADVERTISED_ADDRESS: the host's address when our UDP ports are
 * published 1:1 from a container, or a 1:1 NAT), a host candidate is offered twice: first at the
 * advertised address, then as gathered (for viewers that reach us directly). Other candidates and
 * lines are left as they are. `candidate` is "candidate:…" (no "a=").
 */
export function advertisedCandidates(candidate: string, address: string | undefined): string[] {
  if (address === undefined) return [candidate];
  // candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> …
  const f = candidate.split(' ');
  if (f.length < 8 || f[6] !== 'typ' || f[7] !== 'host' || f[4] === address) return [candidate];
  f[4] = address;
  return [f.join(' '), candidate];
}

/** advertisedCandidates() over every "a=candidate:" line of an SDP. */
export function advertiseInSdp(sdp: string, address: string | undefined): string {
  if (address === undefined) return sdp;
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp
    .split(eol)
    .flatMap((l) =>
      l.startsWith('a=candidate:') ? advertisedCandidates(l.slice(2), address).map((c) => `a=${c}`) : [l],
    )
    .join(eol);
}
