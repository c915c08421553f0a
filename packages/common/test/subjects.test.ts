// The subject table (SUBJECT_TABLE) against the subject builders and parsers: every subject a
// builder makes is a row's, every row's permission covers its subject, the permissions derived
// from the table grant each service what it subscribes with, and the parsers read back what the
// builders write. No NATS needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NATS_PERMISSIONS,
  NATS_SERVICES,
  SUBJECT_TABLE,
  cursorOfSubject,
  subjects,
  serialOfSubject,
  vmOfInputSubject,
  type SubjectName,
  type SubjectRow,
} from '../src/index.js';

/** True when NATS subject (or subscription) `subject` is within `pattern` ('*': one token, '>': the rest). */
function covers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (const [i, token] of p.entries()) {
    if (token === '>') return s.length > i;
    if (i >= s.length || (token !== '*' && token !== s[i])) return false;
  }
  return p.length === s.length;
}

/** A row's `<name>` tokens as NATS wildcards. */
const asPattern = (row: SubjectRow): string => row.subject.replace(/<[a-z]+>/g, '*');

const key = { vmId: 'vm-1', consoleId: 2, rendition: 'full' };
/** What the builders make for each row: a new row needs its builder here. */
const built: Record<SubjectName, string[]> = {
  consoleInfo: [subjects.consoleInfo('vm-1', 2)],
  frameReady: [subjects.frameReady('vm-1', 2)],
  cursorShape: [subjects.cursorShape('vm-1', 2)],
  cursorPosition: [subjects.cursorPosition('vm-1', 2)],
  consoleRefresh: [subjects.consoleRefresh],
  input: [subjects.input('vm-1')],
  uiInfoResult: [subjects.uiInfoResult('vm-1', 2)],
  serialOut: [subjects.serialOut('vm-1', 'ser0')],
  serialIn: [subjects.serialIn('vm-1', 'ser0')],
  serialReplay: [subjects.serialReplay('vm-1', 'ser0')],
  serialState: [subjects.serialState('vm-1')],
  encoded: [subjects.encoded(key)],
  keyframeRequest: [subjects.keyframeRequest(key)],
  encoderControl: [subjects.encoderControl(key)],
  streamDemand: [subjects.streamDemand(key)],
  encoderHeartbeat: [subjects.encoderHeartbeat],
  streamClaims: [subjects.streamClaims],
  audioPcm: [subjects.audioPcm('vm-1')],
  audioOpus: [subjects.audioOpus('vm-1')],
};
const rows = Object.entries(SUBJECT_TABLE) as [SubjectName, SubjectRow][];

test("every subject a builder makes is its row's, and no other row's", () => {
  for (const [name, samples] of Object.entries(built) as [SubjectName, string[]][]) {
    for (const subject of samples) {
      const matching = rows.filter(([, row]) => covers(asPattern(row), subject)).map(([n]) => n);
      assert.deepEqual(matching, [name], subject);
    }
  }
});

test("every row's permission covers its subject, and each row has a publisher and a subscriber", () => {
  for (const [name, row] of rows) {
    assert.ok(covers(row.permission, asPattern(row)), name);
    assert.ok(Object.keys(row.publishers).length > 0, `${name}: nobody publishes it`);
    assert.ok(Object.keys(row.subscribers).length > 0, `${name}: nobody subscribes to it`);
    for (const service of [...Object.keys(row.publishers), ...Object.keys(row.subscribers)]) {
      assert.ok((NATS_SERVICES as readonly string[]).includes(service), `${name}: ${service}`);
    }
  }
});

test('the derived permissions let each service at exactly the rows that name it', () => {
  for (const service of NATS_SERVICES) {
    const { publish, subscribe } = NATS_PERMISSIONS[service];
    for (const [name, row] of rows) {
      assert.equal(
        publish.some((p) => covers(p, asPattern(row))),
        service in row.publishers,
        `${service} publish ${name}`,
      );
      assert.equal(
        subscribe.some((p) => covers(p, asPattern(row))),
        service in row.subscribers,
        `${service} subscribe ${name}`,
      );
    }
  }
  // What subscribers subscribe with (wildcards included) is granted.
  assert.ok(NATS_PERMISSIONS.signaling.subscribe.some((p) => covers(p, subjects.cursorAll('vm-1', 2))));
  for (const all of [
    subjects.consoleInfoAll,
    subjects.frameReadyAll,
    subjects.keyframeRequestAll,
    subjects.encoderControlAll,
  ]) {
    assert.ok(NATS_PERMISSIONS.encoder.subscribe.includes(all), all);
  }
  assert.ok(NATS_PERMISSIONS.input.subscribe.includes(subjects.inputAll));
  // Input publishes only what became of SetUIInfo hints and what its serial consoles say.
  assert.deepEqual(
    [...NATS_PERMISSIONS.input.publish].sort(),
    [subjects.uiInfoResultAll, subjects.serialOutAll, subjects.serialStateAll].sort(),
  );
});

test('input and cursor subjects parse back to what built them; anything else is undefined', () => {
  assert.equal(vmOfInputSubject(subjects.input('vm-1')), 'vm-1');
  assert.equal(vmOfInputSubject('qw.vm.a$b.input'), undefined, 'not a subject token');
  assert.equal(vmOfInputSubject('qw.vm.vm-1.input.x'), undefined);
  assert.equal(vmOfInputSubject(subjects.consoleInfo('vm-1', 0)), undefined);

  assert.deepEqual(cursorOfSubject(subjects.cursorShape('vm-1', 2)), {
    vmId: 'vm-1',
    consoleId: 2,
    kind: 'shape',
  });
  assert.deepEqual(cursorOfSubject(subjects.cursorPosition('vm-1', 65535)), {
    vmId: 'vm-1',
    consoleId: 65535,
    kind: 'position',
  });
  assert.equal(cursorOfSubject('qw.vm.vm-1.console.2.cursor.other'), undefined);
  assert.equal(cursorOfSubject('qw.vm.vm-1.console.99999.cursor.shape'), undefined);
  assert.equal(cursorOfSubject('qw.vm.vm-1.console.2.cursor.shape.x'), undefined);
  assert.equal(cursorOfSubject(subjects.frameReady('vm-1', 2)), undefined);
});

test('serial subjects parse back to their VM, chardev and kind; anything else is undefined', () => {
  assert.deepEqual(serialOfSubject(subjects.serialOut('vm-1', 'ser0')), {
    vmId: 'vm-1',
    chardev: 'ser0',
    kind: 'out',
  });
  assert.deepEqual(serialOfSubject(subjects.serialIn('vm-1', 'ser0')), {
    vmId: 'vm-1',
    chardev: 'ser0',
    kind: 'in',
  });
  assert.deepEqual(serialOfSubject(subjects.serialReplay('vm-1', 'ser0')), {
    vmId: 'vm-1',
    chardev: 'ser0',
    kind: 'replay',
  });
  assert.equal(serialOfSubject(subjects.serialState('vm-1')), undefined);
  assert.equal(serialOfSubject('qw.vm.vm-1.serial.a$b.in'), undefined);
  assert.equal(serialOfSubject('qw.vm.vm-1.serial.ser0.out.x'), undefined);
  assert.throws(() => subjects.serialIn('vm-1', 'ser.0'), TypeError);
});
