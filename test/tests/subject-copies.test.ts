// The copies of the subject table (packages/common/src/subjects.ts) in files that cannot import it,
// deploy/nats.conf and docs/design.md's table, are what scripts/generate-from-subjects.mjs writes
// from it today: change the table, run the script, commit both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

test('deploy/nats.conf and the subject table in docs/design.md are generated from subjects.ts', async () => {
  const { subjectCopies } = (await import(`${root}scripts/generate-from-subjects.mjs`)) as {
    subjectCopies: (root: string) => { path: string; text: string }[];
  };
  const copies = subjectCopies(root);
  assert.equal(copies.length, 2);
  for (const { path, text } of copies) {
    assert.equal(
      readFileSync(path, 'utf8'),
      text,
      `${path} is stale: run node scripts/generate-from-subjects.mjs`,
    );
  }
});
