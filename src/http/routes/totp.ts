import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EnrolmentService } from '../../services/enrolment-service.js';
import type { UserTotp } from '../../services/user-totp.js';
import { codeInput, errorResponses, userIdSchema } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

const enrolDoc =
  'A new 160-bit secret from a CSPRNG, stored AES-256-GCM encrypted. The enrolment is `pending` until the first code ' +
  'verifies through POST /totp/verify (then it is `active` and 2FA is enabled). While an enrolment is active this is ' +
  '409 ALREADY_ENROLLED; a pending one is replaced by a new secret. `provisioning_uri` follows the Key URI format ' +
  '(otpauth://totp/<Issuer>:<account>?secret=...&issuer=...&algorithm=...&digits=...&period=...) and `qr_code_base64` is a ' +
  '`data:image/png;base64,` PNG of exactly that URI.';

const issuerSchema = z
  .string()
  .min(1)
  .max(64)
  // \p{Cs}: a lone UTF-16 surrogate has no UTF-8 form, so no URI or QR code can carry it.
  .regex(/^[^:\p{Cc}\p{Cs}]+$/u, 'must be 1 to 64 characters without ":", control characters or lone surrogates');

export const totpRoutes: FastifyPluginAsyncZod<{ enrolments: EnrolmentService; userTotp: UserTotp }> = async (app, { enrolments, userTotp }) => {
  app.post(
    '/totp/register',
    {
      schema: {
        tags: ['users'],
        description: `Enrols \`username\` (the user_id) with SHA1, 6 digits, 30 seconds and the issuer TOTP_ISSUER. ${enrolDoc}`,
        body: z.object({ username: userIdSchema }),
        response: {
          201: z.object({
            username: z.string(),
            created_at: z.string().describe('ISO 8601'),
            verified_once: z.literal(false),
            provisioning_uri: z.string(),
            qr_code_base64: z.string(),
          }),
          ...errorResponses(400, 401, 409),
        },
      },
    },
    async (request, reply) => {
      const e = await enrolments.enrol(request.body.username, {}, { ip: request.ip });
      reply.code(201);
      return {
        username: e.userId,
        created_at: iso(e.createdAt),
        verified_once: false as const,
        provisioning_uri: e.provisioningUri,
        qr_code_base64: e.qrCodeDataUrl,
      };
    },
  );

  app.post(
    '/totp/setup',
    {
      schema: {
        tags: ['users'],
        description:
          `Enrols \`user_id\` with the given issuer (default TOTP_ISSUER), algorithm (SHA1, SHA256, SHA512; default SHA1), ` +
          `digits (6 or 8; default 6) and period (15, 30 or 60 seconds; default 30); any other value is 400 VALIDATION_FAILED. ` +
          `The base32 secret is returned this once, for manual entry. ${enrolDoc}`,
        body: z.object({
          user_id: userIdSchema,
          issuer: issuerSchema.optional(),
          algorithm: z.enum(['SHA1', 'SHA256', 'SHA512']).optional(),
          digits: z.union([z.literal(6), z.literal(8)], { error: 'must be 6 or 8' }).optional(),
          period: z.union([z.literal(15), z.literal(30), z.literal(60)], { error: 'must be 15, 30 or 60' }).optional(),
        }),
        response: {
          201: z.object({
            user_id: z.string(),
            secret: z.string().describe('base32, unpadded; shown this once'),
            provisioning_uri: z.string(),
            qr_code_base64: z.string(),
            status: z.literal('pending'),
          }),
          ...errorResponses(400, 401, 409),
        },
      },
    },
    async (request, reply) => {
      const b = request.body;
      const e = await enrolments.enrol(b.user_id, { issuer: b.issuer, params: { algorithm: b.algorithm, digits: b.digits, period: b.period } }, { ip: request.ip });
      reply.code(201);
      return { user_id: e.userId, secret: e.secretBase32, provisioning_uri: e.provisioningUri, qr_code_base64: e.qrCodeDataUrl, status: 'pending' as const };
    },
  );

  app.post(
    '/totp/verify',
    {
      schema: {
        tags: ['users'],
        description:
          'Verifies a TOTP code of the user (`username` or `user_id`, the same identifier). Accepts the current step and ' +
          'TOTP_WINDOW steps either side, each step at most once per user (also across processes): a replayed code, or one of ' +
          'a step older than the last accepted (RFC 6238 section 5.2), is 401 INVALID_OTP. A code that is not a string of ' +
          "the enrolment's digits is simply wrong (401, charged). The first good code activates a pending enrolment and " +
          "enables 2FA. Every attempt is charged to the user's lockout before the code is checked: after " +
          'LOCKOUT_THRESHOLD consecutive failures (any method) the user is ' +
          'locked and every verification is 429 ACCOUNT_LOCKED with Retry-After, even with a right code. Rate limited per ' +
          'client address (429 RATE_LIMITED). 404 USER_NOT_FOUND / NOT_ENROLLED change nothing.',
        body: z
          .object({ username: userIdSchema.optional(), user_id: userIdSchema.optional(), otp: codeInput })
          .refine((b) => b.username !== undefined || b.user_id !== undefined, { message: 'username or user_id is required', path: ['username'] })
          .refine((b) => b.username === undefined || b.user_id === undefined || b.username === b.user_id, {
            message: 'username and user_id name the same user; give one',
            path: ['user_id'],
          }),
        response: {
          200: z.object({ message: z.literal('OTP is valid'), username: z.string(), status: z.literal('success'), verified_once: z.literal(true) }),
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request) => {
      const userId = (request.body.username ?? request.body.user_id) as string;
      await userTotp.verify(userId, request.body.otp, { ip: request.ip }, { allowPending: true });
      return { message: 'OTP is valid' as const, username: userId, status: 'success' as const, verified_once: true as const };
    },
  );
};
