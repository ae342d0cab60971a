import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { createLogger } from '../../src/logger.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { captureStream, mustNotLog } from '../helpers/log-capture.js';
import { codeFor, enrol, userRow, verifyTotp, type Enrolled } from './helpers.js';

// Lockout (API.md): failures are charged before the code is checked, across every method and
// every client address; LOCKOUT_THRESHOLD (5) failures lock the user for LOCKOUT_BASE_SECONDS
// (60), doubling each lockout up to an hour; while locked even a right code is 429.

const WRONG = '000000';

describe('lockout', () => {
  let t: TestApp;
  afterEach(() => t.close());

  async function activeUser(userId: string): Promise<Enrolled> {
    const e = await enrol(t, userId);
    expect((await verifyTotp(t, userId, codeFor(t, e))).statusCode).toBe(200);
    t.clock.advance(30_000);
    return e;
  }
  const wrongCode = (e: Enrolled) => {
    // A code that is certainly not one of the window's: the right one with its last digit changed.
    const right = [-1, 0, 1].map((d) => codeFor(t, e, d));
    let c = WRONG;
    while (right.includes(c)) c = String(Number(c) + 1).padStart(6, '0');
    return c;
  };
  const status = async (userId: string) => (await t.app.inject({ url: `/status/${userId}`, headers: t.auth })).json();

  it('after 5 failures even the right code is 429 ACCOUNT_LOCKED with Retry-After; after the lock it works', async () => {
    t = await createTestApp();
    const e = await activeUser('alice');
    for (let i = 0; i < 4; i++) expect((await verifyTotp(t, 'alice', wrongCode(e))).statusCode).toBe(401);
    expect(await status('alice')).toMatchObject({ locked_until: null, failed_attempts: 4 });
    // The fifth failure itself locks the user.
    expect((await verifyTotp(t, 'alice', wrongCode(e))).statusCode).toBe(401);
    expect(await status('alice')).toMatchObject({ locked_until: new Date(t.clock.now() + 60_000).toISOString() });
    const locked = await verifyTotp(t, 'alice', codeFor(t, e));
    expect(locked.statusCode).toBe(429);
    expect(locked.json()).toEqual({ error: expect.any(String), code: 'ACCOUNT_LOCKED' });
    expect(locked.headers['retry-after']).toBe('60');
    expect(await status('alice')).toMatchObject({ locked_until: new Date(t.clock.now() + 60_000).toISOString() });
    t.clock.advance(45_000);
    expect((await verifyTotp(t, 'alice', codeFor(t, e))).headers['retry-after']).toBe('15');
    t.clock.advance(15_000);
    expect((await verifyTotp(t, 'alice', codeFor(t, e))).statusCode).toBe(200);
    expect(await status('alice')).toMatchObject({ locked_until: null, failed_attempts: 0 });
  });

  it('counts failures across methods and client addresses', async () => {
    t = await createTestApp();
    const e = await activeUser('bob');
    const gen = await t.app.inject({ method: 'POST', url: '/generate', headers: t.auth, payload: { username: 'bob' } });
    const otp = gen.json().otp_code as string;
    mustNotLog(otp);
    const wrongOtp = otp === '123456' ? '654321' : '123456';
    const post = (url: string, payload: object, ip: string) => t.app.inject({ method: 'POST', url, headers: t.auth, payload, remoteAddress: ip });
    expect((await post('/totp/verify', { username: 'bob', otp: wrongCode(e) }, '192.0.2.1')).statusCode).toBe(401);
    expect((await post('/totp/verify', { user_id: 'bob', otp: 'not-a-code' }, '192.0.2.2')).statusCode).toBe(401);
    expect((await post('/verify', { username: 'bob', otp_code: wrongOtp }, '192.0.2.3')).statusCode).toBe(401);
    expect((await post('/disable', { user_id: 'bob', code: wrongCode(e) }, '192.0.2.4')).statusCode).toBe(401);
    expect((await post('/verify', { username: 'bob', otp_code: '12' }, '192.0.2.5')).statusCode).toBe(401);
    for (const [url, payload] of [
      ['/verify', { username: 'bob', otp_code: otp }],
      ['/totp/verify', { username: 'bob', otp: codeFor(t, e) }],
      ['/disable', { user_id: 'bob', code: codeFor(t, e) }],
    ] as const) {
      const r = await post(url, payload, '198.51.100.9');
      expect([r.statusCode, r.json().code], url).toEqual([429, 'ACCOUNT_LOCKED']);
    }
    expect(await status('bob')).toMatchObject({ enabled: true });
  });

  it('a success resets the count; each further lockout doubles, up to an hour', async () => {
    t = await createTestApp();
    const e = await activeUser('carol');
    for (let i = 0; i < 4; i++) await verifyTotp(t, 'carol', wrongCode(e));
    expect(await status('carol')).toMatchObject({ failed_attempts: 4, locked_until: null });
    expect((await verifyTotp(t, 'carol', codeFor(t, e))).statusCode).toBe(200);
    expect(await status('carol')).toMatchObject({ failed_attempts: 0 });
    const retryAfter: string[] = [];
    for (let n = 0; n < 8; n++) {
      for (let i = 0; i < 5; i++) expect((await verifyTotp(t, 'carol', wrongCode(e))).statusCode).toBe(401);
      const r = await verifyTotp(t, 'carol', wrongCode(e));
      expect(r.statusCode).toBe(429);
      retryAfter.push(r.headers['retry-after'] as string);
      t.clock.advance(Number(r.headers['retry-after']) * 1000);
    }
    expect(retryAfter).toEqual(['60', '120', '240', '480', '960', '1920', '3600', '3600']);
    t.clock.advance(30_000);
    expect((await verifyTotp(t, 'carol', codeFor(t, e))).statusCode).toBe(200);
    // The success also resets the doubling: the next lockout is 60 seconds again.
    for (let i = 0; i < 5; i++) await verifyTotp(t, 'carol', wrongCode(e));
    expect((await verifyTotp(t, 'carol', wrongCode(e))).headers['retry-after']).toBe('60');
  });

  it('200 parallel wrong guesses: the user ends locked and at most 5 codes were checked', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '1000' } });
    const e = await activeUser('dave');
    // In one process the handlers hardly ever yield between the lockout check and the code
    // check, so a second app on the same store reads the credential through a few ms of real
    // latency (as a networked database would): all 200 requests are then in flight at once, and
    // only charging before the check keeps the number of checked codes at the threshold.
    const slow = await buildApp({
      config: t.config,
      secrets: t.secrets,
      clock: t.clock,
      logger: createLogger('info', captureStream()),
      store: {
        ...t.store,
        userCredentials: {
          ...t.store.userCredentials,
          get: async (userId: string) => {
            await new Promise((r) => setTimeout(r, 5));
            return t.store.userCredentials.get(userId);
          },
        },
      },
    });
    const right = [-1, 0, 1].map((d) => codeFor(t, e, d));
    const guesses = Array.from({ length: 200 }, (_, i) => String((i * 7919) % 1_000_000).padStart(6, '0')).filter((g) => !right.includes(g));
    const answers = await Promise.all(
      guesses.map((g, i) =>
        slow.inject({ method: 'POST', url: '/totp/verify', headers: t.auth, payload: { username: 'dave', otp: g }, remoteAddress: `203.0.113.${i % 250}` }),
      ),
    );
    await slow.close();
    const checked = answers.filter((r) => r.statusCode === 401);
    const refused = answers.filter((r) => r.statusCode === 429);
    expect(checked.length + refused.length).toBe(guesses.length);
    expect(checked.length).toBeLessThanOrEqual(5);
    for (const r of refused) expect(r.json().code).toBe('ACCOUNT_LOCKED');
    const rows = await t.store.audit.list({ userId: 'dave', event: 'totp.verify', limit: 500 });
    expect(rows.filter((r) => !r.success && r.reason !== 'locked').length).toBeLessThanOrEqual(5);
    expect(Number(userRow(t, 'dave')?.locked_until)).toBeGreaterThan(t.clock.now());
    expect((await verifyTotp(t, 'dave', codeFor(t, e))).statusCode).toBe(429);
  });
});
