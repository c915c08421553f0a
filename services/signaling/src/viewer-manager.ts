import { randomBytes } from 'node:crypto';
import type { Role, StreamKey } from '@qemu-webrtc/common';
import { Viewer, type Transport, type ViewerContext } from './viewer.js';

/** Why a viewer cannot be added. */
export class CapacityError extends Error {
  override readonly name = 'CapacityError';
}

/** Every viewer of this process, the viewer limit, and WHEP resources by id. */
export class ViewerManager {
  private readonly viewers = new Map<string, Viewer>();
  /** WHEP sessions by resource id, with the id of the token that created each (TokenStore). */
  private readonly whepResources = new Map<string, { viewer: Viewer; owner: string }>();
  private closing = false;
  /** Viewers being created (WHEP answers awaiting libdatachannel): they hold a place already. */
  private reserved = 0;

  constructor(
    readonly ctx: ViewerContext,
    private readonly maxViewers: number,
  ) {}

  get size(): number {
    return this.viewers.size;
  }

  /** A viewer by id (undefined once it left). */
  get(id: string): Viewer | undefined {
    return this.viewers.get(id);
  }

  /** Every viewer now. */
  all(): IterableIterator<Viewer> {
    return this.viewers.values();
  }

  private checkCapacity(): void {
    if (this.closing) throw new CapacityError('the server is shutting down');
    if (this.viewers.size + this.reserved >= this.maxViewers) {
      this.ctx.metrics.rejected.inc({ reason: 'too_many_viewers' });
      throw new CapacityError(`this server already has its maximum of ${this.maxViewers} viewers`);
    }
  }

  private track(viewer: Viewer, transport: Transport, whep?: { resource: string; owner: string }): void {
    const resource = whep?.resource;
    this.viewers.set(viewer.id, viewer);
    if (whep !== undefined) this.whepResources.set(whep.resource, { viewer, owner: whep.owner });
    this.ctx.metrics.viewers.inc({ transport });
    viewer.once('closed', () => {
      this.viewers.delete(viewer.id);
      if (resource !== undefined) this.whepResources.delete(resource);
      this.ctx.metrics.viewers.dec({ transport });
    });
  }

  /** Browser client over the WebSocket: we offer. */
  offer(role: Role, stream: StreamKey, adaptive: boolean, audio = false): { viewer: Viewer; offer: string } {
    this.checkCapacity();
    const result = Viewer.createOffering(
      { id: newId('v'), role, stream, transport: 'ws', adaptive, audio },
      this.ctx,
    );
    this.track(result.viewer, 'ws');
    return result;
  }

  /**
   * WHEP: the client offers; returns our answer and the resource id for PATCH/DELETE, which only
   * `owner` (the id of the token that asked) may use.
   */
  async answer(
    role: Role,
    stream: StreamKey,
    offerSdp: string,
    adaptive: boolean,
    owner: string,
    audio = false,
  ): Promise<{ viewer: Viewer; answer: string; resource: string }> {
    this.checkCapacity();
    // The place is taken before the await: concurrent POSTs cannot all pass the check.
    this.reserved++;
    let result: Awaited<ReturnType<typeof Viewer.createAnswering>>;
    try {
      result = await Viewer.createAnswering(
        { id: newId('w'), role, stream, transport: 'whep', adaptive, audio },
        this.ctx,
        offerSdp,
      );
    } finally {
      this.reserved--;
    }
    if (this.closing) {
      result.viewer.close('server shutting down');
      throw new CapacityError('the server is shutting down');
    }
    const resource = randomBytes(16).toString('base64url');
    this.track(result.viewer, 'whep', { resource, owner });
    return { ...result, resource };
  }

  whep(resource: string): { viewer: Viewer; owner: string } | undefined {
    return this.whepResources.get(resource);
  }

  closeAll(reason: string): void {
    this.closing = true;
    for (const v of [...this.viewers.values()]) v.close(reason);
  }
}

/** A viewer id: short, random, subject- and log-safe. */
function newId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
