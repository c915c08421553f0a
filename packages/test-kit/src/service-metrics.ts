import { readFile } from 'node:fs/promises';

/** A service's Prometheus text from its metrics port (the start command's ready line names them). */
export async function scrapeMetrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics on port ${port} answered ${res.status}`);
  return res.text();
}

/** The samples of one metric family (`name{labels} value` lines), labels as written, in order. */
export function metricSamples(text: string, name: string): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!rest.startsWith(' ') && !rest.startsWith('{')) continue;
    const space = rest.lastIndexOf(' ');
    out.push({ labels: rest.slice(0, space), value: Number(rest.slice(space + 1)) });
  }
  return out;
}

/** One sample's value (`labels` like `{reason="x"}`, or '' for none); 0 when absent. */
export function metricValue(text: string, name: string, labels = ''): number {
  return metricSamples(text, name).find((s) => s.labels === labels)?.value ?? 0;
}

/** Resident memory of a process in bytes (/proc/PID/status VmRSS); undefined when it is gone. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] !== undefined ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
