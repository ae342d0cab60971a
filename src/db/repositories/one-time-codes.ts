import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, OneTimeCodeRepository, OneTimeCodeRow } from '../types.js';
import { auditWriter } from './audit.js';

type Raw = { id: number; user_id: string; key_id: string; created_at: number; expires_at: number; used_at: number | null };

// Used and expired rows are kept a day so that a late /verify can still say "already used" or
// "expired" rather than "invalid"; after that they go.
const KEEP_MS = 24 * 3600 * 1000;

export function createOneTimeCodeRepository(db: Db, commit: GroupCommit): OneTimeCodeRepository {
  const audit = auditWriter(db);
  const userExists = db.prepare('SELECT 1 FROM users WHERE user_id = ?');
  const dropUnused = db.prepare('DELETE FROM one_time_codes WHERE user_id = ? AND used_at IS NULL');
  const purge = db.prepare('DELETE FROM one_time_codes WHERE expires_at < ?');
  const insert = db.prepare('INSERT INTO one_time_codes (user_id, code_hash, key_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, NULL)');
  const find = db.prepare(
    'SELECT id, user_id, key_id, created_at, expires_at, used_at FROM one_time_codes WHERE user_id = ? AND code_hash = ? ORDER BY id DESC LIMIT 1',
  );
  const use = db.prepare('UPDATE one_time_codes SET used_at = ? WHERE id = ? AND used_at IS NULL');
  const useTx = (id: number, now: number, event?: AuditInput) => {
    const won = use.run(now, id).changes === 1;
    if (won && event) audit(event);
    return won;
  };

  const issueTx = (userId: string, hash: Buffer, keyId: string, now: number, expiresAt: number, event: AuditInput) => {
    if (!userExists.get(userId)) return false;
    // One outstanding code per user: asking again (a lost message) voids the earlier code.
    dropUnused.run(userId);
    purge.run(now - KEEP_MS);
    insert.run(userId, hash, keyId, now, expiresAt);
    audit(event);
    return true;
  };

  return {
    async issue(userId, hash, keyId, now, expiresAt, event) {
      return commit.write(() => issueTx(userId, hash, keyId, now, expiresAt, event));
    },
    async find(userId, hash): Promise<OneTimeCodeRow | null> {
      const r = find.get(userId, hash) as Raw | undefined;
      return r
        ? { id: r.id, userId: r.user_id, keyId: r.key_id, createdAt: r.created_at, expiresAt: r.expires_at, usedAt: r.used_at }
        : null;
    },
    async use(id, now, event) {
      return commit.write(() => useTx(id, now, event));
    },
  };
}
