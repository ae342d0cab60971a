import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RecoveryService } from '../../services/recovery-service.js';
import { errorResponses, userIdSchema } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

const recoveryId = z.string().regex(/^[0-9a-f]{32}$/, 'must be the 32 hex characters POST /recovery returned');

export const recoveryRoutes: FastifyPluginAsyncZod<{ recovery: RecoveryService; ttlHours: number }> = async (app, { recovery, ttlHours }) => {
  app.post(
    '/recovery',
    {
      schema: {
        tags: ['recovery'],
        description:
          `Asks for the recovery of a user who lost their factors. The request is pending until an operator approves it ` +
          `(POST /recovery/approve) and expires after RECOVERY_TTL_HOURS (now ${ttlHours}). A user has at most one pending ` +
          'request: another one meanwhile is 409 RECOVERY_ALREADY_PENDING. The reason is kept with the request.',
        body: z.object({ user_id: userIdSchema, reason: z.string().trim().min(1).max(500) }),
        response: {
          201: z.object({ recovery_id: z.string(), status: z.literal('pending'), expires_at: z.string().describe('ISO 8601') }),
          ...errorResponses(400, 401, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const r = await recovery.request(request.body.user_id, request.body.reason, { ip: request.ip });
      reply.code(201);
      return { recovery_id: r.recoveryId, status: r.status, expires_at: iso(r.expiresAt) };
    },
  );

  app.post(
    '/recovery/approve',
    {
      schema: {
        tags: ['recovery'],
        description:
          "Approves a pending recovery request and resets the user's factors in one step: the TOTP enrolment is deleted, " +
          'backup codes, open challenges and unused one-time codes are voided, 2FA is turned off and the lockout is ' +
          'cleared, so the user can enrol again. 404 RECOVERY_NOT_FOUND for an unknown id, 409 RECOVERY_ALREADY_APPROVED ' +
          'the second time, 410 RECOVERY_EXPIRED past its expiry; none of them changes anything.',
        body: z.object({ recovery_id: recoveryId, approved_by: z.string().trim().min(1).max(128) }),
        response: { 200: z.object({ recovery_id: z.string(), status: z.literal('approved') }), ...errorResponses(400, 401, 404, 409, 410) },
      },
    },
    async (request) => {
      const r = await recovery.approve(request.body.recovery_id, request.body.approved_by, { ip: request.ip });
      return { recovery_id: r.recoveryId, status: r.status };
    },
  );
};
