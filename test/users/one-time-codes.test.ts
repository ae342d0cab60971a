import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { mustNotLog } from '../helpers/log-capture.js';
import { databaseBytes, enrol, tableCounts } from './helpers.js';

// POST /generate and POST /verify: a code for delivery, expiring after OTP_EXPIRATION_MINUTES,
// usable once, stored only as a keyed hash.

describe('one-time codes', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { LOCKOUT_THRESHOLD: '100', RATE_LIMIT_MAX: '1000' } });
    await enrol(t, 'alice');
  });
  afterAll(() => t.close());

  async function generate(userId = 'alice'): Promise<{ otp_code: string; expires_at: string }> {
    const res = await t.app.inject({ method: 'POST', url: '/generate', headers: t.auth, payload: { username: userId } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    mustNotLog(body.otp_code);
    return body;
  }
  const verify = (otp_code: string, username = 'alice') => t.app.inject({ method: 'POST', url: '/verify', headers: t.auth, payload: { username, otp_code } });

  it('generates a 6-digit code that expires in 5 minutes and verifies once', async () => {
    const g = await generate();
    expect(Object.keys(g).sort()).toEqual(['expires_at', 'otp_code']);
    expect(g.otp_code).toMatch(/^\d{6}$/);
    expect(g.expires_at).toBe(new Date(t.clock.now() + 5 * 60_000).toISOString());
    const ok = await verify(g.otp_code);
    expect([ok.statusCode, ok.json()]).toEqual([200, { success: true }]);
    const again = await verify(g.otp_code);
    expect([again.statusCode, again.json().code]).toEqual([409, 'OTP_ALREADY_USED']);
  });

  it('410 OTP_EXPIRED at the expiry, and still usable a moment before it', async () => {
    const g1 = await generate();
    t.clock.advance(5 * 60_000 - 1);
    expect((await verify(g1.otp_code)).statusCode).toBe(200);
    const g2 = await generate();
    t.clock.advance(5 * 60_000);
    const res = await verify(g2.otp_code);
    expect([res.statusCode, res.json()]).toEqual([410, { error: expect.any(String), code: 'OTP_EXPIRED' }]);
  });

  it('401 INVALID_OTP for a wrong or malformed code, and for another user’s code', async () => {
    const g = await generate();
    const wrong = g.otp_code === '000000' ? '000001' : '000000';
    for (const code of [wrong, '12345', '1234567', 'abcdef', '', ' 12345']) {
      const res = await verify(code);
      expect([res.statusCode, res.json().code], JSON.stringify(code)).toEqual([401, 'INVALID_OTP']);
    }
    await enrol(t, 'bob');
    expect((await verify(g.otp_code, 'bob')).statusCode).toBe(401);
    expect((await verify(g.otp_code)).statusCode).toBe(200);
  });

  it('a success resets the failure count, as for every method (API.md lockout)', async () => {
    const failures = () => t.app.inject({ url: '/status/alice', headers: t.auth }).then((r) => r.json().failed_attempts as number);
    const g = await generate();
    const wrong = g.otp_code === '000000' ? '000001' : '000000';
    for (let i = 0; i < 3; i++) expect((await verify(wrong)).statusCode).toBe(401);
    expect(await failures()).toBe(3);
    expect((await verify(g.otp_code)).statusCode).toBe(200);
    expect(await failures()).toBe(0);
  });

  it('a new code voids the unused earlier one', async () => {
    const first = await generate();
    const second = await generate();
    if (first.otp_code !== second.otp_code) expect((await verify(first.otp_code)).statusCode).toBe(401);
    expect((await verify(second.otp_code)).statusCode).toBe(200);
  });

  it('concurrent uses of one code: exactly one success', async () => {
    const g = await generate();
    const answers = await Promise.all(Array.from({ length: 20 }, () => verify(g.otp_code)));
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(answers.filter((r) => r.statusCode === 409)).toHaveLength(19);
  });

  it('404 USER_NOT_FOUND for an unknown user, changing nothing', async () => {
    const before = tableCounts(t);
    for (const res of [
      await t.app.inject({ method: 'POST', url: '/generate', headers: t.auth, payload: { username: 'nobody' } }),
      await verify('123456', 'nobody'),
    ]) {
      expect([res.statusCode, res.json().code]).toEqual([404, 'USER_NOT_FOUND']);
    }
    expect(tableCounts(t)).toEqual(before);
  });

  it('the database file holds no code, only keyed hashes', async () => {
    const codes = [await generate(), await generate('bob')].map((g) => g.otp_code);
    const bytes = databaseBytes(t);
    for (const c of codes) expect(bytes.includes(Buffer.from(c))).toBe(false);
  });
});
