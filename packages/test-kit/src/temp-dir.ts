import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private temporary directory; everything a test writes goes here. */
export class TempDir {
  readonly path: string;
  constructor(prefix = 'qw-test-') {
    this.path = mkdtempSync(join(tmpdir(), prefix));
  }
  join(...parts: string[]): string {
    return join(this.path, ...parts);
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
