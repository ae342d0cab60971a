import { describe, expect, it } from 'vitest';
import { createAuditRetention } from '../../src/services/audit-retention.js';
import { createTestApp, randomHexSeed, setSeed, type TestApp } from '../helpers/app.js';
import { captured } from '../helpers/log-capture.js';
import { waitFor } from '../helpers/spawn.js';
import { codeFor, enrol, verifyTotp } from './helpers.js';

// AUDIT_RETENTION_DAYS: events older than the retention are deleted; nothing else changes.

const DAY = 24 * 3600 * 1000;

type Event = { id: number; user_id: string | null; event: string; success: boolean; at: string };
const events = async (t: TestApp, query = '') => (await t.app.inject({ url: `/audit?limit=500${query}`, headers: t.auth })).json().events as Event[];

describe('audit retention', () => {
  it('deletes the events older than the retention and keeps the rest, the users and their lockout state', async () => {
    const t = await createTestApp();
    await setSeed(t, randomHexSeed());
    const alice = await enrol(t, 'alice@example.com');
    expect((await verifyTotp(t, alice.userId, codeFor(t, alice))).statusCode).toBe(200);
    const old = await events(t);
    expect(old.map((e) => e.event).sort()).toEqual(['enrolment.activate', 'enrolment.create', 'seed.set', 'totp.verify']);

    t.clock.advance(31 * DAY);
    const bob = await enrol(t, 'bob@example.com');
    expect((await verifyTotp(t, bob.userId, '000000')).statusCode).toBe(401); // a failure, charged
    const retention = createAuditRetention({ store: t.store, clock: t.clock, days: 30 });
    expect(await retention.prune()).toBe(old.length);
    expect(await retention.prune()).toBe(0);

    const kept = await events(t);
    expect(kept.map((e) => `${e.event} ${e.user_id}`)).toEqual(['totp.verify bob@example.com', 'enrolment.create bob@example.com']);
    // The users and their state are not the audit log's: alice is still enrolled and on, bob charged.
    const status = async (u: string) => (await t.app.inject({ url: `/status/${u}`, headers: t.auth })).json();
    expect(await status(alice.userId)).toMatchObject({ enabled: true, methods: { totp: 'active' } });
    expect(await status(bob.userId)).toMatchObject({ failed_attempts: 1 });
    // The stats count what is left.
    const stats = (await t.app.inject({ url: '/analytics/stats', headers: t.auth })).json();
    expect(stats.verifications).toMatchObject({ success: 0, failure: 1 });
    // Ids go on from the newest: a page cursor handed out before the deletion still means "older than".
    t.clock.advance(30_000);
    expect((await verifyTotp(t, alice.userId, codeFor(t, alice))).statusCode).toBe(200);
    expect((await events(t))[0]?.id).toBeGreaterThan(Math.max(...kept.map((e) => e.id)));
    await t.close();
  });

  it('works through a backlog in batches and always keeps the newest event', async () => {
    const t = await createTestApp();
    const start = t.clock.now();
    for (let i = 0; i < 2_500; i++) {
      await t.store.audit.append({ userId: `u${i}`, event: 'enrolment.create', success: true, ip: '192.0.2.1', at: start + i });
    }
    t.clock.advance(40 * DAY);
    const retention = createAuditRetention({ store: t.store, clock: t.clock, days: 30 });
    const counts: number[] = [];
    const stats = () => t.store.writeStats().commits;
    const commitsBefore = stats();
    counts.push(await retention.prune());
    // All 2,500 are past the retention: every one goes but the newest, in three or more writes.
    expect(counts).toEqual([2_499]);
    expect(stats() - commitsBefore).toBeGreaterThanOrEqual(3);
    expect((await events(t)).map((e) => e.user_id)).toEqual(['u2499']);
    await t.close();
  });

  it('runs in the service once it is ready when AUDIT_RETENTION_DAYS is set, and logs how many went', async () => {
    const first = await createTestApp();
    await enrol(first, 'carol@example.com');
    await enrol(first, 'erin@example.com');
    await first.close();
    first.clock.advance(8 * DAY);
    const t = await createTestApp({ dataDir: first.dataDir, clock: first.clock, env: { AUDIT_RETENTION_DAYS: '7' } });
    // carol's goes; erin's, older than the retention too, is the newest event and stays.
    await waitFor(() => captured.lines.some((l) => /"deleted":1,"retentionDays":7,.*"msg":"audit events older than the retention deleted"/.test(l)));
    expect((await events(t)).map((e) => e.user_id)).toEqual(['erin@example.com']);
    await enrol(t, 'dave@example.com');
    await t.close();

    // 0, the default: nothing is ever deleted.
    first.clock.advance(365 * DAY);
    const keep = await createTestApp({ dataDir: first.dataDir, clock: first.clock });
    expect(keep.config.auditRetentionDays).toBe(0);
    await keep.app.inject({ url: '/health' });
    expect((await events(keep)).map((e) => e.user_id)).toEqual(['dave@example.com', 'erin@example.com']);
    await keep.close();
  });
});
