import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, RecoveryRepository, RecoveryRow } from '../types.js';
import { auditWriter } from './audit.js';

type Raw = {
  id: string;
  user_id: string;
  reason: string;
  status: RecoveryRow['status'];
  created_at: number;
  expires_at: number;
  approved_at: number | null;
  approved_by: string | null;
};

const toRow = (r: Raw): RecoveryRow => ({
  id: r.id,
  userId: r.user_id,
  reason: r.reason,
  status: r.status,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  approvedAt: r.approved_at,
  approvedBy: r.approved_by,
});

export function createRecoveryRepository(db: Db, commit: GroupCommit): RecoveryRepository {
  const audit = auditWriter(db);
  const get = db.prepare('SELECT id, user_id, reason, status, created_at, expires_at, approved_at, approved_by FROM recovery_requests WHERE id = ?');
  const expireOld = db.prepare("UPDATE recovery_requests SET status = 'expired' WHERE user_id = ? AND status = 'pending' AND expires_at <= ?");
  // The partial unique index (one pending per user) turns a second pending request into a no-op.
  const insert = db.prepare(
    `INSERT INTO recovery_requests (id, user_id, reason, status, created_at, expires_at)
     VALUES (@id, @userId, @reason, 'pending', @createdAt, @expiresAt) ON CONFLICT DO NOTHING`,
  );
  const approve = db.prepare(
    "UPDATE recovery_requests SET status = 'approved', approved_at = ?, approved_by = ? WHERE id = ? AND status = 'pending' AND expires_at > ?",
  );
  // The user's factors, reset so that they can enrol again from scratch.
  const resets = [
    db.prepare("DELETE FROM totp_credentials WHERE kind = 'user' AND user_id = ?"),
    db.prepare('DELETE FROM backup_codes WHERE user_id = ?'),
    db.prepare('DELETE FROM backup_code_sets WHERE user_id = ?'),
    db.prepare('DELETE FROM challenges WHERE user_id = ?'),
    db.prepare('DELETE FROM one_time_codes WHERE user_id = ? AND used_at IS NULL'),
  ];
  const resetUser = db.prepare(
    'UPDATE users SET enabled = 0, failed_attempts = 0, locked_until = NULL, lockout_count = 0, updated_at = ? WHERE user_id = ?',
  );

  const createTx = (row: Parameters<RecoveryRepository['create']>[0], event: AuditInput) => {
    expireOld.run(row.userId, row.createdAt);
    if (insert.run(row).changes !== 1) return false;
    audit(event);
    return true;
  };
  const approveTx = (id: string, approvedBy: string, now: number, event: (r: RecoveryRow) => AuditInput) => {
    const before = get.get(id) as Raw | undefined;
    if (!before || approve.run(now, approvedBy, id, now).changes !== 1) return null;
    const row = toRow(before);
    for (const stmt of resets) stmt.run(row.userId);
    resetUser.run(now, row.userId);
    audit(event(row));
    return row;
  };

  return {
    async create(row, event) {
      return commit.write(() => createTx(row, event));
    },
    async get(id) {
      const r = get.get(id) as Raw | undefined;
      return r ? toRow(r) : null;
    },
    async approve(id, approvedBy, now, event) {
      return commit.write(() => approveTx(id, approvedBy, now, event));
    },
  };
}
