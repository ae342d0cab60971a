import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError } from '../../errors.js';

type Body = { error: string; code: string; fields?: string[] };

const FASTIFY_CODES: Record<string, { status: number; code: string; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: 'The request body is larger than the limit' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as application/json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'The request body is empty; send a JSON object' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_JSON', message: 'The request body is not valid JSON' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'BAD_REQUEST', message: 'Content-Length does not match the body' },
};

/** One error format everywhere (API.md "Conventions"); a 5xx never says what went wrong inside. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `No route ${request.method} ${request.url.split('?')[0]}`, code: 'NOT_FOUND' } satisfies Body);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      reply.headers(error.headers).code(error.status).send({ error: error.message, code: error.code } satisfies Body);
      return;
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const where = error.validationContext ?? 'body';
      const fields = error.validation.map((v) => `${where}${v.instancePath.replace(/\//g, '.')}`.replace(/\.$/, ''));
      const detail = error.validation.map((v, i) => `${fields[i]}: ${v.message}`).join('; ');
      reply.code(400).send({ error: `Invalid request: ${detail}`, code: 'VALIDATION_FAILED', fields } satisfies Body);
      return;
    }
    const known = error.code ? FASTIFY_CODES[error.code] : undefined;
    if (known) {
      reply.code(known.status).send({ error: known.message, code: known.code } satisfies Body);
      return;
    }
    if (error.statusCode === 429) {
      reply.code(429).send({ error: 'Too many requests; slow down and retry later', code: 'RATE_LIMITED' } satisfies Body);
      return;
    }
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      reply.code(error.statusCode).send({ error: 'The request could not be processed', code: 'BAD_REQUEST' } satisfies Body);
      return;
    }
    request.log.error({ err: error }, 'unhandled error');
    reply.code(500).send({ error: 'Internal server error', code: 'INTERNAL_ERROR' } satisfies Body);
  });
}
