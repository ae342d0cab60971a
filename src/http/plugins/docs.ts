import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/** The OpenAPI document, built from the routes' zod schemas, and the interactive docs. */
export async function registerDocs(app: FastifyInstance, opts: { expose: boolean; version: string }): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Two-factor authentication service',
        version: opts.version,
        description:
          'Holds TOTP secrets encrypted at rest and generates and verifies one-time codes. Every error is ' +
          '`{"error": "<message>", "code": "<CODE>"}`. Every route but /health, /seed/public-key, ' +
          '/.well-known/jwks.json and the docs needs X-API-Key; routes marked signed also need X-Timestamp and ' +
          'X-Signature. A route that changes something (a verification included: it records the code and ' +
          'the attempt) answers 503 `STORAGE_FULL` while the disk holding the database is full, and 503 ' +
          '`DATABASE_BUSY` with Retry-After when another process holds the write lock too long; nothing is ' +
          'changed then, and the same request may be sent again. While the process stops: 503 `SHUTTING_DOWN`.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
          signature: {
            type: 'apiKey',
            in: 'header',
            name: 'X-Signature',
            description:
              'Lowercase hex HMAC-SHA256, keyed with HMAC_SECRET, of "<X-Timestamp>\\n<METHOD>\\n<path with query>\\n<hex sha256 of the raw body>".',
          },
        },
      },
      security: [{ apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  if (!opts.expose) return;
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } });
  app.get('/openapi.json', { schema: { hide: true }, config: { access: 'public' } }, async () => app.swagger());
}
