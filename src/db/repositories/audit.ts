import type { GroupCommit } from '../group-commit.js';
import type { Db } from '../open.js';
import type { AuditInput, AuditQuery, AuditRepository, AuditRow } from '../types.js';

type Raw = { id: number; user_id: string | null; event: string; success: number; reason: string | null; ip: string | null; at: number };

export function auditWriter(db: Db): (e: AuditInput) => void {
  const insert = db.prepare(
    'INSERT INTO audit_events (user_id, event, success, reason, ip, at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return (e) => {
    insert.run(e.userId, e.event, e.success ? 1 : 0, e.reason ?? null, e.ip, e.at);
  };
}

export function createAuditRepository(db: Db, commit: GroupCommit): AuditRepository {
  const write = auditWriter(db);
  // By the primary key from the oldest: bounded work per call, whatever the table's size (a
  // filter on `at` would scan on past the old rows to find none). Ids follow time; a clock
  // set back only makes the run stop early.
  const oldest = db.prepare('SELECT id, at FROM audit_events WHERE id < (SELECT MAX(id) FROM audit_events) ORDER BY id LIMIT ?');
  const deleteThrough = db.prepare('DELETE FROM audit_events WHERE id <= ?');
  return {
    async deleteOlderThan(before, limit) {
      return commit.write(() => {
        let last = -1;
        for (const r of oldest.all(limit) as { id: number; at: number }[]) {
          if (r.at >= before) break;
          last = r.id;
        }
        return last < 0 ? 0 : deleteThrough.run(last).changes;
      });
    },
    async append(e) {
      return commit.write(() => write(e));
    },
    async list(q: AuditQuery): Promise<AuditRow[]> {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (q.userId !== undefined) (where.push('user_id = ?'), args.push(q.userId));
      if (q.event !== undefined) (where.push('event = ?'), args.push(q.event));
      if (q.before !== undefined) (where.push('id < ?'), args.push(q.before));
      const sql = `SELECT id, user_id, event, success, reason, ip, at FROM audit_events
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
      const rows = db.prepare(sql).all(...args, q.limit) as Raw[];
      return rows.map((r) => ({
        id: r.id,
        userId: r.user_id,
        event: r.event,
        success: r.success === 1,
        reason: r.reason,
        ip: r.ip,
        at: r.at,
      }));
    },
  };
}
