import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { SeedService } from '../../services/seed-service.js';
import { codeInput, errorResponses } from '../schemas.js';

const codeDoc = 'The service seed must be set first (404 SEED_NOT_SET otherwise).';
const verifyDoc =
  'Accepts the current 30-second step and TOTP_WINDOW steps either side, and each code at most once: a code already ' +
  'accepted (or one older than it) answers valid=false. A code that is not exactly 6 digits is simply not valid.';

const otpAnswer = z.object({
  otp: z.string(),
  valid_for_seconds: z.number().int().describe('Whole seconds left in the current step'),
  timestamp: z.number().int().describe('Server time, unix seconds'),
});

export const codeRoutes: FastifyPluginAsyncZod<{ seeds: SeedService }> = async (app, { seeds }) => {
  app.get(
    '/generate-2fa',
    {
      config: { access: 'code-route' },
      schema: {
        tags: ['codes'],
        description: `The current code of the service seed. ${codeDoc}`,
        response: { 200: z.object({ code: z.string(), valid_for: z.number().int() }), ...errorResponses(401, 404) },
      },
    },
    async () => {
      const c = await seeds.currentCode();
      return { code: c.code, valid_for: c.validFor };
    },
  );

  app.post(
    '/verify-2fa',
    {
      config: { access: 'code-route' },
      schema: {
        tags: ['codes'],
        description: `${verifyDoc} ${codeDoc}`,
        body: z.object({ code: codeInput }),
        response: { 200: z.object({ valid: z.boolean() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const r = await seeds.verify(request.body.code, { ip: request.ip });
      return { valid: r.valid };
    },
  );

  const otp = async () => {
    const c = await seeds.currentCode();
    return { otp: c.code, valid_for_seconds: c.validFor, timestamp: c.timestamp };
  };

  app.get(
    '/otp',
    {
      schema: { tags: ['codes'], description: `The current code of the service seed. ${codeDoc}`, response: { 200: otpAnswer, ...errorResponses(401, 404) } },
    },
    otp,
  );

  app.get(
    '/otp/secure',
    {
      config: { signed: true },
      schema: {
        tags: ['codes'],
        description: `As GET /otp, and the request must carry a valid X-Timestamp and X-Signature, each signature accepted once. ${codeDoc}`,
        security: [{ apiKey: [], signature: [] }],
        response: { 200: otpAnswer, ...errorResponses(401, 404) },
      },
    },
    otp,
  );

  app.post(
    '/otp/verify',
    {
      schema: {
        tags: ['codes'],
        description: `${verifyDoc} ${codeDoc}`,
        body: z.object({ otp: codeInput }),
        response: { 200: z.object({ valid: z.boolean(), timestamp: z.number().int() }), ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => seeds.verify(request.body.otp, { ip: request.ip }),
  );
};
