import { commonConfigShape, isSubjectToken, z } from '@qemu-webrtc/common';

export interface VmRoute {
  /** The VM's id in subjects and InputEvent.vm_id. */
  id: string;
  /** The D-Bus address of the bus QEMU's `-display dbus` is on. */
  address: string;
}

/**
 * Parses INPUT_VMS: `vmid=<D-Bus address>` entries separated by commas, semicolons or newlines.
 * A D-Bus address has commas of its own (`unix:path=/x,guid=...`): a new entry starts only where a
 * comma is followed by `<id>=<transport>:`.
 */
export function parseVmRoutes(value: string): VmRoute[] {
  const entries = value
    .split(/[;\n]|,(?=\s*[A-Za-z0-9_-]{1,64}=[a-z]+:)/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) throw new TypeError('no VM given: expected vmid=<D-Bus address>,...');
  const routes: VmRoute[] = [];
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    const id = entry.slice(0, eq).trim();
    const address = entry.slice(eq + 1).trim();
    if (eq < 0 || !isSubjectToken(id)) {
      throw new TypeError(
        `bad entry ${JSON.stringify(entry)}: expected vmid=<D-Bus address>, vmid in [A-Za-z0-9_-]`,
      );
    }
    if (!/^[a-z]+:/.test(address)) {
      throw new TypeError(`bad D-Bus address for ${id}: ${JSON.stringify(address)}`);
    }
    if (routes.some((r) => r.id === id)) throw new TypeError(`VM ${id} given twice`);
    routes.push({ id, address });
  }
  return routes;
}

export const inputConfigShape = {
  ...commonConfigShape,
  /** The VMs this service drives: `vmid=unix:path=/run/vm1/bus.sock,vm2=unix:path=...`. */
  INPUT_VMS: z.string().transform((v, ctx) => {
    try {
      return parseVmRoutes(v);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
      return z.NEVER;
    }
  }),
  /** A viewer silent for this long has its held keys, buttons and touches released. */
  INPUT_IDLE_RELEASE_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  /** Per viewer: sustained events per second, and the burst above it (token bucket). */
  INPUT_RATE_PER_S: z.coerce.number().min(1).max(100_000).default(1000),
  INPUT_BURST: z.coerce.number().int().min(1).max(100_000).default(500),
  /** Browser wheel pixels per wheel click sent to the guest (fractions accumulate). */
  INPUT_WHEEL_STEP_PX: z.coerce.number().min(1).max(10_000).default(100),
  /** Viewers tracked per VM at most; events of more viewers are dropped. */
  INPUT_MAX_VIEWERS: z.coerce.number().int().min(1).max(100_000).default(256),
  /** D-Bus calls in flight per VM at most; beyond it presses are dropped (not releases; motion is merged, never dropped). */
  INPUT_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(100_000).default(256),
  /** A D-Bus call without a reply for this long counts as failed. */
  INPUT_CALL_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2000),
  /** Serial consoles: bytes of scrollback kept per chardev (a late viewer sees the boot log). */
  SERIAL_SCROLLBACK_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(256 * 1024),
  /** Serial consoles: typed bytes waiting for the guest at most, per chardev; beyond it refused. */
  SERIAL_INPUT_QUEUE_BYTES: z.coerce
    .number()
    .int()
    .min(4096)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9104),
};

export type InputConfig = z.infer<z.ZodObject<typeof inputConfigShape>>;
