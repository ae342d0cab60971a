import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, ChallengeRepository, ChallengeRow } from '../types.js';
import { auditWriter } from './audit.js';

type Raw = {
  id: string;
  user_id: string;
  method: ChallengeRow['method'];
  attempts: number;
  max_attempts: number;
  created_at: number;
  expires_at: number;
  verified_at: number | null;
};

const toRow = (r: Raw): ChallengeRow => ({
  id: r.id,
  userId: r.user_id,
  method: r.method,
  attempts: r.attempts,
  maxAttempts: r.max_attempts,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  verifiedAt: r.verified_at,
});

export function createChallengeRepository(db: Db, commit: GroupCommit): ChallengeRepository {
  const audit = auditWriter(db);
  const insert = db.prepare(
    `INSERT INTO challenges (id, user_id, method, attempts, max_attempts, created_at, expires_at, verified_at)
     VALUES (@id, @userId, @method, 0, @maxAttempts, @createdAt, @expiresAt, NULL)`,
  );
  // Challenges long past their expiry are of no use to anyone: dropped as new ones are made.
  const purge = db.prepare('DELETE FROM challenges WHERE expires_at < ?');
  const get = db.prepare('SELECT id, user_id, method, attempts, max_attempts, created_at, expires_at, verified_at FROM challenges WHERE id = ?');
  // Both conditional: racing requests cannot exceed max_attempts or verify one challenge twice.
  const charge = db.prepare(
    'UPDATE challenges SET attempts = attempts + 1 WHERE id = ? AND verified_at IS NULL AND expires_at > ? AND attempts < max_attempts',
  );
  const verify = db.prepare('UPDATE challenges SET verified_at = ? WHERE id = ? AND verified_at IS NULL');

  const createTx = (row: Parameters<ChallengeRepository['create']>[0], event: AuditInput) => {
    purge.run(row.createdAt - 24 * 3600 * 1000);
    insert.run(row);
    audit(event);
  };

  return {
    async create(row, event) {
      return commit.write(() => createTx(row, event));
    },
    async get(id) {
      const r = get.get(id) as Raw | undefined;
      return r ? toRow(r) : null;
    },
    async chargeAttempt(id, now) {
      return commit.write(() => charge.run(id, now).changes === 1);
    },
    async markVerified(id, now) {
      return commit.write(() => verify.run(now, id).changes === 1);
    },
  };
}
