import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, CredentialKind, SealedValueRepository } from '../types.js';
import { auditWriter } from './audit.js';
import { touchServiceRow } from './credentials.js';

// Every column sealed with a data key, for `npm run rotate-keys`. Today that is the TOTP
// credentials (the service seed and users' secrets); a table that starts sealing a column adds
// its rows here. One-time codes (one_time_codes) are keyed hashes, not sealed values: they live
// minutes and cannot be re-keyed, so they are left to expire.

type Raw = { id: number; kind: CredentialKind; user_id: string | null; secret_blob: Buffer; key_id: string };

export function createSealedValueRepository(db: Db, commit: GroupCommit): SealedValueRepository {
  const audit = auditWriter(db);
  const list = db.prepare('SELECT id, kind, user_id, secret_blob, key_id FROM totp_credentials ORDER BY id');
  const update = db.prepare('UPDATE totp_credentials SET secret_blob = ?, key_id = ? WHERE id = ?');
  const byKey = db.prepare('SELECT key_id AS keyId, COUNT(*) AS count FROM totp_credentials GROUP BY key_id ORDER BY key_id');
  // One seek of totp_credentials_by_key per distinct id (there are one or two), not a scan.
  const nextKeyId = db.prepare('SELECT key_id FROM totp_credentials WHERE key_id > ? ORDER BY key_id LIMIT 1').pluck();

  // Reads and writes inside one IMMEDIATE transaction: no writer can replace a secret between
  // the read and the write, and a failure on any row (an unknown key) rolls every row back.
  const resealTx = (reseal: Parameters<SealedValueRepository['resealAll']>[0], event: (changed: number) => AuditInput) => {
    touchServiceRow(db); // the service seed's row may change: its cached copy is dropped
    const rows = list.all() as Raw[];
    let changed = 0;
    for (const r of rows) {
      const next = reseal({ table: 'totp_credentials', id: r.id, kind: r.kind, userId: r.user_id, keyId: r.key_id, blob: r.secret_blob });
      if (next) changed += update.run(next.blob, next.keyId, r.id).changes;
    }
    audit(event(changed));
    return { examined: rows.length, changed };
  };

  return {
    async resealAll(reseal, event) {
      return commit.write(() => resealTx(reseal, event));
    },
    async countByKey() {
      return byKey.all() as { keyId: string; count: number }[];
    },
    async keyIds() {
      const ids: string[] = [];
      for (let id = nextKeyId.get('') as string | undefined; id !== undefined; id = nextKeyId.get(id) as string | undefined) ids.push(id);
      return ids;
    },
  };
}
