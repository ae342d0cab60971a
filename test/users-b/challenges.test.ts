import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, oathtool, type TestApp } from '../helpers/app.js';
import { auditOf, enrolActive, generateCodes, newUser, post, snapshot } from './support.js';

async function open(t: TestApp, userId: string, method: 'totp' | 'backup_code'): Promise<string> {
  const res = await post(t, '/challenge', { user_id: userId, method });
  expect(res.statusCode, res.body).toBe(201);
  return res.json().challenge_id as string;
}

describe('challenges', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ env: { LOCKOUT_THRESHOLD: '100', CHALLENGE_TTL_SECONDS: '120', CHALLENGE_MAX_ATTEMPTS: '3' } });
    await newUser(t, 'alice');
  });
  afterEach(() => t.close());

  it('opens a challenge with a random id and an expiry, for a method the user has', async () => {
    await generateCodes(t, 'alice');
    const res = await post(t, '/challenge', { user_id: 'alice', method: 'backup_code' });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toEqual({ challenge_id: expect.stringMatching(/^[0-9a-f]{32}$/), method: 'backup_code', expires_at: '2026-11-23T14:07:00.000Z' });
    expect(await open(t, 'alice', 'backup_code')).not.toBe(body.challenge_id);
    const noTotp = await post(t, '/challenge', { user_id: 'alice', method: 'totp' });
    expect([noTotp.statusCode, noTotp.json().code]).toEqual([409, 'METHOD_NOT_AVAILABLE']);
  });

  it('verifies with a backup code once; a second verification is 409 CHALLENGE_ALREADY_VERIFIED', async () => {
    const codes = await generateCodes(t, 'alice');
    const id = await open(t, 'alice', 'backup_code');
    const ok = await post(t, '/challenge/verify', { challenge_id: id, code: codes[0] });
    expect([ok.statusCode, ok.json()]).toEqual([200, { verified: true, user_id: 'alice', method: 'backup_code' }]);
    const twice = await post(t, '/challenge/verify', { challenge_id: id, code: codes[1] });
    expect([twice.statusCode, twice.json().code]).toEqual([409, 'CHALLENGE_ALREADY_VERIFIED']);
    // The first code is spent, the second was not touched.
    expect((await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] })).statusCode).toBe(401);
    expect((await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[1] })).json()).toEqual({ valid: true, remaining: 8 });
  });

  it('verifies with a TOTP code, and a TOTP step accepted once is not accepted again', async () => {
    const hex = await enrolActive(t, 'alice');
    const code = oathtool(hex, t.clock.now());
    const id = await open(t, 'alice', 'totp');
    const ok = await post(t, '/challenge/verify', { challenge_id: id, code });
    expect([ok.statusCode, ok.json()]).toEqual([200, { verified: true, user_id: 'alice', method: 'totp' }]);
    const again = await post(t, '/challenge/verify', { challenge_id: await open(t, 'alice', 'totp'), code });
    expect([again.statusCode, again.json().code]).toEqual([401, 'INVALID_CODE']);
    const viaTotp = await post(t, '/totp/verify', { user_id: 'alice', otp: code });
    expect(viaTotp.statusCode).toBe(401);
  });

  it('expires after CHALLENGE_TTL_SECONDS with 410 CHALLENGE_EXPIRED, even with a right code', async () => {
    const codes = await generateCodes(t, 'alice');
    const id = await open(t, 'alice', 'backup_code');
    t.clock.advance(120_000);
    const late = await post(t, '/challenge/verify', { challenge_id: id, code: codes[0] });
    expect([late.statusCode, late.json().code]).toEqual([410, 'CHALLENGE_EXPIRED']);
    // Audited as a failed verification; no code was checked, so nothing was charged or spent.
    const [last] = await auditOf(t, 'alice');
    expect([last!.event, last!.success, last!.reason]).toEqual(['challenge.verify', false, 'backup_code:challenge_expired']);
    expect((await t.store.users.get('alice'))!.failedAttempts).toBe(0);
    expect((await post(t, '/backup-codes/verify', { user_id: 'alice', code: codes[0] })).statusCode).toBe(200);
  });

  it('allows CHALLENGE_MAX_ATTEMPTS tries, then 410 even with a right code', async () => {
    const codes = await generateCodes(t, 'alice');
    const id = await open(t, 'alice', 'backup_code');
    for (let i = 0; i < 3; i++) {
      const r = await post(t, '/challenge/verify', { challenge_id: id, code: 'zzzzz-zzzzz' });
      expect([r.statusCode, r.json().code]).toEqual([401, 'INVALID_CODE']);
    }
    const r = await post(t, '/challenge/verify', { challenge_id: id, code: codes[0] });
    expect([r.statusCode, r.json().code]).toEqual([410, 'CHALLENGE_EXPIRED']);
  });

  it('checks at most CHALLENGE_MAX_ATTEMPTS codes of 20 parallel tries', async () => {
    await generateCodes(t, 'alice');
    const id = await open(t, 'alice', 'backup_code');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(t, '/challenge/verify', { challenge_id: id, code: 'zzzzz-zzzzz' }, `192.0.2.${i}`)),
    );
    const statuses = results.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 401)).toHaveLength(3);
    expect(statuses.filter((s) => s === 410)).toHaveLength(17);
  });

  it('lets one of several racing right answers verify the challenge', async () => {
    const codes = await generateCodes(t, 'alice');
    const id = await open(t, 'alice', 'backup_code');
    const results = await Promise.all(codes.slice(0, 3).map((code, i) => post(t, '/challenge/verify', { challenge_id: id, code }, `192.0.2.${i}`)));
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(1);
  });

  it('audits creation and each verification, never the code', async () => {
    const codes = await generateCodes(t, 'alice');
    const id = await open(t, 'alice', 'backup_code');
    await post(t, '/challenge/verify', { challenge_id: id, code: 'zzzzz-zzzzz' });
    await post(t, '/challenge/verify', { challenge_id: id, code: codes[0] });
    const events = (await auditOf(t, 'alice')).map((e) => `${e.event}:${e.success}:${e.reason}:${e.ip}`);
    expect(events.slice(0, 4)).toEqual([
      'challenge.verify:true:null:198.51.100.7',
      'backup_code.use:true:null:198.51.100.7',
      'challenge.verify:false:backup_code:invalid_code:198.51.100.7',
      'challenge.create:true:backup_code:198.51.100.7',
    ]);
    expect(JSON.stringify(await auditOf(t, 'alice'))).not.toContain(codes[0]!.slice(0, 5));
  });

  it('answers unknown ids, users and malformed bodies in the error format and changes nothing', async () => {
    await generateCodes(t, 'alice');
    const before = snapshot(t);
    const cases: [string, unknown, number, string][] = [
      ['/challenge', { user_id: 'bob', method: 'backup_code' }, 404, 'USER_NOT_FOUND'],
      ['/challenge', { user_id: 'alice', method: 'sms' }, 400, 'VALIDATION_FAILED'],
      ['/challenge', { user_id: 'alice' }, 400, 'VALIDATION_FAILED'],
      ['/challenge/verify', { challenge_id: 'f'.repeat(32), code: '123456' }, 404, 'CHALLENGE_NOT_FOUND'],
      ['/challenge/verify', { challenge_id: 'not-an-id', code: '123456' }, 400, 'VALIDATION_FAILED'],
      ['/challenge/verify', { challenge_id: 'f'.repeat(32) }, 400, 'VALIDATION_FAILED'],
      ['/challenge/verify', { challenge_id: 'f'.repeat(32), code: 123456 }, 404, 'CHALLENGE_NOT_FOUND'],
    ];
    for (const [url, body, status, code] of cases) {
      const r = await post(t, url, body);
      expect([r.statusCode, r.json().code], JSON.stringify(body)).toEqual([status, code]);
    }
    expect(snapshot(t)).toBe(before);
  });
});

