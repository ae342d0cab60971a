import { connect } from 'node:net';
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
    ['POST', '/totp/verify', { username: 'alice' }, 400, 'VALIDATION_FAILED'],
    ['POST', '/generate', { username: ['alice'] }, 400, 'VALIDATION_FAILED'],
    ['POST', '/enable', { user_id: true }, 400, 'VALIDATION_FAILED'],
    ['GET', '/status/bad%20user', undefined, 400, 'VALIDATION_FAILED'],
    ['GET', '/status/nobody', undefined, 404, 'USER_NOT_FOUND'],
    // The longest ids API.md allows reach the route, also percent-encoded (they were 414 from the router).
    ['GET', `/status/${'p'.repeat(128)}`, undefined, 404, 'USER_NOT_FOUND'],
    ['GET', `/status/${'%40'.repeat(128)}`, undefined, 404, 'USER_NOT_FOUND'],
    ['GET', `/status/${'p'.repeat(129)}`, undefined, 400, 'VALIDATION_FAILED'],
    ['GET', `/status/${'p'.repeat(400)}`, undefined, 414, 'URI_TOO_LONG'],
    ['GET', '/status/%ff', undefined, 400, 'BAD_REQUEST'],
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

  it('a code that is not a string of digits is a wrong code (401 INVALID_OTP, charged), never a schema error', async () => {
    const attempts: [string, object][] = [
      ['/totp/verify', { username: 'alice', otp: 123456 }],
      ['/totp/verify', { username: 'alice', otp: null }],
      ['/verify', { username: 'alice', otp_code: { $ne: '' } }],
      ['/verify', { username: 'alice', otp_code: 'x'.repeat(65) }],
    ];
    for (const [url, payload] of attempts) {
      const res = await t.app.inject({ method: 'POST', url, headers: t.auth, payload });
      expect([res.statusCode, res.json()], JSON.stringify(payload)).toEqual([401, { error: expect.any(String), code: 'INVALID_OTP' }]);
    }
    const status = (await t.app.inject({ url: '/status/alice', headers: t.auth })).json();
    expect(status.failed_attempts).toBe(attempts.length);
    const missing = await t.app.inject({ method: 'POST', url: '/totp/verify', headers: t.auth, payload: { username: 'alice' } });
    expect([missing.statusCode, missing.json().fields]).toEqual([400, ['body.otp']]);
  });

  it('a path the router cannot decode still answers in the error format with a request id', async () => {
    const res = await t.app.inject({ url: '/config/%E0%A4%A', headers: { ...t.auth, 'x-request-id': 'bad-url-1' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'BAD_REQUEST' });
    expect(res.headers['x-request-id']).toBe('bad-url-1');
  });

  it('a request that is not HTTP gets a 400 in the error format before the connection closes', async () => {
    const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(address);
    const answer = await new Promise<string>((resolve, reject) => {
      let got = '';
      const socket = connect(Number(port), '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      socket.on('data', (d) => (got += d.toString()));
      socket.on('close', () => resolve(got));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ error: expect.any(String), code: 'BAD_REQUEST' });
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
