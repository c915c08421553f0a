// The small pure parts: configuration, tokens, ICE servers, SDP offers, RTCP feedback, the cursor
// wire format and the page's letterbox mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  REDACTED,
  readConfig,
  redactConfig,
  redactSecrets,
  secretPartsOf,
} from '@qemu-webrtc/common';
import { TokenStore, parseTokens, requestToken } from '../src/auth.js';
import { signalingConfigShape } from '../src/config.js';
import { parseIceServers, toBrowserIceServer, toNdcIceServer } from '../src/ice-servers.js';
import { rtcConfigOf } from '../src/service.js';
import { parseRtcp } from '../src/rtcp.js';
import {
  SdpError,
  advertiseInSdp,
  advertisedCandidates,
  parseSdpFragment,
  parseVideoOffer,
} from '../src/sdp.js';
import { rtpTimestamp } from '../src/stream-hub.js';

test('configuration: defaults, tokens, ICE servers and port range; bad values named', () => {
  const c = readConfig(signalingConfigShape, {});
  assert.equal(c.SIGNALING_PORT, 8080);
  assert.equal(c.SIGNALING_TOKENS, undefined);
  assert.deepEqual(c.ICE_SERVERS, []);
  const d = readConfig(signalingConfigShape, {
    SIGNALING_TOKENS: 'token1:control, token2:view',
    ICE_SERVERS: 'stun:stun.example.org:3478,turn:u%40x:p@turn.example.org?transport=tcp',
    ICE_PORT_RANGE: '40000-40010',
    ICE_UDP_MUX: 'yes',
    ICE_BIND_ADDRESS: '127.0.0.1',
  });
  assert.deepEqual(
    [...(d.SIGNALING_TOKENS ?? new Map())],
    [
      ['token1', 'control'],
      ['token2', 'view'],
    ],
  );
  assert.deepEqual(rtcConfigOf(d), {
    iceServers: [
      'stun:stun.example.org:3478',
      { hostname: 'turn.example.org', port: 3478, username: 'u@x', password: 'p', relayType: 'TurnTcp' },
    ],
    bindAddress: '127.0.0.1',
    portRangeBegin: 40000,
    portRangeEnd: 40010,
    enableIceUdpMux: true,
  });
  for (const [k, v] of [
    ['SIGNALING_TOKENS', 'secret1:admin'],
    ['SIGNALING_TOKENS', 'secret 2:view'],
    ['SIGNALING_TOKENS', 'secret3:view,secret3:control'],
    ['ICE_SERVERS', 'http://x'],
    ['ICE_SERVERS', 'turn:host:3478'],
    ['ICE_PORT_RANGE', '10-5'],
    ['ICE_PORT_RANGE', '70000'],
    ['SIGNALING_PORT', 'x'],
    ['DEFAULT_RENDITION', 'a.b'],
  ] as const) {
    assert.throws(
      () => readConfig(signalingConfigShape, { [k]: v }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, new RegExp(k));
        assert.doesNotMatch(e.message, /secret/, 'token values are not echoed');
        return true;
      },
    );
  }
});

