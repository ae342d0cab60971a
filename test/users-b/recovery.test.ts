import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, oathtool, type TestApp } from '../helpers/app.js';
import { auditOf, enrolActive, generateCodes, get, IP, newUser, post, snapshot } from './support.js';

async function request(t: TestApp, userId: string): Promise<string> {
  const res = await post(t, '/recovery', { user_id: userId, reason: 'lost my phone' });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().recovery_id as string;
}

describe('recovery', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
    await newUser(t, 'alice');
  });
  afterEach(() => t.close());

  it('creates a pending request that expires after RECOVERY_TTL_HOURS, one pending per user', async () => {
    const res = await post(t, '/recovery', { user_id: 'alice', reason: 'lost my phone' });
    expect([res.statusCode, res.json()]).toEqual([
      201,
      { recovery_id: expect.stringMatching(/^[0-9a-f]{32}$/), status: 'pending', expires_at: '2026-11-24T14:05:00.000Z' },
    ]);
    const second = await post(t, '/recovery', { user_id: 'alice', reason: 'again' });
    expect([second.statusCode, second.json().code]).toEqual([409, 'RECOVERY_ALREADY_PENDING']);
    t.clock.advance(24 * 3600 * 1000);
    // The first one expired: a new request may be made, and the old one cannot be approved.
    const third = await post(t, '/recovery', { user_id: 'alice', reason: 'still lost' });
    expect(third.statusCode).toBe(201);
    const old = await post(t, '/recovery/approve', { recovery_id: res.json().recovery_id, approved_by: 'ops@example.com' });
    expect([old.statusCode, old.json().code]).toEqual([410, 'RECOVERY_EXPIRED']);
  });

  it('approval resets every factor and the lockout, so the user can enrol again', async () => {
    const hex = await enrolActive(t, 'alice');
    const codes = await generateCodes(t, 'alice');
    expect((await post(t, '/challenge', { user_id: 'alice', method: 'totp' })).statusCode).toBe(201);
    for (let i = 0; i < 5; i++) await post(t, '/totp/verify', { user_id: 'alice', otp: '000000' }, `192.0.2.${i}`);
    const locked = await get(t, '/status/alice');
    expect(locked.json()).toMatchObject({ enabled: true, methods: { totp: 'active' }, backup_codes_remaining: 10 });
    expect(locked.json().locked_until).not.toBeNull();

    const id = await request(t, 'alice');
    const ok = await post(t, '/recovery/approve', { recovery_id: id, approved_by: 'ops@example.com' });
    expect([ok.statusCode, ok.json()]).toEqual([200, { recovery_id: id, status: 'approved' }]);

    expect((await get(t, '/status/alice')).json()).toEqual({
      user_id: 'alice',
      enabled: false,
      methods: { totp: 'none' },
      backup_codes_remaining: 0,
      locked_until: null,
      failed_attempts: 0,
    });
    expect(t.store.db.prepare("SELECT COUNT(*) AS n FROM challenges WHERE user_id = 'alice'").get()).toEqual({ n: 0 });
    // The old factors are gone: neither the old secret nor an old backup code works.
    expect((await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] })).statusCode).toBe(401);
    expect((await post(t, '/totp/verify', { user_id: 'alice', otp: oathtool(hex, t.clock.now()) })).statusCode).toBe(404);
    // And a new enrolment is possible at once (not 409 ALREADY_ENROLLED).
    await enrolActive(t, 'alice');
    expect((await get(t, '/status/alice')).json()).toMatchObject({ enabled: true, methods: { totp: 'active' } });
  });

  it('approving twice is 409 RECOVERY_ALREADY_APPROVED and does not reset factors enrolled since', async () => {
    const id = await request(t, 'alice');
    expect((await post(t, '/recovery/approve', { recovery_id: id, approved_by: 'ops' })).statusCode).toBe(200);
    await enrolActive(t, 'alice');
    const before = snapshot(t);
    const twice = await post(t, '/recovery/approve', { recovery_id: id, approved_by: 'ops' });
    expect([twice.statusCode, twice.json().code]).toEqual([409, 'RECOVERY_ALREADY_APPROVED']);
    expect(snapshot(t)).toBe(before);
    expect((await get(t, '/status/alice')).json().methods.totp).toBe('active');
  });

  it('an unknown or expired request is a clear error and changes nothing', async () => {
    await enrolActive(t, 'alice');
    const id = await request(t, 'alice');
    t.clock.advance(24 * 3600 * 1000);
    const before = snapshot(t);
    const expired = await post(t, '/recovery/approve', { recovery_id: id, approved_by: 'ops' });
    expect([expired.statusCode, expired.json().code]).toEqual([410, 'RECOVERY_EXPIRED']);
    const unknown = await post(t, '/recovery/approve', { recovery_id: 'e'.repeat(32), approved_by: 'ops' });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, 'RECOVERY_NOT_FOUND']);
    const cases: [string, unknown, number, string][] = [
      ['/recovery', { user_id: 'bob', reason: 'x' }, 404, 'USER_NOT_FOUND'],
      ['/recovery', { user_id: 'alice' }, 400, 'VALIDATION_FAILED'],
      ['/recovery', { user_id: 'alice', reason: '   ' }, 400, 'VALIDATION_FAILED'],
      ['/recovery', { user_id: 'alice', reason: 42 }, 400, 'VALIDATION_FAILED'],
      ['/recovery/approve', { recovery_id: id }, 400, 'VALIDATION_FAILED'],
      ['/recovery/approve', { recovery_id: 'nope', approved_by: 'ops' }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [url, body, status, code] of cases) {
      const r = await post(t, url, body);
      expect([r.statusCode, r.json().code], JSON.stringify(body)).toEqual([status, code]);
    }
    expect(snapshot(t)).toBe(before);
  });

  it('audits the request and the approval with user, outcome, address and time', async () => {
    const id = await request(t, 'alice');
    t.clock.advance(1000);
    await post(t, '/recovery/approve', { recovery_id: id, approved_by: 'ops' }, '203.0.113.9');
    const events = (await auditOf(t, 'alice')).map((e) => [e.event, e.success, e.ip, e.at]);
    expect(events).toEqual([
      ['recovery.approve', true, '203.0.113.9', t.clock.now()],
      ['recovery.request', true, IP, t.clock.now() - 1000],
    ]);
    // The caller's free-text reason stays with the request, out of the audit log.
    expect(JSON.stringify(await auditOf(t, 'alice'))).not.toContain('lost my phone');
  });
});
