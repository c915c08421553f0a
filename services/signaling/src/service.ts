import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { cleanup as rtcCleanup, type RtcConfig } from 'node-datachannel';
import {
  BadInputLog,
  bodyMatchesConsoleSubject,
  connectNats,
  drainNats,
  startMetricsServer,
  type MetricsServer,
  subjects,
  subscribeProto,
  type Logger,
  type NatsConnection,
} from '@qemu-webrtc/common';
import { qemu_webrtc } from '@qemu-webrtc/proto';
import { buildApp } from './app.js';
import { TokenStore } from './auth.js';
import type { SignalingConfig } from './config.js';
import { AudioHub } from './audio-hub.js';
import { ConsoleDirectory } from './console-directory.js';
import { CursorHub } from './cursor-hub.js';
import { SerialHub } from './serial-hub.js';
import { EncoderWatch } from './encoder-watch.js';
import { toBrowserIceServer, toNdcIceServer } from './ice-servers.js';
import { SignalingMetrics } from './metrics.js';
import type { AdaptationSettings } from './adaptation-policy.js';
import { LinkAdapter } from './link-adapter.js';
import { RenditionLadder } from './rendition-ladder.js';
import { StreamHub } from './stream-hub.js';
import { ViewerManager } from './viewer-manager.js';
import { DisplaySizeArbiter } from './display-size.js';
import { subscribeUiInfoResults } from './ui-info-results.js';
import { rtcObjectsAlive } from './viewer.js';

const { ConsoleInfo } = qemu_webrtc.v1;

/** node-datachannel settings from the configuration. */
export function rtcConfigOf(config: SignalingConfig): RtcConfig {
  return {
    iceServers: config.ICE_SERVERS.map(toNdcIceServer),
    ...(config.ICE_BIND_ADDRESS !== undefined ? { bindAddress: config.ICE_BIND_ADDRESS } : {}),
    ...(config.ICE_PORT_RANGE !== undefined
      ? { portRangeBegin: config.ICE_PORT_RANGE.begin, portRangeEnd: config.ICE_PORT_RANGE.end }
      : {}),
    ...(config.ICE_UDP_MUX ? { enableIceUdpMux: true } : {}),
  };
}

/**
 * The signaling service: keeps the list of consoles from capture's ConsoleInfo, serves the browser
 * client and the API, and connects viewers (WebSocket signaling or WHEP) to encoded streams.
 */
export class SignalingService {
  /** Services alive in this process: libdatachannel's global cleanup waits for the last one. */
  private static live = 0;
  readonly metrics: SignalingMetrics;
  readonly consoles: ConsoleDirectory;
  readonly tokens: TokenStore;
  readonly hub: StreamHub;
  readonly cursors: CursorHub;
  readonly viewers: ViewerManager;
  readonly ladder: RenditionLadder;
  readonly adapter: LinkAdapter;
  readonly encoders: EncoderWatch;
  readonly serial: SerialHub;
  private readonly badInput: BadInputLog;
  private destroyed = false;
  private listening = false;
  private metricsServer: MetricsServer | undefined;

  private constructor(
    readonly config: SignalingConfig,
    private readonly logger: Logger,
    private readonly nc: NatsConnection,
    readonly app: FastifyInstance,
    parts: {
      metrics: SignalingMetrics;
      consoles: ConsoleDirectory;
      tokens: TokenStore;
      hub: StreamHub;
      cursors: CursorHub;
      viewers: ViewerManager;
      ladder: RenditionLadder;
      adapter: LinkAdapter;
      encoders: EncoderWatch;
      badInput: BadInputLog;
      serial: SerialHub;
    },
  ) {
    this.serial = parts.serial;
    this.metrics = parts.metrics;
    this.consoles = parts.consoles;
    this.tokens = parts.tokens;
    this.hub = parts.hub;
    this.cursors = parts.cursors;
    this.viewers = parts.viewers;
    this.ladder = parts.ladder;
    this.adapter = parts.adapter;
    this.encoders = parts.encoders;
    this.badInput = parts.badInput;
  }

