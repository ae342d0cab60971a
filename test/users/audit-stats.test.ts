import { Database } from '../../src/db/driver.js';
import { afterEach, describe, expect, it } from 'vitest';
import { databasePath } from '../../src/db/open.js';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { mustNotLog } from '../helpers/log-capture.js';
import { codeFor, enrol, verifyTotp } from './helpers.js';

// GET /audit and GET /analytics/stats, on data the tests build through the routes.

describe('audit log and stats', () => {
  let t: TestApp;
  afterEach(() => t.close());
  const post = (url: string, payload: object, ip = '192.0.2.10') => t.app.inject({ method: 'POST', url, headers: t.auth, payload, remoteAddress: ip });
  const get = (url: string) => t.app.inject({ url, headers: t.auth });

  it('every event lands with user, event, outcome, client address and time; none holds a secret or a code', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '1000' } });
    const e = await enrol(t, 'alice', { register: true });
    const secrets: string[] = [e.secretBase32, e.secretHex];
    const c1 = codeFor(t, e);
    secrets.push(c1);
    await post('/totp/verify', { username: 'alice', otp: '000000' }, '192.0.2.1');
    await post('/totp/verify', { username: 'alice', otp: c1 }, '192.0.2.2');
    await post('/totp/verify', { username: 'alice', otp: c1 }, '192.0.2.3');
    const gen = (await post('/generate', { username: 'alice' })).json().otp_code as string;
    mustNotLog(gen);
    secrets.push(gen);
    await post('/verify', { username: 'alice', otp_code: gen });
    t.clock.advance(30_000);
    const c2 = codeFor(t, e);
    secrets.push(c2);
    await post('/disable', { user_id: 'alice', code: c2 });
    await post('/enable', { user_id: 'alice' });
    for (let i = 0; i < 5; i++) await post('/verify', { username: 'alice', otp_code: '99999' });
    await post('/verify', { username: 'alice', otp_code: '99999' });

    const res = await get('/audit?user_id=alice&limit=100');
    expect(res.statusCode).toBe(200);
    const events = res.json().events as { id: number; user_id: string; event: string; success: boolean; reason: string | null; ip: string; at: string }[];
    const summary = events.map((ev) => `${ev.event} ${ev.success} ${ev.reason ?? ''}`.trim()).reverse();
    expect(summary).toEqual([
      'enrolment.create true',
      'totp.verify false invalid_code',
      'totp.verify true',
      'enrolment.activate true',
      'totp.verify false replay',
      'otp.generate true',
      'otp.verify true',
      'totp.verify true',
      'twofa.disable true',
      'twofa.enable true',
      ...Array(5).fill('otp.verify false invalid_code'),
      'lockout false locked_60s',
      'otp.verify false locked',
    ]);
    // Each event carries the address of the request that caused it (the enrolment came from inject's default).
    const ips = events.map((ev) => ev.ip).reverse();
    expect(ips.slice(0, 5)).toEqual(['127.0.0.1', '192.0.2.1', '192.0.2.2', '192.0.2.2', '192.0.2.3']);
    expect(ips.slice(5)).toEqual(Array(events.length - 5).fill('192.0.2.10'));
    for (const ev of events) {
      expect(ev.user_id).toBe('alice');
      expect(ev.at).toBe(new Date(Date.parse(ev.at)).toISOString());
    }
    // Straight from the file: no column of any audit row holds a secret or a code.
    const db = new Database(databasePath(t.dataDir), { readonly: true });
    const rows = JSON.stringify(db.prepare('SELECT * FROM audit_events').all());
    db.close();
    for (const s of secrets) expect(rows).not.toContain(s);
  });

  it('filters by event, pages newest first with next/before, and refuses bad queries', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '1000' } });
    for (const u of ['u1', 'u2', 'u3', 'u4', 'u5']) await enrol(t, u);
    const page1 = (await get('/audit?event=enrolment.create&limit=2')).json();
    expect(page1.events.map((e: { user_id: string }) => e.user_id)).toEqual(['u5', 'u4']);
    const page2 = (await get(`/audit?event=enrolment.create&limit=2&before=${page1.next}`)).json();
    expect(page2.events.map((e: { user_id: string }) => e.user_id)).toEqual(['u3', 'u2']);
    const page3 = (await get(`/audit?event=enrolment.create&limit=2&before=${page2.next}`)).json();
    expect(page3).toMatchObject({ next: null });
    expect(page3.events.map((e: { user_id: string }) => e.user_id)).toEqual(['u1']);
    // Decimal digits only: what z.coerce.number() would read as another number is refused too.
    const notDecimal = ['limit=1e1', 'limit=0x10', 'limit=%205', 'limit=5.0', 'limit=', 'limit=1&limit=2', 'before=1e3'];
    for (const q of ['limit=0', 'limit=501', 'limit=x', 'before=-1', 'user_id=bad%20id', ...notDecimal]) {
      const r = await get(`/audit?${q}`);
      expect([r.statusCode, r.json().code], q).toEqual([400, 'VALIDATION_FAILED']);
    }
    expect((await t.app.inject({ url: '/audit' })).statusCode).toBe(401);
  });

  it('/analytics/stats counts a data set built for it', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '1000' } });
    const start = t.clock.now();
    const a = await enrol(t, 'a'); // active, enabled: 1 totp success
    await verifyTotp(t, 'a', codeFor(t, a));
    await enrol(t, 'b'); // pending
    const c = await enrol(t, 'c'); // active, then disabled: 1 success, 1 failure
    await verifyTotp(t, 'c', codeFor(t, c));
    await verifyTotp(t, 'c', codeFor(t, c)); // replay: failure
    t.clock.advance(30_000);
    await post('/disable', { user_id: 'c', code: codeFor(t, c) }); // totp success
    const d = await enrol(t, 'd'); // pending and locked: 5 failures, then refusals
    for (let i = 0; i < 5; i++) await verifyTotp(t, 'd', '000000' === codeFor(t, d) ? '000001' : '000000');
    await verifyTotp(t, 'd', codeFor(t, d));
    const g = (await post('/generate', { username: 'b' })).json().otp_code as string;
    mustNotLog(g);
    await post('/verify', { username: 'b', otp_code: g }); // otp success
    await post('/verify', { username: 'b', otp_code: g }); // otp failure (used)
    await post('/verify', { username: 'd', otp_code: g }); // otp refused: locked

    const res = await get('/analytics/stats');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      since: null,
      generated_at: new Date(t.clock.now()).toISOString(),
      users: { total: 4, enabled: 1, totp_pending: 2, totp_active: 2 }, // b and d pending; a and c active, c disabled
      active_lockouts: 1,
      lockouts_started: 1,
      verifications: {
        success: 4,
        failure: 7,
        locked: 2,
        total: 13,
        by_method: {
          totp: { success: 3, failure: 6, locked: 1 },
          otp: { success: 1, failure: 1, locked: 1 },
          backup_code: { success: 0, failure: 0, locked: 0 },
          challenge: { success: 0, failure: 0, locked: 0 },
        },
      },
    });
    // since: only what happened from then on (unix seconds or ISO 8601).
    const later = Math.floor(start / 1000) + 30;
    for (const since of [String(later), new Date(later * 1000).toISOString()]) {
      const s = (await get(`/analytics/stats?since=${encodeURIComponent(since)}`)).json();
      expect(s.since).toBe(new Date(later * 1000).toISOString());
      expect(s.verifications.total).toBe(13 - 3); // the three TOTP checks before the clock moved
      expect(s.users.total).toBe(4);
    }
    for (const bad of ['yesterday', '12abc', '2026-13-45']) {
      const r = await get(`/analytics/stats?since=${bad}`);
      expect([r.statusCode, r.json().code], bad).toEqual([400, 'VALIDATION_FAILED']);
    }
  });
});
