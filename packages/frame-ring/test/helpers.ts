import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory for ring files (under /dev/shm where there is one), removed by the callback. */
export function tempDir(): { dir: string; remove: () => void } {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'frame-ring-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A deterministic byte pattern that differs per frame. */
export function fillPattern(pixels: Uint8Array, seed: number): void {
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
}
