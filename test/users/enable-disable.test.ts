import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { codeFor, enrol, tableCounts } from './helpers.js';

// POST /enable, POST /disable and GET /status/{user_id}.

describe('enable, disable, status', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '1000' } });
  });
  afterAll(() => t.close());

  const post = (url: string, payload: object) => t.app.inject({ method: 'POST', url, headers: t.auth, payload });
  const status = async (userId: string) => (await t.app.inject({ url: `/status/${userId}`, headers: t.auth })).json();
  const step = () => t.clock.advance(30_000);

  it('status of a new enrolment, then of an active one; never a secret', async () => {
    const e = await enrol(t, 'alice');
    const s = await status('alice');
    expect(s).toEqual({
      user_id: 'alice',
      enabled: false,
      methods: { totp: 'pending' },
      backup_codes_remaining: 0,
      locked_until: null,
      failed_attempts: 0,
    });
    expect(JSON.stringify(s)).not.toContain(e.secretBase32);
    expect((await post('/totp/verify', { user_id: 'alice', otp: codeFor(t, e) })).statusCode).toBe(200);
    expect(await status('alice')).toMatchObject({ enabled: true, methods: { totp: 'active' } });
  });

  it('/disable needs a valid code for an enabled user; the enrolment stays and /enable turns it back on', async () => {
    const e = await enrol(t, 'bob');
    await post('/totp/verify', { user_id: 'bob', otp: codeFor(t, e) });
    step();
    const none = await post('/disable', { user_id: 'bob' });
    expect([none.statusCode, none.json().code]).toEqual([400, 'CODE_REQUIRED']);
    const wrong = await post('/disable', { user_id: 'bob', code: codeFor(t, e, 5) });
    expect([wrong.statusCode, wrong.json().code]).toEqual([401, 'INVALID_OTP']);
    expect(await status('bob')).toMatchObject({ enabled: true, failed_attempts: 1 });
    const ok = await post('/disable', { user_id: 'bob', code: codeFor(t, e) });
    expect([ok.statusCode, ok.json()]).toEqual([200, { user_id: 'bob', enabled: false }]);
    expect(await status('bob')).toMatchObject({ enabled: false, methods: { totp: 'active' }, failed_attempts: 0 });
    // Already off: nothing to prove.
    expect((await post('/disable', { user_id: 'bob' })).json()).toEqual({ user_id: 'bob', enabled: false });
    // The code just used cannot be replayed to turn it back on.
    const replay = await post('/enable', { user_id: 'bob', code: codeFor(t, e) });
    expect(replay.statusCode).toBe(401);
    const on = await post('/enable', { user_id: 'bob' });
    expect([on.statusCode, on.json()]).toEqual([200, { user_id: 'bob', enabled: true }]);
  });

  it('/enable needs an enrolment; a pending one is confirmed by a code given to /enable', async () => {
    await t.store.users.ensure('carol', t.clock.now()); // a user known only by its configuration
    const bare = await post('/enable', { user_id: 'carol' });
    expect([bare.statusCode, bare.json().code]).toEqual([404, 'NOT_ENROLLED']);
    const e = await enrol(t, 'carol');
    expect((await post('/enable', { user_id: 'carol' })).json().code).toBe('NOT_ENROLLED');
    const ok = await post('/enable', { user_id: 'carol', code: codeFor(t, e) });
    expect([ok.statusCode, ok.json()]).toEqual([200, { user_id: 'carol', enabled: true }]);
    expect(await status('carol')).toMatchObject({ enabled: true, methods: { totp: 'active' } });
  });

  it('unknown users are 404 USER_NOT_FOUND on every route, changing nothing', async () => {
    const before = tableCounts(t);
    for (const res of [
      await post('/enable', { user_id: 'nobody' }),
      await post('/disable', { user_id: 'nobody', code: '123456' }),
      await post('/totp/verify', { username: 'nobody', otp: '123456' }),
      await t.app.inject({ url: '/status/nobody', headers: t.auth }),
    ]) {
      expect([res.statusCode, res.json()]).toEqual([404, { error: expect.any(String), code: 'USER_NOT_FOUND' }]);
    }
    expect(tableCounts(t)).toEqual(before);
  });
});
