import {
  ManagedProcess as SupervisedChild,
  type ManagedProcessOptions,
} from '@qemu-webrtc/process-supervisor';

export type { ManagedProcessOptions, RunAs } from '@qemu-webrtc/process-supervisor';

/** Every child still running, killed when this process exits for any reason. */
const running = new Set<SupervisedChild>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = (): void => {
    for (const p of running) p.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/**
 * A child process that never outlives the test: the supervisor's process (started under
 * `setpriv --pdeathsig KILL`: the kernel kills it if we die, even by SIGKILL), also tracked here
 * so that it is killed when the test process exits or is interrupted; stopped by stop().
 */
export class ManagedProcess extends SupervisedChild {
  constructor(name: string, command: string, args: readonly string[], opts: ManagedProcessOptions = {}) {
    installExitHook();
    super(name, command, args, opts);
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
