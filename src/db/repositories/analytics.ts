import type { Db } from '../open.js';
import type { AnalyticsRepository, VerificationCount } from '../types.js';

// Read-only counts for GET /analytics/stats. Each query uses an index: users_enabled,
// users_locked_until, totp_credentials_by_user, audit_events_by_event.

export function createAnalyticsRepository(db: Db): AnalyticsRepository {
  const users = db.prepare(
    `SELECT (SELECT COUNT(*) FROM users) AS total,
            (SELECT COUNT(*) FROM users WHERE enabled = 1) AS enabled,
            (SELECT COUNT(*) FROM users WHERE locked_until IS NOT NULL AND locked_until > @now) AS locked,
            (SELECT COUNT(*) FROM totp_credentials WHERE kind = 'user' AND status = 'pending') AS pending,
            (SELECT COUNT(*) FROM totp_credentials WHERE kind = 'user' AND status = 'active') AS active`,
  );
  return {
    async users(now) {
      const r = users.get({ now }) as { total: number; enabled: number; locked: number; pending: number; active: number };
      return { total: r.total, enabled: r.enabled, locked: r.locked, totpPending: r.pending, totpActive: r.active };
    },
    async events(names, since) {
      if (names.length === 0) return [];
      const marks = names.map(() => '?').join(', ');
      const rows = db
        .prepare(
          `SELECT event, success, reason, COUNT(*) AS count FROM audit_events
           WHERE event IN (${marks}) AND at >= ? GROUP BY event, success, reason`,
        )
        .all(...names, since ?? 0) as { event: string; success: number; reason: string | null; count: number }[];
      return rows.map((r): VerificationCount => ({ event: r.event, success: r.success === 1, reason: r.reason, count: r.count }));
    },
  };
}