  static async create(config: SignalingConfig, logger: Logger): Promise<SignalingService> {
    if (config.ICE_UDP_MUX && config.ICE_PORT_RANGE === undefined) {
      throw new Error('ICE_UDP_MUX needs ICE_PORT_RANGE: the UDP port every viewer shares');
    }
    if ((config.TLS_CERT === undefined) !== (config.TLS_KEY === undefined)) {
      throw new Error('TLS_CERT and TLS_KEY go together: set both or neither');
    }
    const https =
      config.TLS_CERT !== undefined && config.TLS_KEY !== undefined
        ? { cert: readFileSync(config.TLS_CERT), key: readFileSync(config.TLS_KEY) }
        : undefined;
    const nc = await connectNats(
      { url: config.NATS_URL, user: config.NATS_USER, password: config.NATS_PASSWORD, name: 'signaling' },
      logger.child({ component: 'nats' }),
    );
    const metrics = new SignalingMetrics();
    const badInput = new BadInputLog(logger.child({ component: 'bad-input' }));
    const consoles = new ConsoleDirectory(config.CONSOLE_STALE_MS);
    const tokens = new TokenStore(config.SIGNALING_TOKENS);
    const ladder = new RenditionLadder();
    const encoders = new EncoderWatch(
      nc,
      ladder,
      config.ENCODER_TIMEOUT_MS,
      logger.child({ component: 'encoders' }),
      badInput,
    );
    const hub = new StreamHub(
      nc,
      metrics,
      logger.child({ component: 'streams' }),
      config.KEYFRAME_MIN_INTERVAL_MS,
      encoders.roster,
      badInput,
    );
    encoders.onJoined = () => hub.renewDemand();
    const cursors = new CursorHub(nc, metrics, badInput);
    const serial = new SerialHub(nc, logger.child({ component: 'serial' }), badInput);
    const audio = new AudioHub(nc, metrics, badInput);
    const adaptation: AdaptationSettings = {
      downAfterMs: config.ADAPT_DOWN_AFTER_MS,
      upAfterMs: config.ADAPT_UP_AFTER_MS,
      bitrateFloor: config.BITRATE_FLOOR,
    };
    const viewers = new ViewerManager(
      {
        nc,
        hub,
        cursors,
        sizes: new DisplaySizeArbiter(),
        audio,
        metrics,
        logger: logger.child({ component: 'viewer' }),
        rtc: rtcConfigOf(config),
        inputRate: config.INPUT_RATE,
        inputBurst: config.INPUT_BURST,
        linkThresholds: { strugglingLoss: config.LINK_STRUGGLING_LOSS, goodLoss: config.LINK_GOOD_LOSS },
        adaptation,
        ...(config.ICE_ADVERTISED_ADDRESS !== undefined
          ? { advertisedAddress: config.ICE_ADVERTISED_ADDRESS }
          : {}),
      },
      config.MAX_VIEWERS,
    );
    const adapter = new LinkAdapter(
      () => viewers.all(),
      ladder,
      nc,
      { ...adaptation, moveViewers: config.ADAPTIVE_RENDITIONS },
      metrics,
      logger.child({ component: 'adaptation' }),
    );
    const holder: { service?: SignalingService } = {};
    const app = await buildApp({
      logger,
      tokens,
      consoles,
      viewers,
      metrics,
      iceServers: config.ICE_SERVERS.map(toBrowserIceServer),
      defaultRendition: config.DEFAULT_RENDITION,
      maxUnauthenticatedSockets: config.WS_MAX_UNAUTHENTICATED,
      up: () => holder.service?.up ?? false,
      ...(config.WEB_DIR !== undefined ? { webDir: config.WEB_DIR } : {}),
      ...(https ? { https } : {}),
      serial,
    });
    const service = new SignalingService(config, logger, nc, app, {
      serial,
      metrics,
      consoles,
      tokens,
      hub,
      cursors,
      viewers,
      ladder,
      adapter,
      encoders,
      badInput,
    });
    holder.service = service;
    SignalingService.live++;
    return service;
  }

  /** Serving: NATS connected (or reconnecting), the public port listening. */
  get up(): boolean {
    return !this.nc.isClosed() && !this.destroyed && this.listening;
  }