test('configuration: tokens and TURN passwords are secret; the configuration line shows neither', () => {
  for (const [name, schema] of Object.entries(signalingConfigShape)) {
    const marked = secretPartsOf(schema, 'x') !== undefined;
    const expected = /PASSWORD|TOKEN|SECRET/.test(name) || name === 'ICE_SERVERS' || name === 'NATS_URL';
    assert.equal(marked, expected, `${name} ${expected ? 'must' : 'need not'} be marked secret`);
  }
  const env = {
    SIGNALING_TOKENS: 'ctl-tok-0001:control,view-tok-0002:view',
    ICE_SERVERS: 'stun:stun.example.org,turn:alice:turn%2Fpw%40x@turn.example.org:3478?transport=tcp',
  };
  assert.deepEqual(secretPartsOf(signalingConfigShape.SIGNALING_TOKENS, env.SIGNALING_TOKENS), [
    'ctl-tok-0001',
    'view-tok-0002',
  ]);
  assert.deepEqual(secretPartsOf(signalingConfigShape.ICE_SERVERS, env.ICE_SERVERS), [
    'turn%2Fpw%40x',
    'turn/pw@x',
  ]);
  const config = readConfig(signalingConfigShape, env);
  const line = JSON.stringify(redactConfig(signalingConfigShape, config, env));
  assert.match(line, new RegExp(`"SIGNALING_TOKENS":"\\[redacted\\]:control,\\[redacted\\]:view"`));
  assert.match(line, /turn:alice:\[redacted\]@turn\.example\.org:3478/);
  for (const secret of ['ctl-tok-0001', 'view-tok-0002', 'turn%2Fpw%40x', 'turn/pw@x']) {
    assert.ok(!line.includes(secret), secret);
    assert.equal(redactSecrets(`x ${secret} y`), `x ${REDACTED} y`, 'known to every logger');
  }
  // An entry too malformed to parse: its error message cannot show its password either.
  assert.throws(
    () => readConfig(signalingConfigShape, { ICE_SERVERS: 'turn:bob:malformed-pw-77@bad host' }),
    ConfigError,
  );
  assert.equal(redactSecrets('malformed-pw-77'), REDACTED);
});

test('tokens: roles, a generated control token, Bearer only', () => {
  const store = new TokenStore(parseTokens('abc:control,def:view'));
  assert.equal(store.generated, undefined);
  assert.equal(store.roleOf('abc'), 'control');
  assert.equal(store.roleOf('def'), 'view');
  assert.equal(store.roleOf('abd'), undefined);
  assert.equal(store.roleOf(''), undefined);
  assert.equal(store.roleOf(undefined), undefined);
  const generated = new TokenStore(undefined);
  assert.match(generated.generated ?? '', /^[A-Za-z0-9_-]{24}$/);
  assert.equal(redactSecrets(`#token=${generated.generated}`), `#token=${REDACTED}`, 'never logged');
  assert.equal(generated.roleOf(generated.generated), 'control');
  assert.equal(requestToken({ authorization: 'Bearer xyz' }), 'xyz');
  assert.equal(requestToken({ authorization: 'bearer  xyz ' }), 'xyz');
  assert.equal(requestToken({ authorization: 'Basic xyz' }), undefined, 'a wrong scheme is not skipped');
  assert.equal(requestToken({}), undefined);
  assert.deepEqual(store.identify('abc')?.role, 'control');
  assert.notEqual(store.identify('abc')?.id, 'abc', 'the id is no copy of the token');
  assert.notEqual(store.identify('abc')?.id, store.identify('def')?.id);
});

test('ICE servers: browser and node-datachannel forms', () => {
  const [stun, turns] = parseIceServers('stun:[::1]:19302, turns:me:secret@relay.example.org');
  assert.ok(stun && turns);
  assert.deepEqual(toBrowserIceServer(stun), { urls: 'stun:[::1]:19302' });
  assert.deepEqual(toBrowserIceServer(turns), {
    urls: 'turns:relay.example.org:5349',
    username: 'me',
    credential: 'secret',
  });
  assert.deepEqual(toNdcIceServer(turns), {
    hostname: 'relay.example.org',
    port: 5349,
    username: 'me',
    password: 'secret',
    relayType: 'TurnTls',
  });
  assert.throws(() => parseIceServers('turn:me:pw@'), /bad ICE server/);
});

/** An offer as Chromium writes it (abridged): several H.264 formats, VP8, RTX, a data channel. */
const chromeOffer = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 127',
  'c=IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=fingerprint:sha-256 00:11',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:12 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'a=recvonly',
  'a=rtcp-mux',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:103 H264/90000',
  'a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
  'a=rtpmap:106 H264/90000',
  'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
  'a=rtpmap:107 H264/90000',
  'a=fmtp:107 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f',
  'a=rtpmap:127 H264/90000',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
  'a=mid:1',
  '',
].join('\r\n');

