import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { BackupCodeService } from '../../services/backup-code-service.js';
import { codeInput, errorResponses, userIdSchema } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

const verifyDoc =
  "Spends one of the user's backup codes: 200 with the codes left, or 401 INVALID_CODE (wrong, malformed or already " +
  'used). Case, spaces and the dash are ignored. Each code works once, also when requests race. Every attempt is ' +
  "charged to the user's lockout before the code is checked (shared with every method): while locked this is 429 " +
  'ACCOUNT_LOCKED with Retry-After, even with a right code. Rate limited per client address (429 RATE_LIMITED). ' +
  '404 USER_NOT_FOUND changes nothing.';

export const backupCodeRoutes: FastifyPluginAsyncZod<{ backupCodes: BackupCodeService; maxCount: number }> = async (app, { backupCodes, maxCount }) => {
  app.post(
    '/backup-codes/generate',
    {
      schema: {
        tags: ['backup codes'],
        description:
          `A new set of backup codes (BACKUP_CODE_COUNT, default 10, or \`count\`, 1 to ${maxCount}), each 50 bits from a ` +
          'CSPRNG shown as xxxxx-xxxxx. They are shown this once: only salted scrypt hashes are stored. The new set ' +
          'replaces the old one, whose codes stop working at once.',
        body: z.object({ user_id: userIdSchema, count: z.number().int().min(1).max(maxCount).optional() }),
        response: {
          201: z.object({ user_id: z.string(), codes: z.array(z.string()), generated_at: z.string().describe('ISO 8601') }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const r = await backupCodes.generate(request.body.user_id, request.body.count, { ip: request.ip });
      reply.code(201);
      return { user_id: r.userId, codes: r.codes, generated_at: iso(r.generatedAt) };
    },
  );

  app.get(
    '/backup-codes/:user_id',
    {
      schema: {
        tags: ['backup codes'],
        description: "The state of the user's current set: which codes are used and when. Never the codes themselves.",
        params: z.object({ user_id: userIdSchema }),
        response: {
          200: z.object({
            total: z.number().int(),
            remaining: z.number().int(),
            codes: z.array(z.object({ id: z.number().int().describe('Position in the set, from 1'), used: z.boolean(), used_at: z.string().nullable() })),
          }),
          ...errorResponses(400, 401, 404),
        },
      },
    },
    async (request) => {
      const r = await backupCodes.list(request.params.user_id);
      return {
        total: r.total,
        remaining: r.remaining,
        codes: r.codes.map((c) => ({ id: c.position, used: c.usedAt !== null, used_at: c.usedAt === null ? null : iso(c.usedAt) })),
      };
    },
  );

  app.post(
    '/backup-codes/verify',
    {
      schema: {
        tags: ['backup codes'],
        description: verifyDoc,
        body: z.object({ user_id: userIdSchema, code: codeInput }),
        response: { 200: z.object({ valid: z.literal(true), remaining: z.number().int() }), ...errorResponses(400, 401, 404, 429) },
      },
    },
    async (request) => {
      const r = await backupCodes.verify(request.body.user_id, request.body.code, { ip: request.ip });
      return { valid: true as const, remaining: r.remaining };
    },
  );
};
