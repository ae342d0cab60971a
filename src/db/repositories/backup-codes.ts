import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, BackupCodeClaim, BackupCodeRepository } from '../types.js';
import { auditWriter } from './audit.js';

export function createBackupCodeRepository(db: Db, commit: GroupCommit): BackupCodeRepository {
  const audit = auditWriter(db);
  const deleteCodes = db.prepare('DELETE FROM backup_codes WHERE user_id = ?');
  const deleteSet = db.prepare('DELETE FROM backup_code_sets WHERE user_id = ?');
  const insertSet = db.prepare('INSERT INTO backup_code_sets (user_id, salt, generated_at) VALUES (?, ?, ?)');
  const insertCode = db.prepare('INSERT INTO backup_codes (user_id, position, code_hash, used_at) VALUES (?, ?, ?, NULL)');
  const getSalt = db.prepare('SELECT salt FROM backup_code_sets WHERE user_id = ?');
  const getSet = db.prepare('SELECT generated_at FROM backup_code_sets WHERE user_id = ?');
  const listCodes = db.prepare('SELECT position, used_at FROM backup_codes WHERE user_id = ? ORDER BY position');
  // The single-use guarantee: only a row still unused can be claimed, and only once.
  const claim = db.prepare('UPDATE backup_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL');
  const isUsed = db.prepare('SELECT 1 FROM backup_codes WHERE user_id = ? AND code_hash = ? AND used_at IS NOT NULL');
  const remaining = db.prepare('SELECT COUNT(*) AS n FROM backup_codes WHERE user_id = ? AND used_at IS NULL');

  const replaceTx = (userId: string, salt: Buffer, hashes: Buffer[], now: number, event: AuditInput) => {
    // Explicit deletes rather than relying on the cascade, which needs foreign_keys = ON.
    deleteCodes.run(userId);
    deleteSet.run(userId);
    insertSet.run(userId, salt, now);
    hashes.forEach((h, i) => insertCode.run(userId, i + 1, h));
    audit(event);
  };
  const claimTx = (userId: string, hash: Buffer, now: number, event: AuditInput): BackupCodeClaim => {
    if (claim.run(now, userId, hash).changes !== 1) {
      return { ok: false as const, reason: isUsed.get(userId, hash) ? ('used' as const) : ('no_match' as const) };
    }
    audit(event);
    return { ok: true as const, remaining: (remaining.get(userId) as { n: number }).n };
  };

  return {
    async replaceSet(userId, salt, hashes, now, event) {
      return commit.write(() => replaceTx(userId, salt, hashes, now, event));
    },
    async salt(userId) {
      const r = getSalt.get(userId) as { salt: Buffer } | undefined;
      return r ? r.salt : null;
    },
    async claim(userId, hash, now, event) {
      return commit.write(() => claimTx(userId, hash, now, event));
    },
    async get(userId) {
      const set = getSet.get(userId) as { generated_at: number } | undefined;
      if (!set) return null;
      const codes = (listCodes.all(userId) as { position: number; used_at: number | null }[]).map((c) => ({ position: c.position, usedAt: c.used_at }));
      return { userId, generatedAt: set.generated_at, codes };
    },
    async remaining(userId) {
      return (remaining.get(userId) as { n: number }).n;
    },
  };
}
