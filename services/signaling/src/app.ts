import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import fastifyWebsocket from '@fastify/websocket';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import {
  WS_HARD_LIMIT_BYTES,
  type BrowserIceServer,
  type ConsoleList,
  type Logger,
  type Role,
} from '@qemu-webrtc/common';
import { requestToken, type TokenStore } from './auth.js';
import type { ConsoleDirectory } from './console-directory.js';
import type { SignalingMetrics } from './metrics.js';
import { answerOversizedBodies } from './oversized-body.js';
import { MAX_SDP_BYTES, SdpError, parseSdpFragment } from './sdp.js';
import { CapacityError, type ViewerManager } from './viewer-manager.js';
import type { SerialHub } from './serial-hub.js';
import { WsSession } from './ws-session.js';

/** The browser client's files: web/public (HTML, CSS) and web/dist (compiled scripts). */
export const defaultWebDir = fileURLToPath(new URL('../../web', import.meta.url));

/** npm packages the page loads as they ship (the serial console's xterm.js): URL prefix -> folder. */
const require = createRequire(import.meta.url);
const VENDOR = [
  { prefix: '/vendor/xterm/', dir: dirname(require.resolve('@xterm/xterm/package.json')) },
  { prefix: '/vendor/xterm-addon-fit/', dir: dirname(require.resolve('@xterm/addon-fit/package.json')) },
];
/** Only these files of theirs are served. */
const VENDOR_FILES = new Set(['/lib/xterm.mjs', '/css/xterm.css', '/lib/addon-fit.mjs']);