describe('challenges and the lockout', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp({ env: { CHALLENGE_MAX_ATTEMPTS: '20' } });
    await newUser(t, 'alice');
  });
  afterEach(() => t.close());

  it('counts challenge failures with the other methods: locked, a right answer is 429 with Retry-After', async () => {
    const codes = await generateCodes(t, 'alice');
    for (let i = 0; i < 3; i++) await post(t, '/backup-codes/verify', { user_id: 'alice', code: 'zzzzz-zzzzz' }, `192.0.2.${i}`);
    const id = await open(t, 'alice', 'backup_code');
    for (let i = 0; i < 2; i++) expect((await post(t, '/challenge/verify', { challenge_id: id, code: 'zzzzz-zzzzz' })).statusCode).toBe(401);
    const locked = await post(t, '/challenge/verify', { challenge_id: id, code: codes[0] });
    expect([locked.statusCode, locked.json().code, locked.headers['retry-after']]).toEqual([429, 'ACCOUNT_LOCKED', '60']);
  });

  it('while locked, a closed challenge is 429 too (API.md: every verification), and audited as locked', async () => {
    const codes = await generateCodes(t, 'alice');
    const id = await open(t, 'alice', 'backup_code');
    expect((await post(t, '/challenge/verify', { challenge_id: id, code: codes[0] })).statusCode).toBe(200);
    expect((await post(t, '/challenge/verify', { challenge_id: id, code: codes[1] })).json().code).toBe('CHALLENGE_ALREADY_VERIFIED');
    for (let i = 0; i < 5; i++) await post(t, '/backup-codes/verify', { user_id: 'alice', code: 'zzzzz-zzzzz' });
    t.clock.advance(10_000);
    const closed = await post(t, '/challenge/verify', { challenge_id: id, code: codes[1] });
    expect([closed.statusCode, closed.json().code, closed.headers['retry-after']]).toEqual([429, 'ACCOUNT_LOCKED', '50']);
    expect((await auditOf(t, 'alice'))[0]).toMatchObject({ event: 'challenge.verify', success: false, reason: 'locked' });
    t.clock.advance(50_000);
    expect((await post(t, '/challenge/verify', { challenge_id: id, code: codes[1] })).json().code).toBe('CHALLENGE_ALREADY_VERIFIED');
  });
});

