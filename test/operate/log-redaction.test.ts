/**
 * What the connector's log lines never show: the value of a secret key anywhere in a logged object, and tokens in
 * free text (app/log.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { captureLogger } from '../helpers/log-capture.js';

describe('log redaction', () => {
  it('when a logged object holds tokens deep down and inside arrays, then every one is censored and the rest is kept', () => {
    const { logger, lines } = captureLogger('info');
    logger.info({ portal: { a: { b: { c: { refresh_token: 'RT-DEEP-1', keep: 'visible' } } } }, calls: [{ headers: { Authorization: 'Bearer AT-ARRAY-2' } }] }, 'renewed');
    const [line] = lines;
    assert.equal(line.includes('RT-DEEP-1'), false, line);
    assert.equal(line.includes('AT-ARRAY-2'), false, line);
    const parsed = JSON.parse(line);
    assert.equal(parsed.portal.a.b.c.refresh_token, '[Redacted]');
    assert.equal(parsed.portal.a.b.c.keep, 'visible');
    assert.equal(parsed.calls[0].headers.Authorization, '[Redacted]');
    assert.equal(parsed.msg, 'renewed');
  });

  it("when a child logger is bound to a secret, or a message names a token, then neither reaches the line", () => {
    const { logger, lines } = captureLogger('info');
    logger.child({ clientSecret: 'CS-BOUND-3', job: 7 }).warn('retry after https://x.test/cb?code=CODE-4&state=s');
    const [line] = lines;
    for (const secret of ['CS-BOUND-3', 'CODE-4']) assert.equal(line.includes(secret), false, line);
    assert.equal(JSON.parse(line).job, 7);
  });

  it('when an error is logged, then its message and stack are scrubbed and its type and code kept', () => {
    const { logger, lines } = captureLogger('info');
    const err = Object.assign(new Error('refused: access_token=AT-ERR-5'), { code: 'XERO.REFUSED' });
    logger.error({ err }, 'push failed');
    const parsed = JSON.parse(lines[0]);
    assert.equal(lines[0].includes('AT-ERR-5'), false);
    assert.equal(parsed.err.code, 'XERO.REFUSED');
    assert.equal(parsed.err.type, 'Error');
  });
});
