import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, UserConfigRepository, UserConfigRow } from '../types.js';
import { auditWriter } from './audit.js';
import { userEnsurer } from './users.js';

type Raw = { user_id: string; preferred_method: UserConfigRow['preferredMethod']; email: string | null; phone: string | null; created_at: number; updated_at: number };

const toRow = (r: Raw): UserConfigRow => ({
  userId: r.user_id,
  preferredMethod: r.preferred_method,
  email: r.email,
  phone: r.phone,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function createUserConfigRepository(db: Db, commit: GroupCommit): UserConfigRepository {
  const audit = auditWriter(db);
  const get = db.prepare('SELECT user_id, preferred_method, email, phone, created_at, updated_at FROM user_configs WHERE user_id = ?');
  const insert = db.prepare(
    `INSERT INTO user_configs (user_id, preferred_method, email, phone, created_at, updated_at)
     VALUES (@userId, @preferredMethod, @email, @phone, @createdAt, @updatedAt) ON CONFLICT (user_id) DO NOTHING`,
  );
  const update = db.prepare('UPDATE user_configs SET preferred_method = @preferredMethod, email = @email, phone = @phone, updated_at = @updatedAt WHERE user_id = @userId');

  const ensureUser = userEnsurer(db);
  // A configuration may come before any enrolment (seeds/004: configure, then set up TOTP), so
  // writing one makes the user, in the same transaction.
  const createTx = (row: UserConfigRow, event: AuditInput) => {
    ensureUser(row.userId, row.createdAt);
    if (insert.run(row).changes !== 1) return false;
    audit(event);
    return true;
  };
  // Read, merge and write under one write lock, so two concurrent PUTs cannot lose a field.
  const upsertTx = (userId: string, patch: Parameters<UserConfigRepository['upsert']>[1], defaults: Parameters<UserConfigRepository['upsert']>[2], now: number, event: AuditInput) => {
    ensureUser(userId, now);
    const old = get.get(userId) as Raw | undefined;
    const base = old ? toRow(old) : { userId, ...defaults, createdAt: now, updatedAt: now };
    const next: UserConfigRow = { ...base, updatedAt: now };
    if (patch.preferredMethod !== undefined) next.preferredMethod = patch.preferredMethod;
    if (patch.email !== undefined) next.email = patch.email;
    if (patch.phone !== undefined) next.phone = patch.phone;
    if (old) update.run(next);
    else insert.run(next);
    audit(event);
    return next;
  };

  return {
    async get(userId) {
      const r = get.get(userId) as Raw | undefined;
      return r ? toRow(r) : null;
    },
    async create(row, event) {
      return commit.write(() => createTx(row, event));
    },
    async upsert(userId, patch, defaults, now, event) {
      return commit.write(() => upsertTx(userId, patch, defaults, now, event));
    },
  };
}
