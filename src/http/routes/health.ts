import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { SeedService } from '../../services/seed-service.js';
import type { Store } from '../../db/types.js';
import type { Clock } from '../../clock.js';
import type { KeyRing } from '../../crypto/aes-gcm.js';
import { missingDataKeyIds } from '../../services/key-rotation.js';

const healthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  timestamp: z.number().int(),
  checks: z.object({
    database: z.enum(['ok', 'unreachable']),
    seed: z.enum(['set', 'not_set', 'unknown']),
    data_key: z.literal('missing').optional().describe('Present only when stored secrets are sealed under a data key this process does not have'),
    storage: z.literal('full').optional().describe('Present only while writes fail for lack of space on the disk that holds the database'),
  }),
});

type Deps = { store: Store; seeds: SeedService; keyRing: KeyRing; clock: Clock };

export const healthRoutes: FastifyPluginAsyncZod<Deps> = async (app, { store, seeds, keyRing, clock }) => {
  let reportedMissing = '';
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['operations'],
        description:
          'Liveness and readiness: 200 when the database answers and this process has every data key that seals a stored secret; ' +
          '503 "degraded" when the database does not answer, with `data_key: "missing"` when a secret is sealed under a key ' +
          'this process lacks (it missed a key rotation: its codes could not be checked), or with `storage: "full"` while writes ' +
          'fail for lack of space (every change, a verification included, is then refused with 503 STORAGE_FULL).',
        security: [],
        response: { 200: healthSchema, 503: healthSchema },
      },
    },
    async (request, reply) => {
      const timestamp = Math.floor(clock.now() / 1000);
      let database: 'ok' | 'unreachable' = 'unreachable';
      let seed: 'set' | 'not_set' | 'unknown' = 'unknown';
      let missing: string[] = [];
      let full = false;
      try {
        if (await store.ping()) {
          database = 'ok';
          seed = (await seeds.isSet()) ? 'set' : 'not_set';
          missing = await missingDataKeyIds({ store, keyRing });
          full = await store.storageFull();
        }
      } catch {
        database = 'unreachable';
      }
      // Key ids are derived from keys and name them without revealing them; logged once per change.
      if (missing.join() !== reportedMissing) {
        reportedMissing = missing.join();
        if (missing.length > 0) {
          request.log.error({ missingDataKeyIds: missing }, 'stored secrets are sealed under data keys this process does not have: restart it with them (README, "Rotating the data key")');
        }
      }
      const status: 'ok' | 'degraded' = database === 'ok' && missing.length === 0 && !full ? 'ok' : 'degraded';
      reply.code(status === 'ok' ? 200 : 503);
      return {
        status,
        timestamp,
        checks: { database, seed, ...(missing.length > 0 ? { data_key: 'missing' as const } : {}), ...(full ? { storage: 'full' as const } : {}) },
      };
    },
  );
};