export interface AppDeps {
  logger: Logger;
  tokens: TokenStore;
  consoles: ConsoleDirectory;
  viewers: ViewerManager;
  metrics: SignalingMetrics;
  iceServers: BrowserIceServer[];
  defaultRendition: string;
  /** WebSockets without their token yet, at most, at once (default 64). */
  maxUnauthenticatedSockets?: number;
  /** Whether the service is up: all the public /health tells. */
  up: () => boolean;
  webDir?: string;
  https?: { cert: Buffer; key: Buffer };
  /** Serial consoles over the WebSocket (serial-hub.ts). */
  serial?: SerialHub;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const CONSOLE = /^\d{1,5}$/;

const HTML_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

interface VmParams {
  vm: string;
  console: string;
}

function parseConsole(p: VmParams): { vmId: string; consoleId: number } | undefined {
  if (!ID.test(p.vm) || !CONSOLE.test(p.console)) return undefined;
  const consoleId = Number(p.console);
  return consoleId <= 65535 ? { vmId: p.vm, consoleId } : undefined;
}

function problem(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=utf-8').send(`${message}\n`);
}

/**
 * The HTTP side of signaling, built without listening (tests use inject/injectWS):
 * GET / and /view/:vm/:console (the browser client, token in the URL's #fragment), GET
 * /api/consoles, GET /health (up or not, nothing else), WebSocket /ws (authenticated by its first
 * message), and WHEP: POST /whep/:vm/:console, PATCH/DELETE /whep/session/:id (the same token).
 * /metrics is on the metrics port (service.ts), not here.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MAX_SDP_BYTES,
    ...(deps.https ? { https: deps.https } : {}),
  }) as unknown as FastifyInstance;
  const webDir = deps.webDir ?? defaultWebDir;
  answerOversizedBodies(app, MAX_SDP_BYTES, () => deps.metrics.rejected.inc({ reason: 'http_413' }));

  const roleOf = (req: FastifyRequest): Role | undefined => deps.tokens.roleOf(requestToken(req.headers));

  const unauthorized = (reply: FastifyReply, json: boolean): FastifyReply => {
    deps.metrics.rejected.inc({ reason: 'unauthorized' });
    void reply.code(401).header('www-authenticate', 'Bearer realm="qemu-webrtc"');
    return json
      ? reply.send({
          error: 'unauthorized',
          message: 'a valid token is needed: Authorization: Bearer <token>',
        })
      : problem(reply, 401, 'a valid token is needed: Authorization: Bearer <token>');
  };

  app.addContentTypeParser(
    ['application/sdp', 'application/trickle-ice-sdpfrag'],
    { parseAs: 'string', bodyLimit: MAX_SDP_BYTES },
    (_req, body, done) => done(null, body),
  );

  app.setErrorHandler((error: { statusCode?: number; message: string }, req, reply) => {
    const status =
      error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500
        ? error.statusCode
        : 500;
    if (status === 500) req.log.error({ err: error }, 'request failed');
    deps.metrics.rejected.inc({ reason: `http_${status}` });
    return problem(reply, status, status === 500 ? 'internal error' : error.message);
  });

  await app.register(fastifyWebsocket, {
    options: { maxPayload: WS_HARD_LIMIT_BYTES },
    // A peer that breaks the WebSocket protocol (unmasked or oversized frames, bad opcodes) is
    // counted and dropped: not an error of ours, and not worth a stack trace per socket.
    errorHandler: (error, socket) => {
      deps.metrics.rejected.inc({ reason: 'ws_protocol_error' });
      deps.logger.debug({ err: error }, 'WebSocket protocol error; socket dropped');
      socket.terminate();
    },
  });

  // --- the browser client ---
  const publicDir = join(webDir, 'public');
  const distDir = join(webDir, 'dist');
  await app.register(fastifyStatic, {
    root: publicDir,
    prefix: '/static/',
    index: false,
    setHeaders: (res) => {
      res.setHeader('x-content-type-options', 'nosniff');
    },
  });
  await app.register(fastifyStatic, {
    root: distDir,
    prefix: '/js/',
    decorateReply: false,
    index: false,
    setHeaders: (res) => {
      res.setHeader('x-content-type-options', 'nosniff');
    },
  });
  for (const v of VENDOR) {
    await app.register(fastifyStatic, {
      root: v.dir,
      prefix: v.prefix,
      decorateReply: false,
      index: false,
      allowedPath: (path) => VENDOR_FILES.has(path),
      setHeaders: (res) => {
        res.setHeader('x-content-type-options', 'nosniff');
      },
    });
  }
  const page = (name: string): string | undefined => {
    const path = join(publicDir, name);
    return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  };
  const sendPage = (reply: FastifyReply, name: string): FastifyReply => {
    const html = page(name);
    if (html === undefined) return problem(reply, 500, `the browser client is not built (${name} missing)`);
    return reply.headers(HTML_HEADERS).type('text/html; charset=utf-8').send(html);
  };
  app.get('/', (_req, reply) => sendPage(reply, 'index.html'));
  app.get('/favicon.ico', (_req, reply) => reply.code(204).send());
  app.get<{ Params: VmParams }>('/view/:vm/:console', (req, reply) => {
    if (!parseConsole(req.params)) return problem(reply, 404, 'no such console');
    return sendPage(reply, 'player.html');
  });

  // --- API ---
  app.get('/api/consoles', (req, reply) => {
    const role = roleOf(req);
    if (!role) return unauthorized(reply, true);
    return reply
      .header('cache-control', 'no-store')
      .send({ role, consoles: deps.consoles.list() } satisfies ConsoleList);
  });
  // Public: up or not, nothing about streams or viewers (the metrics port has the details).
  app.get('/health', (_req, reply) => {
    const ok = deps.up();
    return reply
      .code(ok ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ ok });
  });

  // --- WebSocket signaling: the token comes in the first message, never in the URL ---
  // Sockets without their token yet cost us memory and a timer each and prove nothing: bounded.
  const maxPending = deps.maxUnauthenticatedSockets ?? 64;
  let pending = 0;
  const tooManyPending = (): boolean => {
    if (pending < maxPending) return false;
    deps.metrics.rejected.inc({ reason: 'ws_too_many_unauthenticated' });
    return true;
  };
  const refuseUpgrade = async (
    _req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<FastifyReply | undefined> =>
    tooManyPending()
      ? problem(reply.header('retry-after', '5'), 503, 'too many connections are waiting to authenticate')
      : undefined;
  app.get('/ws', { websocket: true, preValidation: refuseUpgrade }, (socket) => {
    // Upgrades that passed the check together may still be too many.
    if (tooManyPending()) {
      socket.close(1013, 'too many unauthenticated connections');
      return;
    }
    pending++;
    new WsSession(socket, {
      settled: () => pending--,
      authenticate: (token) => deps.tokens.roleOf(token),
      viewers: deps.viewers,
      consoles: deps.consoles,
      metrics: deps.metrics,
      logger: deps.logger.child({ component: 'ws' }),
      iceServers: deps.iceServers,
      defaultRendition: deps.defaultRendition,
      ...(deps.serial ? { serial: deps.serial } : {}),
    });
  });

  // --- WHEP (RFC 9725) ---
  const whepLinks = deps.iceServers.map((s) => {
    const cred =
      s.username !== undefined
        ? `; username="${s.username}"; credential="${s.credential ?? ''}"; credential-type="password"`
        : '';
    return `<${s.urls}>; rel="ice-server"${cred}`;
  });
  const cors = (reply: FastifyReply): FastifyReply =>
    reply.headers({
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'POST, PATCH, DELETE, OPTIONS',
      'access-control-allow-headers': 'authorization, content-type, if-match',
      'access-control-expose-headers': 'location, link, etag, accept-patch',
    });
  app.options('/whep/:vm/:console', (_req, reply) =>
    cors(reply).code(204).header('accept-post', 'application/sdp').send(),
  );
  app.options('/whep/session/:id', (_req, reply) =>
    cors(reply).code(204).header('accept-patch', 'application/trickle-ice-sdpfrag').send(),
  );
  const mediaType = (req: FastifyRequest): string | undefined =>
    req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  // Before a WHEP body is read: who asks, and is the body of the right kind at all.
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route === '/whep/:vm/:console' && req.method === 'POST') {
      cors(reply);
      if (!roleOf(req)) return unauthorized(reply, false);
      if (mediaType(req) !== 'application/sdp') {
        return problem(reply, 415, 'the offer must be sent as Content-Type: application/sdp');
      }
    } else if (route === '/whep/session/:id' && (req.method === 'PATCH' || req.method === 'DELETE')) {
      cors(reply);
      if (!roleOf(req)) return unauthorized(reply, false);
      if (req.method === 'PATCH' && mediaType(req) !== 'application/trickle-ice-sdpfrag') {
        return problem(reply, 415, 'expected Content-Type: application/trickle-ice-sdpfrag');
      }
    }
    return undefined;
  });
  /**
   * A WHEP session answers only to the token that created it, with its role (RFC 9725: the
   * session URL is no bearer credential of its own).
   */
  const ownedSession = (req: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    const who = deps.tokens.identify(requestToken(req.headers));
    if (!who) return { refused: unauthorized(reply, false) };
    const session = deps.viewers.whep(req.params.id);
    if (!session) return { refused: problem(reply, 404, 'no such WHEP session') };
    if (session.owner !== who.id || session.viewer.opts.role !== who.role) {
      deps.metrics.rejected.inc({ reason: 'whep_session_forbidden' });
      return {
        refused: problem(reply, 403, 'this WHEP session was created with another token: use that one'),
      };
    }
    return { viewer: session.viewer };
  };
  app.post<{ Params: VmParams; Querystring: { rendition?: string } }>(
    '/whep/:vm/:console',
    async (req, reply) => {
      const who = deps.tokens.identify(requestToken(req.headers));
      if (!who) return unauthorized(reply, false);
      const role = who.role;
      const target = parseConsole(req.params);
      // A viewer that names a rendition keeps it; otherwise its link chooses.
      const rendition = req.query.rendition ?? deps.defaultRendition;
      if (!target || !ID.test(rendition)) return problem(reply, 404, 'no such console');
      const entry = deps.consoles.get(target.vmId, target.consoleId);
      if (!entry?.graphic)
        return problem(reply, 404, `no console ${target.consoleId} of VM "${target.vmId}" is known here`);
      if (!entry.running) {
        return problem(reply.header('retry-after', '5'), 503, `VM "${target.vmId}" is not running`);
      }
      const offer = typeof req.body === 'string' ? req.body : '';
      let session: { answer: string; resource: string };
      try {
        session = await deps.viewers.answer(
          role,
          { ...target, rendition },
          offer,
          req.query.rendition === undefined,
          who.id,
          entry.hasAudio,
        );
      } catch (error) {
        if (error instanceof SdpError) {
          deps.metrics.rejected.inc({ reason: 'bad_sdp' });
          return problem(
            reply,
            error.message.startsWith('the offer has no H.264') ? 406 : 400,
            error.message,
          );
        }
        if (error instanceof CapacityError)
          return problem(reply.header('retry-after', '10'), 503, error.message);
        // libdatachannel refused the SDP: the offer is at fault (we built nothing else).
        deps.metrics.rejected.inc({ reason: 'bad_sdp' });
        return problem(
          reply,
          400,
          `the offer was refused: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      void reply
        .code(201)
        .type('application/sdp')
        .header('location', `/whep/session/${session.resource}`)
        .header('accept-patch', 'application/trickle-ice-sdpfrag');
      if (whepLinks.length > 0) void reply.header('link', whepLinks);
      return reply.send(session.answer);
    },
  );
  app.patch<{ Params: { id: string } }>('/whep/session/:id', (req, reply) => {
    const { viewer, refused } = ownedSession(req, reply);
    if (!viewer) return refused;
    const frag = typeof req.body === 'string' ? req.body : '';
    if (/^a=ice-(ufrag|pwd):/m.test(frag) && !/^a=candidate:/m.test(frag)) {
      return problem(reply, 405, 'ICE restarts are not supported: start a new session');
    }
    try {
      for (const c of parseSdpFragment(frag)) viewer.addRemoteCandidate(c.candidate, c.mid);
    } catch (error) {
      return problem(reply, 400, error instanceof Error ? error.message : String(error));
    }
    return reply.code(204).send();
  });
  app.delete<{ Params: { id: string } }>('/whep/session/:id', (req, reply) => {
    const { viewer, refused } = ownedSession(req, reply);
    if (!viewer) return refused;
    viewer.close('WHEP session deleted');
    return reply.code(200).send();
  });

  return app;
}
