import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ChallengeService } from '../../services/challenge-service.js';
import { codeInput, errorResponses, userIdSchema } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

const challengeId = z.string().regex(/^[0-9a-f]{32}$/, 'must be the 32 hex characters POST /challenge returned');

export const challengeRoutes: FastifyPluginAsyncZod<{ challenges: ChallengeService; ttlSeconds: number; maxAttempts: number }> = async (
  app,
  { challenges, ttlSeconds, maxAttempts },
) => {
  app.post(
    '/challenge',
    {
      schema: {
        tags: ['challenges'],
        description:
          `Opens a challenge: the user must prove \`method\` (a TOTP code, or a backup code) within CHALLENGE_TTL_SECONDS ` +
          `(now ${ttlSeconds}) and at most CHALLENGE_MAX_ATTEMPTS (now ${maxAttempts}) tries. 409 METHOD_NOT_AVAILABLE when ` +
          'the user has no active TOTP enrolment (method totp) or no unused backup code (method backup_code).',
        body: z.object({ user_id: userIdSchema, method: z.enum(['totp', 'backup_code']) }),
        response: {
          201: z.object({ challenge_id: z.string(), method: z.enum(['totp', 'backup_code']), expires_at: z.string().describe('ISO 8601') }),
          ...errorResponses(400, 401, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const c = await challenges.create(request.body.user_id, request.body.method, { ip: request.ip });
      reply.code(201);
      return { challenge_id: c.challengeId, method: c.method, expires_at: iso(c.expiresAt) };
    },
  );

  app.post(
    '/challenge/verify',
    {
      schema: {
        tags: ['challenges'],
        description:
          'Answers a challenge with a code of its method. 200 once; 401 INVALID_CODE for a wrong code; 404 ' +
          'CHALLENGE_NOT_FOUND; 409 CHALLENGE_ALREADY_VERIFIED once it succeeded (a challenge is verified once); 410 ' +
          'CHALLENGE_EXPIRED when it is past its expiry or has used all its attempts. Every try counts against the ' +
          "challenge and against the user's lockout before the code is checked: while locked this is 429 ACCOUNT_LOCKED " +
          'with Retry-After. A TOTP step accepted here is not accepted again anywhere. Rate limited per client address.',
        body: z.object({ challenge_id: challengeId, code: codeInput }),
        response: {
          200: z.object({ verified: z.literal(true), user_id: z.string(), method: z.enum(['totp', 'backup_code']) }),
          ...errorResponses(400, 401, 404, 409, 410, 429),
        },
      },
    },
    async (request) => {
      const r = await challenges.verify(request.body.challenge_id, request.body.code, { ip: request.ip });
      return { verified: true as const, user_id: r.userId, method: r.method };
    },
  );
};
