import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { OneTimeCodeService } from '../../services/one-time-code-service.js';
import { codeInput, errorResponses, userIdSchema } from '../schemas.js';

export const oneTimeCodeRoutes: FastifyPluginAsyncZod<{ codes: OneTimeCodeService; expirationMinutes: number }> = async (
  app,
  { codes, expirationMinutes },
) => {
  app.post(
    '/generate',
    {
      schema: {
        tags: ['users'],
        description:
          `A random 6-digit one-time code for an existing user, for the caller to deliver (mail, SMS). It expires after ` +
          `OTP_EXPIRATION_MINUTES (now ${expirationMinutes}) and works once; a new one voids the user's unused earlier code. ` +
          'Only a keyed hash of it is stored. 404 USER_NOT_FOUND for a user never enrolled or configured.',
        body: z.object({ username: userIdSchema }),
        response: {
          201: z.object({ otp_code: z.string(), expires_at: z.string().describe('ISO 8601') }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const r = await codes.generate(request.body.username, { ip: request.ip });
      reply.code(201);
      return { otp_code: r.code, expires_at: new Date(r.expiresAt).toISOString() };
    },
  );

  app.post(
    '/verify',
    {
      schema: {
        tags: ['users'],
        description:
          'Checks a code from POST /generate: 401 INVALID_OTP (wrong or malformed), 410 OTP_EXPIRED, 409 OTP_ALREADY_USED. ' +
          "Each attempt is charged to the user's lockout first (429 ACCOUNT_LOCKED with Retry-After while locked) and the " +
          'route is rate limited per client address (429 RATE_LIMITED).',
        body: z.object({ username: userIdSchema, otp_code: codeInput }),
        response: { 200: z.object({ success: z.literal(true) }), ...errorResponses(400, 401, 404, 409, 410, 429) },
      },
    },
    async (request) => {
      await codes.verify(request.body.username, request.body.otp_code, { ip: request.ip });
      return { success: true as const };
    },
  );
};
