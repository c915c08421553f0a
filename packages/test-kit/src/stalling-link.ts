// A TCP link between a client and a server whose upstream (client -> server) can be stalled while
// the downstream keeps flowing: a congested or half-dead network path. Stands in for what a frozen
// nats-server (SIGSTOP) cannot give: a service that still receives (FrameReady) while nothing it
// publishes gets through.
import { createServer, connect, type Server, type Socket } from 'node:net';

export class StallingLink {
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private stalled = false;

  private constructor(private readonly server: Server) {}

  /** Listens on a free loopback port and forwards every connection to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<StallingLink> {
    const server = createServer();
    const link = new StallingLink(server);
    server.on('connection', (client) => link.forward(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return link;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  private forward(client: Socket, targetPort: number): void {
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    if (this.stalled) client.pause();
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  }

  /** Stops reading what clients send: their socket buffers fill and their writes go nowhere. */
  stallUpstream(): void {
    this.stalled = true;
    for (const { client } of this.pairs) {
      client.unpipe();
      client.pause();
    }
  }

  resume(): void {
    this.stalled = false;
    for (const { client, upstream } of this.pairs) {
      client.pipe(upstream);
      client.resume();
    }
  }

  close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
