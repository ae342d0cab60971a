import type { Db } from '../open.js';
import type { AuditInput, CredentialRepository, CredentialRow } from '../types.js';
import { auditWriter } from './audit.js';

type Raw = {
  id: number;
  kind: 'service' | 'user';
  user_id: string | null;
  secret_blob: Buffer;
  key_id: string;
  algorithm: CredentialRow['algorithm'];
  digits: number;
  period: number;
  status: CredentialRow['status'];
  last_step: number | null;
  created_at: number;
  updated_at: number;
};

export const CREDENTIAL_COLUMNS =
  'id, kind, user_id, secret_blob, key_id, algorithm, digits, period, status, last_step, created_at, updated_at';

export function toCredential(r: Raw): CredentialRow {
  return {
    id: r.id,
    kind: r.kind,
    userId: r.user_id,
    secretBlob: r.secret_blob,
    keyId: r.key_id,
    algorithm: r.algorithm,
    digits: r.digits,
    period: r.period,
    status: r.status,
    lastStep: r.last_step,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function createCredentialRepository(db: Db): CredentialRepository {
  const audit = auditWriter(db);
  const getService = db.prepare(`SELECT ${CREDENTIAL_COLUMNS} FROM totp_credentials WHERE kind = 'service'`);
  const deleteService = db.prepare(`DELETE FROM totp_credentials WHERE kind = 'service'`);
  const insert = db.prepare(
    `INSERT INTO totp_credentials (kind, user_id, secret_blob, key_id, algorithm, digits, period, status, last_step, created_at, updated_at)
     VALUES (@kind, @userId, @secretBlob, @keyId, @algorithm, @digits, @period, @status, NULL, @now, @now)`,
  );
  const claim = db.prepare(
    'UPDATE totp_credentials SET last_step = ?, updated_at = ? WHERE id = ? AND (last_step IS NULL OR last_step < ?)',
  );
  const listSealed = db.prepare('SELECT id, kind, user_id, secret_blob, key_id FROM totp_credentials ORDER BY id');
  const updateSealed = db.prepare('UPDATE totp_credentials SET secret_blob = ?, key_id = ? WHERE id = ?');

  const replaceService = db.transaction((input: Parameters<CredentialRepository['replaceService']>[0], now: number, event: AuditInput) => {
    deleteService.run();
    insert.run({ ...input, kind: 'service', userId: null, now });
    audit(event);
  });
  const claimTx = db.transaction((id: number, step: number, now: number, event?: (won: boolean) => AuditInput) => {
    const won = claim.run(step, now, id, step).changes === 1;
    if (event) audit(event(won));
    return won;
  });
  const resealTx = db.transaction((rows: { id: number; secretBlob: Buffer; keyId: string }[]) => {
    let changed = 0;
    for (const r of rows) changed += updateSealed.run(r.secretBlob, r.keyId, r.id).changes;
    return changed;
  });

  return {
    async getService() {
      const r = getService.get() as Raw | undefined;
      return r ? toCredential(r) : null;
    },
    async replaceService(input, now, event) {
      replaceService.immediate(input, now, event);
    },
    async claimStep(id, step, now, event) {
      return claimTx.immediate(id, step, now, event);
    },
    async listSealed() {
      return (listSealed.all() as Raw[]).map((r) => ({
        id: r.id,
        kind: r.kind,
        userId: r.user_id,
        secretBlob: r.secret_blob,
        keyId: r.key_id,
      }));
    },
    async reseal(rows) {
      return resealTx.immediate(rows);
    },
  };
}
