import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { publicJwk } from '../../crypto/rsa-oaep.js';
import type { SeedService } from '../../services/seed-service.js';
import { errorResponses } from '../schemas.js';

export const seedRoutes: FastifyPluginAsyncZod<{ seeds: SeedService; publicKeyPem: string }> = async (app, { seeds, publicKeyPem }) => {
  app.get(
    '/seed/public-key',
    {
      config: { access: 'public' },
      schema: {
        tags: ['seed'],
        description: 'The RSA-4096 public key (PEM) that clients encrypt a seed with, RSA-OAEP with SHA-256 and MGF1-SHA-256.',
        security: [],
        produces: ['application/x-pem-file'],
      },
    },
    async (_request, reply) => {
      reply.type('application/x-pem-file').send(publicKeyPem);
    },
  );

  const jwks = { keys: [publicJwk(publicKeyPem)] };
  app.get(
    '/.well-known/jwks.json',
    {
      config: { access: 'public' },
      schema: {
        tags: ['seed'],
        description:
          'The same public key as GET /seed/public-key, as a JSON Web Key Set (RFC 7517) for clients that encrypt with JOSE ' +
          'libraries: `alg` RSA-OAEP-256 (SHA-256 and MGF1-SHA-256), `use` enc, `kid` the RFC 7638 thumbprint of the key.',
        security: [],
        response: {
          200: z.object({
            keys: z.array(
              z.object({ kty: z.literal('RSA'), use: z.literal('enc'), alg: z.literal('RSA-OAEP-256'), kid: z.string(), n: z.string(), e: z.string() }),
            ),
          }),
        },
      },
    },
    async () => jwks,
  );

  app.post(
    '/decrypt-seed',
    {
      schema: {
        tags: ['seed'],
        description:
          'Stores the service seed. `encrypted_seed` is base64 RSA-OAEP (SHA-256, MGF1-SHA-256) ciphertext under the key of ' +
          'GET /seed/public-key; the plaintext is 64 hex characters or a base32 secret of at least 128 bits. The seed is ' +
          'kept AES-256-GCM encrypted and replaces any previous one atomically.',
        body: z.object({ encrypted_seed: z.string().min(1).max(4096).describe('base64 of the RSA-OAEP ciphertext') }),
        response: { 200: z.object({ status: z.literal('ok') }), ...errorResponses(400, 401, 413, 422) },
      },
    },
    async (request) => {
      await seeds.setEncryptedSeed(request.body.encrypted_seed, { ip: request.ip });
      return { status: 'ok' as const };
    },
  );
};