// The HTTP tests above run one request at a time up to the first real await, so the bounds
// below are also checked where they are enforced: the conditional UPDATEs of the repository.
describe('challenge storage', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
  });
  afterEach(() => t.close());

  it('charges at most max_attempts, only before expiry, and verifies once', async () => {
    const now = t.clock.now();
    const audit = { userId: 'alice', event: 'challenge.create', success: true, ip: null, at: now };
    await t.store.challenges.create({ id: 'a'.repeat(32), userId: 'alice', method: 'totp', maxAttempts: 3, createdAt: now, expiresAt: now + 1000 }, audit);
    const charges = await Promise.all(Array.from({ length: 10 }, () => t.store.challenges.chargeAttempt('a'.repeat(32), now)));
    expect(charges.filter(Boolean)).toHaveLength(3);
    await t.store.challenges.create({ id: 'b'.repeat(32), userId: 'alice', method: 'totp', maxAttempts: 3, createdAt: now, expiresAt: now + 1000 }, audit);
    expect(await t.store.challenges.chargeAttempt('b'.repeat(32), now + 1000)).toBe(false);
    const wins = await Promise.all(Array.from({ length: 5 }, () => t.store.challenges.markVerified('b'.repeat(32), now)));
    expect(wins.filter(Boolean)).toHaveLength(1);
    expect(await t.store.challenges.chargeAttempt('b'.repeat(32), now)).toBe(false);
  });
});
