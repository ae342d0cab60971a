import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditService, Outcomes } from '../../services/audit-service.js';
import { errorResponses, queryInt, userIdSchema } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** ISO 8601 (with a date) or unix seconds. */
const sinceSchema = z
  .string()
  .max(40)
  .transform((v, ctx) => {
    const ms = /^\d{1,12}$/.test(v) ? Number(v) * 1000 : /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be ISO 8601 or unix seconds' });
      return z.NEVER;
    }
    return ms;
  });

const outcomes = z.object({
  success: z.number().int().describe('the code was right'),
  failure: z.number().int().describe('a code was checked and refused: wrong, malformed, replayed, expired'),
  locked: z.number().int().describe('refused without a check because the user was locked'),
});

const toOutcomes = (o: Outcomes) => ({ success: o.success, failure: o.failure, locked: o.locked });

export const auditRoutes: FastifyPluginAsyncZod<{ audit: AuditService }> = async (app, { audit }) => {
  app.get(
    '/audit',
    {
      schema: {
        tags: ['users'],
        description:
          'The audit log, newest first, optionally for one user and/or one event (enrolment.create, enrolment.activate, ' +
          'totp.verify, otp.generate, otp.verify, backup_code.verify, challenge.verify, twofa.enable, twofa.disable, lockout, ' +
          'seed.set, ...). `limit` 1 to 500 (default 50); pass `next` back as `before` for the following page (null at the ' +
          'end). `reason` says why an event failed (invalid_code, replay, locked, expired, ...). Never a secret or a code.',
        querystring: z.object({
          user_id: userIdSchema.optional(),
          event: z.string().min(1).max(64).optional(),
          limit: queryInt(1, 500).default(50),
          before: queryInt(1, Number.MAX_SAFE_INTEGER).optional(),
        }),
        response: {
          200: z.object({
            events: z.array(
              z.object({
                id: z.number().int(),
                user_id: z.string().nullable(),
                event: z.string(),
                success: z.boolean(),
                reason: z.string().nullable(),
                ip: z.string().nullable(),
                at: z.string().describe('ISO 8601'),
              }),
            ),
            next: z.number().int().nullable(),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await audit.list({ userId: q.user_id, event: q.event, before: q.before, limit: q.limit });
      return {
        events: page.events.map((e) => ({ id: e.id, user_id: e.userId, event: e.event, success: e.success, reason: e.reason, ip: e.ip, at: iso(e.at) })),
        next: page.next,
      };
    },
  );

  app.get(
    '/analytics/stats',
    {
      schema: {
        tags: ['users'],
        description:
          'Counts. `users`: all users now, those with 2FA enabled, TOTP enrolments pending and active. `active_lockouts`: ' +
          'users locked right now. Since `since` (ISO 8601 or unix seconds; omitted: all time): `lockouts_started`, and ' +
          '`verifications` by outcome (success, failure, locked) in total and by method (totp, otp = codes of /generate, ' +
          'backup_code, challenge), counted from the audit log.',
        querystring: z.object({ since: sinceSchema.optional() }),
        response: {
          200: z.object({
            since: z.string().nullable(),
            generated_at: z.string(),
            users: z.object({ total: z.number().int(), enabled: z.number().int(), totp_pending: z.number().int(), totp_active: z.number().int() }),
            active_lockouts: z.number().int(),
            lockouts_started: z.number().int(),
            verifications: outcomes.extend({
              total: z.number().int(),
              by_method: z.object({ totp: outcomes, otp: outcomes, backup_code: outcomes, challenge: outcomes }),
            }),
          }),
          ...errorResponses(400, 401),
        },
      },
    },
    async (request) => {
      const s = await audit.stats(request.query.since ?? null);
      const m = s.verifications.byMethod;
      return {
        since: s.since === null ? null : iso(s.since),
        generated_at: iso(s.generatedAt),
        users: { total: s.users.total, enabled: s.users.enabled, totp_pending: s.users.totpPending, totp_active: s.users.totpActive },
        active_lockouts: s.activeLockouts,
        lockouts_started: s.lockoutsStarted,
        verifications: {
          ...toOutcomes(s.verifications),
          total: s.verifications.total,
          by_method: { totp: toOutcomes(m.totp), otp: toOutcomes(m.otp), backup_code: toOutcomes(m.backup_code), challenge: toOutcomes(m.challenge) },
        },
      };
    },
  );
};
