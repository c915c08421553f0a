/** Output longer than this without a newline is passed on as a line of its own. */
const MAX_PARTIAL = 64 * 1024;

/** Cuts a stream's chunks into whole lines (a line split across chunks is held until its end). */
export class LineBuffer {
  private partial = '';

  /** The lines `chunk` completes, without their '\n'. */
  push(chunk: string): string[] {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > MAX_PARTIAL) {
      lines.push(this.partial);
      this.partial = '';
    }
    return lines;
  }
}

/** `lines` as one block of text, each non-empty line with `prefix` in front. */
export function prefixLines(lines: readonly string[], prefix: string): string {
  return lines.map((line) => `${line}\n`.replace(/^(?=.)/gm, prefix)).join('');
}
