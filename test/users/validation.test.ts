import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { enrol, tableCounts } from './helpers.js';

// Every malformed body, wrong type and unknown user answers the contract's error format
// ({"error","code"}, the right status) and changes nothing in the database.

describe('per-user routes refuse bad input cleanly', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '1000' } });
    await enrol(t, 'alice');
  });
  afterAll(() => t.close());

  const cases: [string, string, unknown, number, string][] = [
    ['POST', '/totp/register', {}, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/register', { username: 42 }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/register', { username: 'x'.repeat(129) }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/register', { username: 'ünïcode' }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/register', [], 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/setup', { user_id: 'bob', digits: 6.5 }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/setup', { user_id: 'bob', period: -30 }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/setup', { user_id: 'bob', algorithm: null }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/verify', { otp: '123456' }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/verify', { username: 'alice', user_id: 'bob', otp: '123456' }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/verify', { username: 'alice', otp: 123456 }, 400, 'VALIDATION_FAILED'],
    ['POST', '/totp/verify', { username: 'alice' }, 400, 'VALIDATION_FAILED'],
    ['POST', '/generate', { username: ['alice'] }, 400, 'VALIDATION_FAILED'],
    ['POST', '/verify', { username: 'alice', otp_code: { $ne: '' } }, 400, 'VALIDATION_FAILED'],
    ['POST', '/verify', { username: 'alice', otp_code: 'x'.repeat(65) }, 400, 'VALIDATION_FAILED'],
    ['POST', '/enable', { user_id: true }, 400, 'VALIDATION_FAILED'],
    ['POST', '/disable', { user_id: 'alice', code: 123456 }, 400, 'VALIDATION_FAILED'],
    ['GET', '/status/bad%20user', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/status/nobody', undefined, 404, 'USER_NOT_FOUND'],
    ['POST', '/verify', { username: 'nobody', otp_code: '123456' }, 404, 'USER_NOT_FOUND'],
    ['POST', '/generate', { username: 'nobody' }, 404, 'USER_NOT_FOUND'],
  ];

  it.each(cases)('%s %s %j: %i %s, nothing changed', async (method, url, payload, status, code) => {
    const before = tableCounts(t);
    const res = await t.app.inject({ method: method as 'GET' | 'POST', url, headers: t.auth, ...(payload === undefined ? {} : { payload: payload as object }) });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ error: expect.any(String), code });
    expect(tableCounts(t)).toEqual(before);
  });

  it('malformed JSON is 400 INVALID_JSON and the routes need the API key', async () => {
    for (const url of ['/totp/register', '/totp/setup', '/totp/verify', '/generate', '/verify', '/enable', '/disable']) {
      const bad = await t.app.inject({ method: 'POST', url, headers: { ...t.auth, 'content-type': 'application/json' }, payload: '{"user_id": ' });
      expect([bad.statusCode, bad.json().code], url).toEqual([400, 'INVALID_JSON']);
      const anon = await t.app.inject({ method: 'POST', url, payload: { user_id: 'alice', username: 'alice' } });
      expect([anon.statusCode, anon.json().code], url).toEqual([401, 'UNAUTHORIZED']);
    }
    for (const url of ['/status/alice', '/audit', '/analytics/stats']) expect((await t.app.inject({ url })).statusCode).toBe(401);
  });

  it('every route is in the OpenAPI document with its error answers', async () => {
    const doc = (await t.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const routes: [string, string, string[]][] = [
      ['/totp/register', 'post', ['201', '400', '401', '409']],
      ['/totp/setup', 'post', ['201', '400', '401', '409']],
      ['/totp/verify', 'post', ['200', '400', '401', '404', '429']],
      ['/generate', 'post', ['201', '400', '401', '404']],
      ['/verify', 'post', ['200', '400', '401', '404', '409', '410', '429']],
      ['/enable', 'post', ['200', '400', '401', '404', '429']],
      ['/disable', 'post', ['200', '400', '401', '404', '429']],
      ['/status/{user_id}', 'get', ['200', '400', '401', '404']],
      ['/audit', 'get', ['200', '400', '401']],
      ['/analytics/stats', 'get', ['200', '400', '401']],
    ];
    for (const [path, method, statuses] of routes) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(Object.keys(op?.responses ?? {}).sort()).toEqual(statuses.sort());
    }
  });
});
