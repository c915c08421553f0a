// `pnpm bench fleet` (issue 17, the no-viewer part): what unwatched VMs cost. 1 and 4 demo VMs
// (FLEET_SIZE, default 640x480), each as the start command runs it (its own nats-server, capture,
// encoder, input, signaling), with no viewer. Per VM: CPU of capture, encoder and nats-server over
// FLEET_SECONDS (default 10) of steady state, and capture's FrameReady rate, in two modes:
//
// - "idle": nobody demands the stream: the encoder holds it and encodes nothing (this change);
// - "demanded": the bench holds a StreamDemand lease on every console, as signaling does for a
//   page: every console is encoded, which is what every unwatched VM cost before encode on demand.
//
// The demo guest's picture changes all the time (its frame counter), so capture publishes at its
// frame-rate cap in both modes: the worst case for an unwatched console. Numbers are CPU cores
// (CPU seconds / wall seconds) per VM, reported, never asserted; on a loaded machine, upper bounds.
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { DemandLeases } from '@qemu-webrtc/common';
import { metricSamples, scrapeMetrics, waitFor } from '@qemu-webrtc/test-kit';
import { FREE_PORT_ARGS, StartedSystem } from '../harness/started-system.js';
import { cpuSeconds, printTable, round, writeResults, type Row } from './bench-kit.js';

const SIZE = process.env.FLEET_SIZE ?? '640x480';
const SECONDS = Number(process.env.FLEET_SECONDS ?? 10);
const COUNTS = (process.env.FLEET_VMS ?? '1,4').split(',').map(Number);
const PROCESSES = ['capture', 'encoder', 'nats'] as const;

if (!(SECONDS > 0) || COUNTS.some((n) => !(Number.isInteger(n) && n > 0))) {
  console.error('FLEET_SECONDS takes a positive number; FLEET_VMS a list of VM counts, e.g. 1,4');
  process.exit(2);
}

const sum = (text: string, name: string): number =>
  metricSamples(text, name).reduce((s, x) => s + x.value, 0);

interface Vm {
  system: StartedSystem;
  nc: NatsConnection;
  demand: DemandLeases;
}

/** CPU cores per VM of each process kind, and FrameReady/s and encoded units/s per VM. */
async function measure(vms: readonly Vm[]): Promise<Record<string, number | null>> {
  const pids = vms.map((vm) => PROCESSES.map((p) => vm.system.pidOf(p) ?? 0));
  const scrape = (): Promise<[string, string][]> =>
    Promise.all(
      vms.map(async (vm) => {
        const ports = vm.system.ready.metricsPorts;
        return [await scrapeMetrics(ports.capture), await scrapeMetrics(ports.encoder)] as [string, string];
      }),
    );
  const cpu0 = pids.map((ps) => ps.map(cpuSeconds));
  const m0 = await scrape();
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const cpu1 = pids.map((ps) => ps.map(cpuSeconds));
  const m1 = await scrape();
  const wall = (performance.now() - t0) / 1000;
  const out: Record<string, number | null> = {};
  PROCESSES.forEach((name, i) => {
    let cpu = 0;
    for (let v = 0; v < vms.length; v++) cpu += (cpu1[v]?.[i] ?? 0) - (cpu0[v]?.[i] ?? 0);
    out[`${name}_cores_per_vm`] = round(cpu / wall / vms.length, 3);
  });
  const rate = (which: 0 | 1, name: string): number | null => {
    let n = 0;
    for (let v = 0; v < vms.length; v++)
      n += sum(m1[v]?.[which] ?? '', name) - sum(m0[v]?.[which] ?? '', name);
    return round(n / wall / vms.length, 1);
  };
  out.frame_ready_per_s_per_vm = rate(0, 'capture_frames_published_total');
  out.encoded_per_s_per_vm = rate(1, 'encoder_frames_encoded_total');
  return out;
}

const rows: Row[] = [];
for (const count of COUNTS) {
  const vms: Vm[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const system = await StartedSystem.start(
        ['--vm-id', `fleet${i}`, '--demo-size', SIZE, ...FREE_PORT_ARGS],
        { env: { SIGNALING_TOKENS: 'fleet-bench:view', LOG_LEVEL: 'warn' }, timeoutMs: 180_000 },
      );
      const nc = await connect(system.natsOptions());
      vms.push({ system, nc, demand: new DemandLeases(nc, `fleet-bench-${i}`) });
    }
    const encoding = async (active: number): Promise<void> => {
      await waitFor(
        `${count} VM(s): ${active ? 'every' : 'no'} stream encoded`,
        async () => {
          for (const vm of vms) {
            const m = await scrapeMetrics(vm.system.ready.metricsPorts.encoder);
            if (sum(m, 'encoder_streams_held') < 1 || sum(m, 'encoder_streams_active') !== active)
              return undefined;
          }
          return true;
        },
        120_000,
        250,
      );
      await sleep(2000); // settle: codecs opened, or the last encodes done
    };
    await encoding(0);
    rows.push({ vms: count, mode: 'idle (no demand: now)', ...(await measure(vms)) });
    for (const vm of vms) {
      vm.demand.want({ vmId: vm.system.ready.vmId, consoleId: 0, rendition: 'full' });
    }
    await encoding(1);
    rows.push({ vms: count, mode: 'demanded (every console encoded: before)', ...(await measure(vms)) });
    process.stdout.write(`${JSON.stringify(rows.slice(-2))}\n`);
  } finally {
    for (const vm of vms) {
      vm.demand.close();
      await vm.nc.close();
      await vm.system.stop();
    }
  }
}
printTable(rows, `Unwatched VMs (${SIZE}, no viewer): CPU cores per VM over ${SECONDS} s`);
process.stdout.write(`wrote ${writeResults('fleet', rows)}\n`);
