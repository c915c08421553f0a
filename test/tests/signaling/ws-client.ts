// A test client for the signaling WebSocket over fastify's injectWS: authenticates with its first
// message as the page does, collects every message and waits for messages by type.
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from '@fastify/websocket';
import { waitFor } from '@qemu-webrtc/test-kit';

export interface WsMessage {
  type: string;
  [key: string]: unknown;
}

export class WsClient {
  readonly messages: WsMessage[] = [];
  closeCode: number | undefined;
  private seen = 0;

  private constructor(readonly ws: WebSocket) {}

  /** Opens /ws and sends {type:"auth", token} (none when `token` is undefined). */
  static async open(app: FastifyInstance, token: string | undefined): Promise<WsClient> {
    let client: WsClient | undefined;
    await app.injectWS(
      '/ws',
      {},
      {
        onInit: (ws) => {
          client = new WsClient(ws);
          ws.on('message', (data: Buffer) => client?.messages.push(JSON.parse(data.toString()) as WsMessage));
          ws.on('close', (code: number) => {
            if (client) client.closeCode = code;
          });
        },
      },
    );
    if (!client) throw new Error('no socket');
    if (token !== undefined) client.send({ type: 'auth', token });
    return client;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message));
  }

  /** The next message (after those already taken) of `type`, and optionally with `code`. */
  async next(type: string, code?: string, timeoutMs = 5000): Promise<WsMessage> {
    return waitFor(
      `a "${type}${code !== undefined ? `/${code}` : ''}" message`,
      () => {
        for (let i = this.seen; i < this.messages.length; i++) {
          const m = this.messages[i];
          if (m && m.type === type && (code === undefined || m.code === code)) {
            this.seen = i + 1;
            return m;
          }
        }
        return undefined;
      },
      timeoutMs,
      10,
    );
  }

  close(): void {
    this.ws.terminate();
  }
}
