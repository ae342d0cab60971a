import type { Db } from '../open.js';
import type { SignatureRepository } from '../types.js';

export function createSignatureRepository(db: Db): SignatureRepository {
  const insert = db.prepare('INSERT OR IGNORE INTO used_signatures (signature, expires_at) VALUES (?, ?)');
  const purge = db.prepare('DELETE FROM used_signatures WHERE expires_at < ?');
  let lastPurge = 0;
  return {
    async claim(signature, expiresAt, now) {
      // Expired rows can never match again (their timestamps are outside the window): drop them
      // now and then rather than on every request.
      if (now - lastPurge > 60_000) {
        purge.run(now);
        lastPurge = now;
      }
      return insert.run(signature, expiresAt).changes === 1;
    },
  };
}
