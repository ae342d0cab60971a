import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

// Every lookup the per-user routes make is answered from an index, never a full table scan
// (the statements below are the repositories' own, with their parameters filled in).

const LOOKUPS: [string, string][] = [
  ['user by id (every route)', "SELECT * FROM users WHERE user_id = 'a'"],
  ['user credential (verify, status)', "SELECT * FROM totp_credentials WHERE kind = 'user' AND user_id = 'a'"],
  ['one-time code (/verify)', "SELECT id FROM one_time_codes WHERE user_id = 'a' AND code_hash = x'00' ORDER BY id DESC LIMIT 1"],
  ['unused codes of a user (/generate)', "DELETE FROM one_time_codes WHERE user_id = 'a' AND used_at IS NULL"],
  ['expired codes (/generate)', 'DELETE FROM one_time_codes WHERE expires_at < 5'],
  ['audit by user (/audit)', "SELECT * FROM audit_events WHERE user_id = 'a' AND id < 9 ORDER BY id DESC LIMIT 5"],
  ['audit by event (/audit)', "SELECT * FROM audit_events WHERE event = 'lockout' ORDER BY id DESC LIMIT 5"],
  ['enabled users (stats)', 'SELECT COUNT(*) FROM users WHERE enabled = 1'],
  ['locked users (stats)', 'SELECT COUNT(*) FROM users WHERE locked_until IS NOT NULL AND locked_until > 5'],
  ['enrolments by state (stats)', "SELECT COUNT(*) FROM totp_credentials WHERE kind = 'user' AND status = 'pending'"],
  ['used signature (/otp/secure)', "SELECT 1 FROM used_signatures WHERE signed_at = 5 AND signature = x'00'"],
  ['expired signatures (/otp/secure)', 'DELETE FROM used_signatures WHERE signed_at < 5'],
  ['signature used before migration 007', "SELECT 1 FROM used_signatures_legacy WHERE signature = 'a'"],
  ['next data key id (/health)', "SELECT key_id FROM totp_credentials WHERE key_id > 'a' ORDER BY key_id LIMIT 1"],
  ['verifications since (stats)', "SELECT event, COUNT(*) FROM audit_events WHERE event IN ('totp.verify', 'otp.verify') AND at >= 5 GROUP BY event"],
];

describe('indexes of the per-user lookups', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it.each(LOOKUPS)('%s uses an index', (_name, sql) => {
    const plan = (t.store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail);
    expect(plan.some((d) => /USING (COVERING )?INDEX|USING INTEGER PRIMARY KEY|USING PRIMARY KEY/.test(d)), plan.join('; ')).toBe(true);
    expect(plan.filter((d) => /^SCAN /.test(d)), plan.join('; ')).toEqual([]);
  });

  it('the stats read only the events since the given time, not every event of a name', () => {
    const sql = "SELECT event, COUNT(*) FROM audit_events WHERE event IN ('totp.verify') AND at >= 5 GROUP BY event";
    const plan = (t.store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join('; ');
    expect(plan).toMatch(/event=\? AND at>\?/);
  });
});
