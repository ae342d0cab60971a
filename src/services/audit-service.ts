import type { Clock } from '../clock.js';
import type { AuditRow, Store } from '../db/types.js';
import { VERIFICATION_EVENTS, type AttemptMethod } from './attempt-guard.js';

// GET /audit and GET /analytics/stats: reads of the audit log and the users table. The audit
// log never holds a secret or a code, so nothing here needs filtering.

export type AuditPage = { events: AuditRow[]; next: number | null };

export type Outcomes = { success: number; failure: number; locked: number };

export type Stats = {
  since: number | null;
  generatedAt: number;
  users: { total: number; enabled: number; totpPending: number; totpActive: number };
  activeLockouts: number;
  lockoutsStarted: number;
  verifications: Outcomes & { total: number; byMethod: Record<AttemptMethod, Outcomes> };
};

const zero = (): Outcomes => ({ success: 0, failure: 0, locked: 0 });

export function createAuditService(deps: { store: Store; clock: Clock }) {
  const { store, clock } = deps;
  const methodOf = new Map(Object.entries(VERIFICATION_EVENTS).map(([m, e]) => [e, m as AttemptMethod]));

  return {
    /** Newest first; `next` is the id to pass as `before` for the following page, or null at the end. */
    async list(q: { userId?: string; event?: string; before?: number; limit: number }): Promise<AuditPage> {
      // One row more than asked tells whether another page exists without a second query.
      const rows = await store.audit.list({ ...q, limit: q.limit + 1 });
      const events = rows.slice(0, q.limit);
      return { events, next: rows.length > q.limit ? (events[events.length - 1]?.id ?? null) : null };
    },

    async stats(since: number | null): Promise<Stats> {
      const now = clock.now();
      const users = await store.analytics.users(now);
      const counts = await store.analytics.events([...methodOf.keys(), 'lockout'], since);
      const byMethod = Object.fromEntries(Object.keys(VERIFICATION_EVENTS).map((m) => [m, zero()])) as Record<AttemptMethod, Outcomes>;
      const total = zero();
      let lockoutsStarted = 0;
      for (const c of counts) {
        if (c.event === 'lockout') {
          lockoutsStarted += c.count;
          continue;
        }
        const method = methodOf.get(c.event);
        if (!method) continue;
        // A refusal while locked checked no code: it is its own outcome, not a wrong guess.
        const outcome: keyof Outcomes = c.success ? 'success' : c.reason === 'locked' ? 'locked' : 'failure';
        byMethod[method][outcome] += c.count;
        total[outcome] += c.count;
      }
      return {
        since,
        generatedAt: now,
        users: { total: users.total, enabled: users.enabled, totpPending: users.totpPending, totpActive: users.totpActive },
        activeLockouts: users.locked,
        lockoutsStarted,
        verifications: { ...total, total: total.success + total.failure + total.locked, byMethod },
      };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