test('SDP: the H.264 format to answer with, and clear errors for offers we cannot serve', () => {
  const v = parseVideoOffer(chromeOffer);
  assert.deepEqual(v, {
    mid: '0',
    payloadType: 106,
    fmtp: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    playoutDelayId: 12,
  });
  const only42001f = chromeOffer
    .replace(/^a=fmtp:106 .*\r\n/m, '')
    .replace('a=rtpmap:106 H264/90000\r\n', '');
  assert.equal(parseVideoOffer(only42001f).payloadType, 102, 'baseline is fine too');
  const cases: [string, RegExp][] = [
    ['', /v=0/],
    ['v=0\r\nbogus line\r\n', /malformed/],
    ['v=0\r\nm=audio 9 RTP/AVP 0\r\n', /no video/],
    [chromeOffer.replace('m=video 9', 'm=video 0'), /rejects video/],
    [chromeOffer.replace('a=recvonly', 'a=sendonly'), /recvonly/],
    [chromeOffer.replace('a=mid:0', 'a=mid:bad mid'), /a=mid/],
    [chromeOffer.replace(/packetization-mode=1/g, 'packetization-mode=0'), /no H\.264/],
    [chromeOffer.replace(/profile-level-id=42[0-9a-f]{4}/g, 'profile-level-id=640c1f'), /no H\.264/],
    [`${chromeOffer}${'a=x\r\n'.repeat(20000)}`, /larger than/],
  ];
  for (const [sdp, message] of cases) {
    assert.throws(
      () => parseVideoOffer(sdp),
      (e: unknown) => e instanceof SdpError && message.test(e.message),
    );
  }
  assert.deepEqual(
    parseSdpFragment('a=ice-ufrag:x\r\na=mid:0\r\na=candidate:1 1 UDP 1 127.0.0.1 9 typ host\r\n'),
    [{ candidate: 'candidate:1 1 UDP 1 127.0.0.1 9 typ host', mid: '0' }],
  );
  assert.throws(() => parseSdpFragment('nonsense'), SdpError);
});

test('RTCP: PLI, FIR, NACK and receiver reports in a compound packet; garbage stops parsing', () => {
  const rr = Buffer.alloc(32);
  rr.writeUInt8(0x81, 0); // V=2, RC=1
  rr.writeUInt8(201, 1);
  rr.writeUInt16BE(7, 2);
  rr.writeUInt32BE(0x1111, 4);
  rr.writeUInt32BE(0x2222, 8);
  rr.writeUInt32BE((64 << 24) | 12, 12); // fraction lost 64/256, cumulative 12
  rr.writeUInt32BE(0x10005, 16); // extended highest sequence: 1 cycle, 5
  rr.writeUInt32BE(90, 20); // jitter
  const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
  const fir = Buffer.from([0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 5, 0, 0, 0]);
  const nack = Buffer.from([0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 10, 0, 0]);
  const fb = parseRtcp(Buffer.concat([rr, pli, fir, nack]));
  assert.deepEqual(fb, {
    pli: 1,
    fir: 1,
    nack: 1,
    reports: [{ ssrc: 0x2222, fractionLost: 0.25, cumulativeLost: 12, highestSequence: 0x10005, jitter: 90 }],
  });
  assert.deepEqual(parseRtcp(Buffer.from([0x81, 206, 0, 50, 1, 2])), {
    pli: 0,
    fir: 0,
    nack: 0,
    reports: [],
  });
  assert.deepEqual(parseRtcp(Buffer.from([0x00, 0x00])), { pli: 0, fir: 0, nack: 0, reports: [] });
});

test('advertised address: host candidates also offered at it, others untouched', () => {
  const host = 'candidate:1 1 UDP 2122317823 172.18.0.5 40001 typ host';
  assert.deepEqual(advertisedCandidates(host, '198.51.100.7'), [
    'candidate:1 1 UDP 2122317823 198.51.100.7 40001 typ host',
    host,
  ]);
  assert.deepEqual(advertisedCandidates(host, undefined), [host]);
  const srflx = 'candidate:2 1 UDP 1686052607 203.0.113.4 40001 typ srflx raddr 172.18.0.5 rport 40001';
  assert.deepEqual(advertisedCandidates(srflx, '198.51.100.7'), [srflx]);
  assert.deepEqual(advertisedCandidates('garbage', '198.51.100.7'), ['garbage']);
  const sdp = [
    'v=0',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    `a=${host}`,
    `a=${srflx}`,
    'a=end-of-candidates',
    '',
  ].join('\r\n');
  assert.equal(
    advertiseInSdp(sdp, '198.51.100.7'),
    [
      'v=0',
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      'a=candidate:1 1 UDP 2122317823 198.51.100.7 40001 typ host',
      `a=${host}`,
      `a=${srflx}`,
      'a=end-of-candidates',
      '',
    ].join('\r\n'),
  );
  assert.throws(
    () => readConfig(signalingConfigShape, { ICE_ADVERTISED_ADDRESS: 'example.org' }),
    ConfigError,
  );
});

