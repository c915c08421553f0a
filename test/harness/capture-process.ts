// The real capture service (@qemu-webrtc/capture's main) as its own process, configured by
// environment like in production: its frames reach a test only through NATS and the ring files.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, ManagedProcess } from '@qemu-webrtc/test-kit';

/** capture's entry point, built by `pnpm build`. */
export const captureMainPath = fileURLToPath(import.meta.resolve('@qemu-webrtc/capture/main'));

export interface CaptureProcessOptions {
  natsUrl: string;
  busAddress: string;
  /** Where capture creates its frame rings. */
  ringDir: string;
  vmId?: string;
  /** More environment (CAPTURE_MAX_FPS, OFFER_UNIX_MAP, LOG_LEVEL, ...). */
  env?: Record<string, string>;
}

export class CaptureProcess {
  private constructor(
    readonly process: ManagedProcess,
    readonly metricsPort: number,
  ) {}

  static async start(opts: CaptureProcessOptions): Promise<CaptureProcess> {
    if (!existsSync(captureMainPath))
      throw new Error(`capture not built: ${captureMainPath} (run pnpm build)`);
    const metricsPort = await freePort();
    const proc = new ManagedProcess('capture', process.execPath, [captureMainPath], {
      env: {
        ...process.env,
        NATS_URL: opts.natsUrl,
        DBUS_ADDRESS: opts.busAddress,
        RING_DIR: opts.ringDir,
        METRICS_PORT: String(metricsPort),
        VM_ID: opts.vmId ?? 'test-vm',
        LOG_LEVEL: 'warn',
        ...opts.env,
      },
    });
    return new CaptureProcess(proc, metricsPort);
  }

  /** capture's Prometheus text. */
  async metrics(): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    return res.text();
  }

  /** How many calls of each listener method QEMU made (capture_qemu_messages_total). */
  async listenerCalls(): Promise<Map<string, number>> {
    const text = await this.metrics();
    return new Map(
      [...text.matchAll(/capture_qemu_messages_total\{method="(\w+)"\} (\d+)/g)].map((m) => [
        m[1] ?? '',
        Number(m[2]),
      ]),
    );
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
