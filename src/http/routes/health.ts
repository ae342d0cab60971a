import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { SeedService } from '../../services/seed-service.js';
import type { Store } from '../../db/types.js';
import type { Clock } from '../../clock.js';

const healthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  timestamp: z.number().int(),
  checks: z.object({ database: z.enum(['ok', 'unreachable']), seed: z.enum(['set', 'not_set', 'unknown']) }),
});

export const healthRoutes: FastifyPluginAsyncZod<{ store: Store; seeds: SeedService; clock: Clock }> = async (app, { store, seeds, clock }) => {
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        description: 'Liveness and readiness: 200 when the database answers, 503 "degraded" when it does not.',
        security: [],
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (_request, reply) => {
      const timestamp = Math.floor(clock.now() / 1000);
      let database: 'ok' | 'unreachable' = 'unreachable';
      let seed: 'set' | 'not_set' | 'unknown' = 'unknown';
      try {
        if (await store.ping()) {
          database = 'ok';
          seed = (await seeds.isSet()) ? 'set' : 'not_set';
        }
      } catch {
        database = 'unreachable';
      }
      const status: 'ok' | 'degraded' = database === 'ok' ? 'ok' : 'degraded';
      reply.code(status === 'ok' ? 200 : 503);
      return { status, timestamp, checks: { database, seed } };
    },
  );
};
