import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { StorageUnavailableError } from '../../db/types.js';
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
  // While the server drains (SIGTERM), a request that still arrives on an open connection is
  // refused in the error format, with its request id (Fastify's own 503 has neither:
  // return503OnClosing is off in app.ts). Connection: close is set by Fastify.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (!closing) return done();
    reply
      .header('x-request-id', request.id)
      .code(503)
      .send({ error: 'The service is shutting down; retry in a moment', code: 'SHUTTING_DOWN' } satisfies Body);
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `No route ${request.method} ${request.url.split('?')[0]}`, code: 'NOT_FOUND' } satisfies Body);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AppError) {
      reply.headers(error.headers).code(error.status).send({ error: error.message, code: error.code } satisfies Body);
      return;
    }
    if (error instanceof StorageUnavailableError) {
      // Not the request's fault and nothing of it was kept: the client may send it again as is.
      if (error.reason === 'full') {
        request.log.error('a write was refused: the disk that holds the database is full');
        reply.code(503).send({ error: 'The service cannot store anything: its disk is full. Nothing was changed; retry once space is freed', code: 'STORAGE_FULL' } satisfies Body);
      } else {
        request.log.warn('a write was refused: another process held the database write lock for the 5 s a write waits for it');
        reply.header('retry-after', '1').code(503).send({ error: 'The database is busy with another process: nothing was changed; retry in a moment', code: 'DATABASE_BUSY' } satisfies Body);
      }
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

/**
 * Fastify's `frameworkErrors`: a path it cannot route (bad percent-encoding, a parameter over
 * the router's limit) is answered before any route or hook runs; this keeps the error format and
 * the request id for those too.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
  reply
    .header('x-request-id', request.id)
    .code(tooLong ? 414 : 400)
    .send((tooLong
      ? { error: 'A path segment is longer than the service accepts', code: 'URI_TOO_LONG' }
      : { error: 'The URL is not valid (bad percent-encoding)', code: 'BAD_REQUEST' }) satisfies Body);
}

/**
 * Node's `clientError` (a request that is not HTTP, or headers over Node's limit): no request
 * exists yet, so the answer is written to the socket, still in the error format.
 *
 * Only when no answer has started on the socket, which is the rule of Node's own handler
 * (`socketOnError` in Node's lib/_http_server.js), replaced by this one. Node's HTTP client
 * sends a GET's body with no framing after a request that says `Connection: close`; when those
 * bytes arrive after the answer went out, Node reports them here (HPE_CLOSED_CONNECTION).
 * Writing a 400 then put a second answer on the wire after the 200, which the client reads as a
 * protocol error (Fastify's default handler has the same gap). A malformed request after a
 * finished one on a kept-alive connection still gets its 400: no answer is in flight then.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Node's own field for the answer in flight on this socket (what its default handler checks).
  const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  if (inFlight?.headersSent) {
    socket.destroy(err);
    return;
  }
  const [status, body] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, { error: 'The request headers are larger than the limit', code: 'HEADERS_TOO_LARGE' }]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, { error: 'The request took too long to arrive', code: 'REQUEST_TIMEOUT' }]
        : [400, { error: 'The request is not valid HTTP', code: 'BAD_REQUEST' }];
  const json = JSON.stringify(body satisfies Body);
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(json)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${json}`);
  }
  socket.destroy(err);
}
