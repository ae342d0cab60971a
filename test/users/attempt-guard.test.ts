import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { createAttemptGuard, type AttemptGuard } from '../../src/services/attempt-guard.js';
import { createTestApp, type TestApp } from '../helpers/app.js';

// The guard on its own, over the real SQLite store: the HTTP tests cover it through the routes.

const ctx = { ip: '192.0.2.1', method: 'totp' as const };

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}

describe('attempt guard', () => {
  let t: TestApp;
  let guard: AttemptGuard;
  beforeEach(async () => {
    t = await createTestApp();
    guard = createAttemptGuard({ store: t.store, clock: t.clock, threshold: 5, baseSeconds: 60, maxSeconds: 3600 });
    await t.store.users.ensure('alice', t.clock.now());
  });
  afterEach(() => t.close());

  const fail = async (n: number) => {
    for (let i = 0; i < n; i++) await guard.settle(await guard.charge('alice', ctx), false, { reason: 'invalid_code' });
  };

  it('refuses an unknown user with 404 and writes nothing', async () => {
    const err = await refusal(guard.charge('nobody', ctx));
    expect([err.status, err.code]).toEqual([404, 'USER_NOT_FOUND']);
    expect(await t.store.users.get('nobody')).toBeNull();
    expect(await t.store.audit.list({ limit: 10 })).toEqual([]);
  });

  it('locks after the threshold, with Retry-After, and doubles each lockout up to the cap', async () => {
    await fail(5);
    let err = await refusal(guard.charge('alice', ctx));
    expect([err.status, err.code, err.headers['retry-after']]).toEqual([429, 'ACCOUNT_LOCKED', '60']);
    t.clock.advance(59_000);
    err = await refusal(guard.charge('alice', ctx));
    expect(err.headers['retry-after']).toBe('1');
    const durations: number[] = [];
    for (let n = 0; n < 8; n++) {
      const u = (await t.store.users.get('alice'))!;
      t.clock.set(u.lockedUntil!); // the lock ends exactly here: no longer locked
      await fail(5);
      const locked = (await t.store.users.get('alice'))!;
      durations.push((locked.lockedUntil! - t.clock.now()) / 1000);
    }
    expect(durations).toEqual([120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    const events = await t.store.audit.list({ userId: 'alice', event: 'lockout', limit: 100 });
    expect(events).toHaveLength(9);
  });

  it('a success resets the count and the doubling', async () => {
    await fail(4);
    await guard.settle(await guard.charge('alice', ctx), true);
    expect(await t.store.users.get('alice')).toMatchObject({ failedAttempts: 0, lockoutCount: 0, lockedUntil: null });
    await fail(4);
    expect((await t.store.users.get('alice'))!.lockedUntil).toBeNull();
    await fail(1);
    expect((await t.store.users.get('alice'))!.lockedUntil).toBe(t.clock.now() + 60_000);
  });

  it('charges before the check: 200 outstanding attempts allow only the threshold', async () => {
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => guard.charge('alice', ctx)));
    const tickets = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    expect(tickets).toHaveLength(5);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as AppError).code).toBe('ACCOUNT_LOCKED');
    for (const ticket of tickets) await guard.settle(ticket, false);
    const u = (await t.store.users.get('alice'))!;
    expect(u.lockedUntil).toBe(t.clock.now() + 60_000);
    expect(u.lockoutCount).toBe(1);
  });

  it('writes the refused attempt and the lockout to the audit log, without a code', async () => {
    await fail(5);
    await refusal(guard.charge('alice', { ip: '198.51.100.7', method: 'otp' }));
    const [refused, lockout] = await t.store.audit.list({ userId: 'alice', limit: 2 });
    expect(refused).toMatchObject({ event: 'otp.verify', success: false, reason: 'locked', ip: '198.51.100.7' });
    expect(lockout).toMatchObject({ event: 'lockout', success: false, ip: '192.0.2.1' });
  });
});
