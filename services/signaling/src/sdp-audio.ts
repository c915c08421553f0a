import { MAX_SDP_BYTES } from './sdp.js';

/** What we answer an offer's audio section with: Opus at 48 kHz, stereo. */
export const OPUS_PAYLOAD_TYPE = 111;

export interface OfferedAudio {
  mid: string;
  payloadType: number;
}

/**
 * The audio section of a client's (WHEP) offer and its Opus payload type, or undefined when it has
 * none we can send to (no audio section, rejected, sendonly/inactive, or no opus/48000/2). The
 * offer's syntax is checked by parseVideoOffer first.
 */
export function parseAudioOffer(sdp: string): OfferedAudio | undefined {
  if (Buffer.byteLength(sdp) > MAX_SDP_BYTES) return undefined;
  const sections: string[][] = [];
  for (const l of sdp.split(/\r?\n/)) {
    if (l.startsWith('m=')) sections.push([l]);
    else sections.at(-1)?.push(l);
  }
  const audio = sections.find((s) => s[0]?.startsWith('m=audio '));
  if (!audio) return undefined;
  const mline = (audio[0] ?? '').split(' ');
  if (mline.length < 4 || mline[1] === '0') return undefined;
  if (audio.includes('a=sendonly') || audio.includes('a=inactive')) return undefined;
  const mid = audio.find((l) => l.startsWith('a=mid:'))?.slice(6);
  if (mid === undefined || !/^[A-Za-z0-9_.-]{1,32}$/.test(mid)) return undefined;
  const offered = new Set(mline.slice(3).map(Number));
  for (const l of audio) {
    const m = /^a=rtpmap:(\d{1,3}) opus\/48000(?:\/2)?$/i.exec(l.trim());
    if (m && offered.has(Number(m[1]))) return { mid, payloadType: Number(m[1]) };
  }
  return undefined;
}