test('RTP timestamps: 90 kHz from microseconds, wrapped to 32 bits', () => {
  assert.equal(rtpTimestamp(0), 0);
  assert.equal(rtpTimestamp(1_000_000), 90_000);
  const t = rtpTimestamp(1_767_225_600_000_000);
  assert.ok(t >= 0 && t < 2 ** 32);
  assert.equal((rtpTimestamp(1_767_225_600_033_333) - t + 2 ** 32) % 2 ** 32, 2999);
});

test('the page maps pointer positions through the letterbox to console pixels', async () => {
  // Compiled from web/src/geometry.ts by the web project.
  const { containBox, toConsole, withoutPadding } = (await import(
    new URL('../../web/dist/geometry.js', import.meta.url).href
  )) as {
    containBox: (
      bw: number,
      bh: number,
      vw: number,
      vh: number,
    ) => { left: number; top: number; width: number; height: number };
    toConsole: (
      x: number,
      y: number,
      box: { left: number; top: number; width: number; height: number },
      cw: number,
      ch: number,
      clamp?: boolean,
    ) => { x: number; y: number } | undefined;
    withoutPadding: (
      box: { left: number; top: number; width: number; height: number },
      vw: number,
      vh: number,
      cw: number,
      ch: number,
    ) => { left: number; top: number; width: number; height: number };
  };
  // A 1024x768 picture in a 1000x500 box: pillarboxed, scale 500/768.
  const box = containBox(1000, 500, 1024, 768);
  assert.deepEqual(box, {
    left: (1000 - 1024 * (500 / 768)) / 2,
    top: 0,
    width: 1024 * (500 / 768),
    height: 500,
  });
  assert.equal(toConsole(box.left - 1, 10, box, 1024, 768), undefined, 'on the bar');
  assert.deepEqual(toConsole(box.left, 0, box, 1024, 768), { x: 0, y: 0 });
  assert.deepEqual(toConsole(box.left + box.width - 0.01, 499.99, box, 1024, 768), { x: 1023, y: 767 });
  assert.deepEqual(toConsole(500, 250, box, 1024, 768), { x: 512, y: 384 });
  assert.deepEqual(
    toConsole(box.left - 50, 600, box, 1024, 768, true),
    { x: 0, y: 767 },
    'clamped while dragging',
  );
  // A half-size rendition still maps to the console's own pixels.
  const half = containBox(512, 384, 512, 384);
  assert.deepEqual(toConsole(256, 192, half, 1024, 768), { x: 512, y: 384 });
  assert.equal(withoutPadding(half, 512, 384, 1024, 768), half, 'a scaled rendition has no padding');
  // A 1023x767 console comes as 1024x768 video (4:2:0 padding): shown 1:1, video column c is console
  // column c, and the padding column 1023 maps to no console pixel.
  const odd = withoutPadding(containBox(1024, 768, 1024, 768), 1024, 768, 1023, 767);
  assert.deepEqual(odd, { left: 0, top: 0, width: 1023, height: 767 });
  for (const c of [0, 511, 1022])
    assert.deepEqual(toConsole(c + 0.5, (c >> 1) + 0.5, odd, 1023, 767), { x: c, y: c >> 1 });
  assert.equal(toConsole(1023.5, 10, odd, 1023, 767), undefined, 'the padding column');
  assert.deepEqual(toConsole(1023.5, 766.5, odd, 1023, 767, true), { x: 1022, y: 766 }, 'clamped');
});
