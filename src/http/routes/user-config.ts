import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { UserConfigRow } from '../../db/types.js';
import type { UserConfigService } from '../../services/user-config-service.js';
import { errorResponses, userIdSchema } from '../schemas.js';

const iso = (ms: number) => new Date(ms).toISOString();

const method = z.enum(['totp', 'email', 'sms']).describe('How the user prefers to give a second factor');
// Contact details, validated for shape only; null clears one on PUT.
const email = z.email().max(254);
const phone = z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 number such as +14155550123');

const configAnswer = z.object({
  user_id: z.string(),
  preferred_method: method,
  email: z.string().nullable(),
  phone: z.string().nullable(),
  created_at: z.string().describe('ISO 8601'),
  updated_at: z.string().describe('ISO 8601'),
});

const answer = (c: UserConfigRow) => ({
  user_id: c.userId,
  preferred_method: c.preferredMethod,
  email: c.email,
  phone: c.phone,
  created_at: iso(c.createdAt),
  updated_at: iso(c.updatedAt),
});

const doc = 'Holds contact details and a preference only, never a secret.';

export const userConfigRoutes: FastifyPluginAsyncZod<{ configs: UserConfigService }> = async (app, { configs }) => {
  app.post(
    '/config',
    {
      schema: {
        tags: ['users'],
        description:
          "Creates the user's configuration (preferred_method defaults to totp); a user not known yet is created with it " +
          `(not enrolled, 2FA off), so the configuration may come before TOTP setup. 409 CONFIG_ALREADY_EXISTS if it exists: use PUT. ${doc}`,
        body: z.object({ user_id: userIdSchema, preferred_method: method.optional(), email: email.optional(), phone: phone.optional() }),
        response: { 201: configAnswer, ...errorResponses(400, 401, 409) },
      },
    },
    async (request, reply) => {
      const { user_id, preferred_method, email: e, phone: p } = request.body;
      const c = await configs.create(user_id, { preferredMethod: preferred_method, email: e, phone: p }, { ip: request.ip });
      reply.code(201);
      return answer(c);
    },
  );

  app.get(
    '/config/:user_id',
    {
      schema: {
        tags: ['users'],
        description: `The user's configuration; 404 USER_NOT_FOUND for an unknown user, CONFIG_NOT_FOUND before POST /config. ${doc}`,
        params: z.object({ user_id: userIdSchema }),
        response: { 200: configAnswer, ...errorResponses(400, 401, 404) },
      },
    },
    async (request) => answer(await configs.get(request.params.user_id)),
  );

  app.put(
    '/config/:user_id',
    {
      schema: {
        tags: ['users'],
        description: `Changes the fields given (null clears email or phone); creates the configuration, and the user, if there is none. ${doc}`,
        params: z.object({ user_id: userIdSchema }),
        body: z
          .object({ preferred_method: method.optional(), email: email.nullable().optional(), phone: phone.nullable().optional() })
          .refine((b) => Object.keys(b).length > 0, { message: 'give at least one of preferred_method, email, phone' }),
        response: { 200: configAnswer, ...errorResponses(400, 401) },
      },
    },
    async (request) => {
      const { preferred_method, email: e, phone: p } = request.body;
      return answer(await configs.update(request.params.user_id, { preferredMethod: preferred_method, email: e, phone: p }, { ip: request.ip }));
    },
  );
};
