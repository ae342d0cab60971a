import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { SignatureRepository } from '../types.js';

export function createSignatureRepository(db: Db, commit: GroupCommit): SignatureRepository {
  const insert = db.prepare('INSERT OR IGNORE INTO used_signatures (signed_at, signature) VALUES (?, ?)');
  const purge = db.prepare('DELETE FROM used_signatures WHERE signed_at < ?');
  // Rows from before migration 007, until the last one has expired.
  const legacyUsed = db.prepare('SELECT 1 FROM used_signatures_legacy WHERE signature = ?');
  const legacyPurge = db.prepare('DELETE FROM used_signatures_legacy WHERE expires_at < ?');
  const legacyLeft = db.prepare('SELECT EXISTS (SELECT 1 FROM used_signatures_legacy)').pluck();
  let legacy = legacyLeft.get() === 1;
  let lastPurge = 0;
  return {
    async claim(signature, signedAt, forgetBefore, now) {
      // Rows that can no longer pass the window check can never match again: dropped now and
      // then rather than on every request.
      const due = now - lastPurge > 60_000;
      if (due) lastPurge = now;
      return commit.write(() => {
        if (due) {
          purge.run(forgetBefore);
          if (legacy) {
            legacyPurge.run(now);
            legacy = legacyLeft.get() === 1;
          }
        }
        if (legacy && legacyUsed.get(signature)) return false;
        return insert.run(signedAt, Buffer.from(signature, 'hex')).changes === 1;
      });
    },
  };
}