  /** The detailed health, on the metrics port only (the public /health says just up or not). */
  health(): { ok: boolean } & Record<string, unknown> {
    return {
      ok: this.up,
      viewers: this.viewers.size,
      rtcObjects: rtcObjectsAlive(),
      streams: this.hub.summary(),
      renditions: this.ladder.ordered().map((r) => r.name),
      consoles: this.consoles.list().length,
    };
  }

  /** The port the server listens on (after start()). */
  get port(): number {
    const address = this.app.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The port of /metrics and the detailed /health (after start()). */
  get metricsPort(): number | undefined {
    return this.metricsServer?.port;
  }

  /** The URL to open (without a token: tokens never go into logs). */
  get url(): string {
    const scheme = this.config.TLS_CERT !== undefined ? 'https' : 'http';
    const host = this.config.HTTP_HOST.includes(':') ? `[${this.config.HTTP_HOST}]` : this.config.HTTP_HOST;
    const base = this.config.SIGNALING_PUBLIC_URL ?? `${scheme}://${host}:${this.port}`;
    return `${base.replace(/\/$/, '')}/`;
  }

  async start(): Promise<void> {
    subscribeProto(
      this.nc,
      subjects.consoleInfoAll,
      ConsoleInfo,
      (info, subject) => {
        // The subject's tokens are valid ids (NATS and subjects.ts see to it); a body naming
        // another console is forged or broken and never reaches the list.
        if (bodyMatchesConsoleSubject(subject, info)) {
          this.consoles.update(info);
          return;
        }
        this.metrics.rejected.inc({ reason: 'console_info_mismatch' });
        this.badInput.warn(
          'console_info_mismatch',
          { subject, vmId: info.vmId.slice(0, 80), consoleId: info.consoleId },
          'ConsoleInfo names another console than its subject: dropped',
        );
      },
      {
        logger: this.logger,
        badInput: this.badInput,
        onBadMessage: () => this.metrics.rejected.inc({ reason: 'bad_console_info' }),
      },
    );
    subscribeUiInfoResults({
      nc: this.nc,
      viewers: this.viewers,
      metrics: this.metrics,
      logger: this.logger,
      badInput: this.badInput,
    });
    await this.nc.flush();
    this.nc.publish(subjects.consoleRefresh);
    this.metricsServer = await startMetricsServer({
      host: this.config.HTTP_HOST,
      port: this.config.METRICS_PORT,
      registry: this.metrics.registry,
      health: () => this.health(),
    });
    await this.app.listen({ host: this.config.HTTP_HOST, port: this.config.SIGNALING_PORT });
    this.listening = true;
    this.logger.info({ url: this.url, metricsPort: this.metricsPort }, `signaling listening on ${this.url}`);
    if (this.tokens.generated !== undefined) this.showGeneratedToken();
  }

  /**
   * The generated token goes to the person at the terminal, once, in a plain line (the fragment of
   * the URL: browsers never send it to a server); never into the log. Without a terminal nobody
   * could read it safely: say how to choose tokens instead.
   */
  private showGeneratedToken(): void {
    if (process.stdout.isTTY) {
      process.stdout.write(
        `\nOpen ${this.url}#token=${this.tokens.generated ?? ''}\n` +
          '(a control token generated for this run; it is shown only here, never logged)\n\n',
      );
    } else {
      this.logger.warn(
        'SIGNALING_TOKENS is not set and the output is not a terminal: a control token was generated ' +
          'but is not shown; set SIGNALING_TOKENS="token:control,..." (deploy/gen-env.sh writes one)',
      );
    }
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.viewers.closeAll('server shutting down');
    this.adapter.close();
    this.encoders.close();
    this.hub.close();
    this.badInput.close();
    this.cursors.close();
    this.serial.close();
    this.viewers.ctx.audio.close();
    if (this.listening) await this.app.close();
    else await this.app.close().catch(() => undefined);
    await this.metricsServer?.close();
    await drainNats(this.nc);
    // With NATS unreachable, a drain can end without closing the connection (it would then
    // reconnect for ever and keep the process alive).
    if (!this.nc.isClosed()) await this.nc.close();
    // libdatachannel's threads keep the process alive (for seconds, or for ever while a callback
    // is registered) until its global cleanup; it also closes any peer connection still open.
    if (--SignalingService.live === 0) rtcCleanup();
  }
}
