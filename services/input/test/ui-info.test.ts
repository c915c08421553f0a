// SetUIInfo per console: latest wins with one call in flight; applied once the console has the
// size, ignored when it does not within the settle time, unsupported on QEMU's Unsupported error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallRunner } from '../src/dbus-calls.js';
import { InputMetrics } from '../src/metrics.js';
import { UiInfoSetter, type UiInfoReport, type UiInfoRequest } from '../src/ui-info.js';

const req = (sequence: number, width: number, height: number): UiInfoRequest => ({
  viewerId: 'v',
  sequence,
  width,
  height,
  widthMm: 0,
  heightMm: 0,
});

function setup(answer: (w: number, h: number) => Promise<void>, settleMs = 300) {
  const size = { width: 1280, height: 720 };
  const calls: string[] = [];
  const reports: UiInfoReport[] = [];
  const metrics = new InputMetrics();
  const setter = new UiInfoSetter(
    {
      qemu: () => ({
        setUiInfo: (_wmm: number, _hmm: number, _x: number, _y: number, w: number, h: number) => {
          calls.push(`${w}x${h}`);
          return answer(w, h);
        },
      }),
      size: () => size,
    },
    new CallRunner(metrics, 1000),
    metrics,
    (r) => reports.push(r),
    settleMs,
  );
  return { setter, size, calls, reports };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
};

test('applied when the console takes the size; hints during a call merge to the newest', async () => {
  let release = (): void => undefined;
  const first = new Promise<void>((r) => (release = r));
  const s = setup((w) => (w === 1000 ? first : Promise.resolve()));
  s.setter.request(req(1, 1000, 700));
  s.setter.request(req(2, 1100, 700)); // superseded by the next while the first call is out
  s.setter.request(req(3, 1200, 700));
  release();
  await until(() => s.calls.length === 2);
  assert.deepEqual(s.calls, ['1000x700', '1200x700']);
  s.size.width = 1200;
  s.size.height = 700;
  await until(() => s.reports.length > 0);
  assert.equal(s.reports.length, 1, 'only the newest hint is answered');
  assert.equal(s.reports.at(0)?.outcome, 'applied');
  assert.equal(s.reports.at(0)?.request.sequence, 3);
  s.setter.close();
});

test('ignored when the size does not follow; unsupported on QEMU’s error', async () => {
  const s = setup(() => Promise.resolve(), 100);
  s.setter.request(req(1, 1024, 768));
  await until(() => s.reports.length > 0);
  assert.equal(s.reports.at(0)?.outcome, 'ignored');
  assert.equal(s.reports.at(0)?.consoleWidth, 1280);
  const vga = setup(() =>
    Promise.reject(
      Object.assign(new Error('SetUIInfo is not supported'), { type: 'org.qemu.Display1.Error.Unsupported' }),
    ),
  );
  vga.setter.request(req(1, 1024, 768));
  await until(() => vga.reports.length > 0);
  assert.equal(vga.reports.at(0)?.outcome, 'unsupported');
});
