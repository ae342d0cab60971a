import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { auditOf, get, newUser, post, snapshot } from './support.js';

const put = (t: TestApp, userId: string, payload: unknown) =>
  t.app.inject({ method: 'PUT', url: `/config/${userId}`, headers: t.auth, payload: payload as object });

describe('user configuration', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await createTestApp();
    await newUser(t, 'alice');
  });
  afterEach(() => t.close());

  it('creates with POST (201), reads with GET, changes the given fields with PUT', async () => {
    expect((await get(t, '/config/alice')).json().code).toBe('CONFIG_NOT_FOUND');
    const created = await post(t, '/config', { user_id: 'alice', email: 'alice@example.com' });
    const at = '2026-11-23T14:05:00.000Z';
    expect([created.statusCode, created.json()]).toEqual([
      201,
      { user_id: 'alice', preferred_method: 'totp', email: 'alice@example.com', phone: null, created_at: at, updated_at: at },
    ]);
    const again = await post(t, '/config', { user_id: 'alice' });
    expect([again.statusCode, again.json().code]).toEqual([409, 'CONFIG_ALREADY_EXISTS']);
    t.clock.advance(1000);
    const changed = await put(t, 'alice', { preferred_method: 'sms', phone: '+14155550123' });
    expect(changed.json()).toEqual({
      user_id: 'alice',
      preferred_method: 'sms',
      email: 'alice@example.com',
      phone: '+14155550123',
      created_at: at,
      updated_at: '2026-11-23T14:05:01.000Z',
    });
    const cleared = await put(t, 'alice', { email: null });
    expect(cleared.json()).toMatchObject({ email: null, phone: '+14155550123', preferred_method: 'sms' });
    expect((await get(t, '/config/alice')).json()).toEqual(cleared.json());
  });

  it('PUT creates a missing configuration from the defaults', async () => {
    const r = await put(t, 'alice', { phone: '+441632960961' });
    expect([r.statusCode, r.json()]).toMatchObject([200, { preferred_method: 'totp', email: null, phone: '+441632960961' }]);
  });

  it('a configuration may come first (seeds/004): it makes the user, who can then set up TOTP and get one-time codes', async () => {
    const created = await post(t, '/config', { user_id: 'carol', preferred_method: 'email', email: 'carol@example.com' });
    expect([created.statusCode, created.json().user_id]).toEqual([201, 'carol']);
    expect((await get(t, '/status/carol')).json()).toEqual({
      user_id: 'carol',
      enabled: false,
      methods: { totp: 'none' },
      backup_codes_remaining: 0,
      locked_until: null,
      failed_attempts: 0,
    });
    expect((await post(t, '/generate', { username: 'carol' })).statusCode).toBe(201);
    expect((await post(t, '/totp/setup', { user_id: 'carol' })).statusCode).toBe(201);
    const viaPut = await put(t, 'dan', { phone: '+14155550123' });
    expect([viaPut.statusCode, viaPut.json()]).toMatchObject([200, { user_id: 'dan', preferred_method: 'totp', phone: '+14155550123' }]);
    expect((await get(t, '/status/dan')).statusCode).toBe(200);
    expect((await auditOf(t, 'dan')).map((e) => e.event)).toEqual(['config.update']);
  });

  it('audits creation and changes without the contact details', async () => {
    await post(t, '/config', { user_id: 'alice', email: 'alice@example.com' });
    await put(t, 'alice', { phone: '+14155550123' });
    const events = await auditOf(t, 'alice');
    expect(events.map((e) => [e.event, e.success])).toEqual([
      ['config.update', true],
      ['config.create', true],
    ]);
    expect(JSON.stringify(events)).not.toMatch(/alice@example|4155550123/);
  });

  it('answers unknown users, malformed bodies and wrong types in the error format and changes nothing', async () => {
    await post(t, '/config', { user_id: 'alice' });
    const before = snapshot(t);
    const cases: [Promise<{ statusCode: number; json(): { code: string; fields?: string[] } }>, number, string, string?][] = [
      [get(t, '/config/bob'), 404, 'USER_NOT_FOUND'],
      [post(t, '/config', { user_id: 'alice', email: 'not-an-email' }), 400, 'VALIDATION_FAILED', 'body.email'],
      [post(t, '/config', { user_id: 'alice', phone: '555-1234' }), 400, 'VALIDATION_FAILED', 'body.phone'],
      [post(t, '/config', { user_id: 'alice', preferred_method: 'pigeon' }), 400, 'VALIDATION_FAILED', 'body.preferred_method'],
      [put(t, 'alice', { preferred_method: 7 }), 400, 'VALIDATION_FAILED', 'body.preferred_method'],
      [put(t, 'alice', {}), 400, 'VALIDATION_FAILED'],
      [get(t, '/config/al%20ice'), 400, 'VALIDATION_FAILED'],
    ];
    for (const [p, status, code, field] of cases) {
      const r = await p;
      expect([r.statusCode, r.json().code]).toEqual([status, code]);
      if (field) expect(r.json().fields).toContain(field);
    }
    expect(snapshot(t)).toBe(before);
  });
});
