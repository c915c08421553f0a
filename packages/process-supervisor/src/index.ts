export { LineBuffer, prefixLines } from './line-buffer.js';
export {
  ManagedProcess,
  type ManagedProcessOptions,
  type ProcessExit,
  type RunAs,
} from './managed-process.js';
export { RestartBackoff, type RestartBackoffOptions } from './restart-backoff.js';
export { Supervised, SupervisorContext, type SupervisorEvent } from './supervised.js';
