import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { enrol, userRow } from './helpers.js';

// Per client address, the verification routes are rate limited (API.md), in the error format.

describe('rate limit of the verification routes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_SECONDS: '60', LOCKOUT_THRESHOLD: '100' } });
    await enrol(t, 'alice');
  });
  afterAll(() => t.close());

  const post = (url: string, payload: object, ip: string) => t.app.inject({ method: 'POST', url, headers: t.auth, payload, remoteAddress: ip });

  it('the 4th verification from one address in a window is 429 RATE_LIMITED with Retry-After, checked before anything', async () => {
    expect((await post('/totp/verify', { username: 'alice', otp: '000000' }, '10.0.0.1')).statusCode).toBe(401);
    expect((await post('/verify', { username: 'alice', otp_code: '000000' }, '10.0.0.1')).statusCode).toBe(401);
    expect((await post('/disable', { user_id: 'alice' }, '10.0.0.1')).statusCode).toBe(200);
    const before = userRow(t, 'alice');
    for (const [url, payload] of [
      ['/totp/verify', { username: 'alice', otp: '000000' }],
      ['/verify', { username: 'alice', otp_code: '000000' }],
      ['/enable', { user_id: 'alice', code: '000000' }],
      ['/disable', { user_id: 'alice' }],
      ['/backup-codes/verify', { user_id: 'alice', code: 'aaaaa-bbbbb' }],
      ['/challenge/verify', { challenge_id: 'x', code: '000000' }],
    ] as const) {
      const r = await post(url, payload, '10.0.0.1');
      expect(r.statusCode, url).toBe(429);
      expect(r.json()).toEqual({ error: expect.any(String), code: 'RATE_LIMITED' });
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    }
    // Refused before the lockout was charged.
    expect(userRow(t, 'alice')).toEqual(before);
  });

  it('another address is not limited, nor are the other routes', async () => {
    expect((await post('/totp/verify', { username: 'alice', otp: '000000' }, '10.0.0.2')).statusCode).toBe(401);
    expect((await t.app.inject({ url: '/status/alice', headers: t.auth, remoteAddress: '10.0.0.1' })).statusCode).toBe(200);
    expect((await post('/generate', { username: 'alice' }, '10.0.0.1')).statusCode).toBe(201);
  });

  it('the next window lets the address in again', async () => {
    t.clock.advance(60_000);
    expect((await post('/totp/verify', { username: 'alice', otp: '000000' }, '10.0.0.1')).statusCode).toBe(401);
  });
});
