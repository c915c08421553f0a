// Secrets never reach a log line: config fields marked secret() are redacted by readConfig's
// caller (redactConfig) and, wherever their values turn up embedded in other text, by the logger.
import { Writable } from 'node:stream';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfigError,
  REDACTED,
  addSecrets,
  commonConfigShape,
  createLogger,
  readConfig,
  redactConfig,
  redactSecrets,
  secret,
  secretPartsOf,
  urlPasswords,
  z,
} from '../src/index.js';

/** A logger whose lines are collected (pino writes to this stream). */
function capturedLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger('test', 'debug', sink), text: () => chunks.join('') };
}

test('secret(): marked fields, their secret parts, and the shared ones', () => {
  const shape = {
    PLAIN: z.string().optional(),
    WHOLE: secret(z.string().optional()),
    URLS: secret(z.string().optional(), urlPasswords),
  };
  assert.equal(secretPartsOf(shape.PLAIN, 'x'), undefined);
  assert.deepEqual(secretPartsOf(shape.WHOLE, 'abc'), ['abc']);
  assert.deepEqual(secretPartsOf(shape.URLS, 'nats://u:pw1@a:4222, tls://v:p%40ss@b,nats://c:4222'), [
    'pw1',
    'p%40ss',
  ]);
  assert.deepEqual(secretPartsOf(commonConfigShape.NATS_PASSWORD, 'x'), ['x']);
  assert.ok(secretPartsOf(commonConfigShape.NATS_URL, 'nats://a:b@c'));
  assert.equal(secretPartsOf(commonConfigShape.NATS_USER, 'x'), undefined, 'a user name is no secret');
  // Every field of the shared shape whose name says secret is marked.
  for (const [name, schema] of Object.entries(commonConfigShape)) {
    if (/PASSWORD|TOKEN|SECRET/.test(name)) assert.ok(secretPartsOf(schema, 'x'), name);
  }
});

test('readConfig + redactConfig: the configuration line shows secret fields with the secrets replaced', () => {
  const env = {
    NATS_URL: 'nats://svc:url-pass-1234@nats.example:4222',
    NATS_USER: 'svc',
    NATS_PASSWORD: 'nats-pass-5678',
    LOG_LEVEL: 'debug',
  };
  const config = readConfig(commonConfigShape, env);
  assert.equal(config.NATS_PASSWORD, 'nats-pass-5678', 'the service itself gets the value');
  const shown = redactConfig(commonConfigShape, config, env);
  assert.deepEqual(shown, {
    NATS_URL: `nats://svc:${REDACTED}@nats.example:4222`,
    NATS_USER: 'svc',
    NATS_PASSWORD: REDACTED,
    LOG_LEVEL: 'debug',
    HTTP_HOST: '127.0.0.1',
  });
  const { logger, text } = capturedLogger();
  logger.info({ config: shown }, 'configuration');
  assert.doesNotMatch(text(), /url-pass-1234|nats-pass-5678/);

  // A bad value in another field: the error cannot show the secret read before it.
  const bad = { NATS_PASSWORD: 'bad-config-pass-9', LOG_LEVEL: 'bad-config-pass-9' };
  assert.throws(() => readConfig(commonConfigShape, bad), ConfigError);
  assert.equal(redactSecrets('level bad-config-pass-9'), `level ${REDACTED}`);
});

test('the logger redacts secret values wherever they are embedded, and the usual paths', () => {
  addSecrets(['turn-pass-"q\\1', 'tok-abcdef-123', 'p@ss/w:rd']);
  const { logger, text } = capturedLogger();
  logger.info(`ICE servers: turn:user:turn-pass-"q\\1@host:3478`);
  logger.info({ url: 'http://h/#token=tok-abcdef-123' }, 'open it');
  logger.warn({ nested: { deeper: ['x tok-abcdef-123 y'] } }, 'in an array');
  logger.error({ err: new Error('auth failed for tok-abcdef-123') }, 'failed');
  logger.info(`encoded: turn:u:${encodeURIComponent('p@ss/w:rd')}@h`);
  logger.child({ component: 'c' }).debug({ headers: { authorization: 'Bearer unknown-bearer' } }, 'req');
  logger.info({ password: 'not-registered-pw', user: { token: 'not-registered-tok' } }, 'paths');
  const out = text();
  for (const leaked of [
    'turn-pass',
    'tok-abcdef-123',
    'p@ss/w:rd',
    'p%40ss',
    'unknown-bearer',
    'not-registered-pw',
    'not-registered-tok',
  ]) {
    assert.ok(!out.includes(leaked), `${leaked} in:\n${out}`);
  }
  assert.equal(out.split('\n').filter((l) => l.includes(REDACTED)).length, 7, out);
  for (const line of out.trim().split('\n')) JSON.parse(line); // still JSON
  assert.match(out, /ICE servers: turn:user:\[redacted\]@host:3478/);
});

test('secrets too short to search for are left to the paths', () => {
  addSecrets(['abc']);
  assert.equal(redactSecrets('abcdef'), 'abcdef');
});
