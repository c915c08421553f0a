import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { chromiumPath } from './chromium.js';
import type { TempDir } from './temp-dir.js';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/**
 * A viewer's host of its own: a network namespace joined to this one by a veth pair on a private
 * /30, so that a link between a server here and a client there can be limited (tc tbf on our end
 * shapes what we send to the viewer). Needs root and iproute2; nothing leaves the machine.
 */
export class ViewerNetwork {
  private constructor(
    readonly namespace: string,
    /** Our end of the veth pair, and its address (where servers for the viewer listen). */
    readonly hostInterface: string,
    readonly hostAddress: string,
    /** The viewer's address inside the namespace. */
    readonly viewerAddress: string,
  ) {}

  static async create(): Promise<ViewerNetwork> {
    const id = randomBytes(4).toString('hex');
    const namespace = `qw-${id}`;
    const hostIf = `qwh${id}`;
    const nsIf = `qwv${id}`;
    const subnet = `10.${randomInt(64, 128)}.${randomInt(0, 256)}`;
    const net = new ViewerNetwork(namespace, hostIf, `${subnet}.1`, `${subnet}.2`);
    await ip('netns', 'add', namespace);
    try {
      await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
      await ip('link', 'set', nsIf, 'netns', namespace);
      await ip('addr', 'add', `${net.hostAddress}/30`, 'dev', hostIf);
      await ip('link', 'set', hostIf, 'up');
      await ip('-n', namespace, 'addr', 'add', `${net.viewerAddress}/30`, 'dev', nsIf);
      await ip('-n', namespace, 'link', 'set', nsIf, 'up');
      await ip('-n', namespace, 'link', 'set', 'lo', 'up');
    } catch (error) {
      await net.destroy();
      throw error;
    }
    return net;
  }

  /** Limits what reaches the viewer to `kbit` kbit/s (a token bucket; excess is dropped). */
  async limit(kbit: number): Promise<void> {
    await run('tc', [
      'qdisc',
      'replace',
      'dev',
      this.hostInterface,
      'root',
      'tbf',
      'rate',
      `${kbit}kbit`,
      'burst',
      '32kb',
      'latency',
      '50ms',
    ]);
  }

  /** Lifts the limit. */
  async unlimit(): Promise<void> {
    await run('tc', ['qdisc', 'del', 'dev', this.hostInterface, 'root']).catch(() => undefined);
  }

  /** A script that runs Debian's Chromium inside the namespace (for launchChromium's executablePath). */
  chromiumWrapper(dir: TempDir): string {
    const path = dir.join(`chromium-in-${this.namespace}.sh`);
    writeFileSync(path, `#!/bin/sh\nexec ip netns exec ${this.namespace} ${chromiumPath} "$@"\n`);
    chmodSync(path, 0o755);
    return path;
  }

  /** Removes the namespace (and with it both ends of the veth pair). Safe twice. */
  async destroy(): Promise<void> {
    await run('ip', ['netns', 'del', this.namespace]).catch(() => undefined);
    await run('ip', ['link', 'del', this.hostInterface]).catch(() => undefined);
  }
}
