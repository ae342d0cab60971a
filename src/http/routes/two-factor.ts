import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TwoFactorService } from '../../services/two-factor-service.js';
import { codeInput, errorResponses, userIdSchema } from '../schemas.js';

const switchBody = z.object({ user_id: userIdSchema, code: codeInput.optional() });
const switchAnswer = z.object({ user_id: z.string(), enabled: z.boolean() });

export const twoFactorRoutes: FastifyPluginAsyncZod<{ twoFactor: TwoFactorService }> = async (app, { twoFactor }) => {
  app.post(
    '/enable',
    {
      schema: {
        tags: ['users'],
        description:
          'Turns 2FA on. Needs a TOTP enrolment: an active one, or a pending one confirmed by a valid `code` given here. A ' +
          'given code is verified like POST /totp/verify (lockout, replay, 401 INVALID_OTP). 404 NOT_ENROLLED without an ' +
          'enrolment. Rate limited per client address.',
        body: switchBody,
        response: { 200: switchAnswer, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => ({ user_id: request.body.user_id, enabled: await twoFactor.enable(request.body.user_id, request.body.code, { ip: request.ip }) }),
  );

  app.post(
    '/disable',
    {
      schema: {
        tags: ['users'],
        description:
          'Turns 2FA off. For an enabled user it needs a valid `code`: a TOTP code or a backup code (400 CODE_REQUIRED ' +
          'without one, 401 INVALID_OTP / INVALID_CODE for a wrong one, 429 ACCOUNT_LOCKED while locked). The enrolment is ' +
          'kept, so POST /enable can turn 2FA back on. For a user whose 2FA is already off it just answers enabled=false.',
        body: switchBody,
        response: { 200: switchAnswer, ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => ({ user_id: request.body.user_id, enabled: await twoFactor.disable(request.body.user_id, request.body.code, { ip: request.ip }) }),
  );

  app.get(
    '/status/:user_id',
    {
      schema: {
        tags: ['users'],
        description:
          "The user's 2FA state: whether it is on, the TOTP enrolment (none, pending, active), unused backup codes, the " +
          'lockout (locked_until, ISO 8601, only while locked, else null) and the consecutive failures counted so far. Never a secret.',
        params: z.object({ user_id: userIdSchema }),
        response: {
          200: z.object({
            user_id: z.string(),
            enabled: z.boolean(),
            methods: z.object({ totp: z.enum(['none', 'pending', 'active']) }),
            backup_codes_remaining: z.number().int(),
            locked_until: z.string().nullable(),
            failed_attempts: z.number().int(),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const s = await twoFactor.status(request.params.user_id);
      return {
        user_id: s.userId,
        enabled: s.enabled,
        methods: { totp: s.totp },
        backup_codes_remaining: s.backupCodesRemaining,
        locked_until: s.lockedUntil === null ? null : new Date(s.lockedUntil).toISOString(),
        failed_attempts: s.failedAttempts,
      };
    },
  );
};
