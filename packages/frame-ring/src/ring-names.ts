// Ring file names that never repeat, and the removal of rings whose writer died.
//
// A name is `${label}-${pid}-${token}-${serial}`: the writing process's pid, a random token drawn
// once per process (a restarted container's capture gets the same pid again), and a serial that
// grows with every ring the process creates. Readers cache open rings by name, so a name must never
// stand for two rings: a restarted VM, a new mode, a restarted writer all get new names.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const PROCESS_TOKEN = randomBytes(4).toString('hex');
let serial = 0;

const NAME = /^(.+)-(\d+)-([0-9a-f]{8})-(\d+)$/;
/** FrameRingWriter.create's temporary file: `.${name}.${pid}.tmp`. */
const TEMP = /^\.(.+)\.(\d+)\.tmp$/;

export interface RingNameParts {
  label: string;
  pid: number;
  token: string;
  serial: number;
}

/** A ring name no process has used and this one will not use again. `label`: e.g. vm and console. */
export function uniqueRingName(label: string): string {
  serial++;
  return `${label}-${process.pid}-${PROCESS_TOKEN}-${serial}`;
}

/** The parts of a name made by uniqueRingName, or null for any other name. */
export function parseRingName(name: string): RingNameParts | null {
  const m = NAME.exec(name);
  if (!m) return null;
  return { label: m[1] ?? '', pid: Number(m[2]), token: m[3] ?? '', serial: Number(m[4]) };
}

/** Whether a process of this pid exists (EPERM: it does, under another user). */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes, from `dir`, the rings (and half-created ring files) whose label `isLabel` accepts and
 * whose writer is gone: its pid is not alive, or is this process's own pid while the name is not this process's
 * (a previous process that had our pid: a restarted container). Rings of live writers stay, and so
 * do files that are not such rings. Returns the names removed.
 */
export function removeOrphanRings(dir: string, isLabel: (label: string) => boolean): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const entry of entries) {
    const temp = TEMP.exec(entry);
    const parts = parseRingName(temp?.[1] ?? entry);
    if (!parts || !isLabel(parts.label)) continue;
    const writerPid = temp ? Number(temp[2]) : parts.pid;
    const ours = parts.token === PROCESS_TOKEN && writerPid === process.pid;
    if (ours) continue;
    if (writerPid !== process.pid && processAlive(writerPid)) continue;
    rmSync(join(dir, entry), { force: true });
    removed.push(entry);
  }
  return removed;
}
