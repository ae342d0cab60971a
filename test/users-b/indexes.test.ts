import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';

// Every lookup part B's repositories make is answered by an index (SEARCH), never by reading a
// whole table (SCAN): the statements here are those of src/db/repositories for these tables.
const LOOKUPS = [
  'SELECT salt FROM backup_code_sets WHERE user_id = ?',
  'SELECT position, used_at FROM backup_codes WHERE user_id = ? ORDER BY position',
  'UPDATE backup_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL',
  'SELECT 1 FROM backup_codes WHERE user_id = ? AND code_hash = ? AND used_at IS NOT NULL',
  'SELECT COUNT(*) AS n FROM backup_codes WHERE user_id = ? AND used_at IS NULL',
  'DELETE FROM backup_codes WHERE user_id = ?',
  'SELECT id, user_id FROM challenges WHERE id = ?',
  'UPDATE challenges SET attempts = attempts + 1 WHERE id = ? AND verified_at IS NULL AND expires_at > ? AND attempts < max_attempts',
  'DELETE FROM challenges WHERE expires_at < ?',
  'DELETE FROM challenges WHERE user_id = ?',
  'SELECT id FROM recovery_requests WHERE id = ?',
  "UPDATE recovery_requests SET status = 'expired' WHERE user_id = ? AND status = 'pending' AND expires_at <= ?",
  'SELECT user_id FROM user_configs WHERE user_id = ?',
  "DELETE FROM totp_credentials WHERE kind = 'user' AND user_id = ?",
  'DELETE FROM one_time_codes WHERE user_id = ? AND used_at IS NULL',
];

describe('indexes of part B', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it.each(LOOKUPS)('%s', (sql) => {
    const plan = (t.store.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...Array(sql.split('?').length - 1).fill(1)) as { detail: string }[]).map((r) => r.detail);
    expect(plan.some((d) => /^SEARCH /.test(d)), plan.join('; ')).toBe(true);
    expect(plan.filter((d) => /^SCAN /.test(d)), plan.join('; ')).toEqual([]);
  });
});
