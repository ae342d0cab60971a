import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const CLIENT_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Honours a caller's X-Request-Id when it is a plain token; otherwise makes one. */
export function genReqId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && CLIENT_ID.test(given) ? given : randomUUID();
}

const pathOf = (request: FastifyRequest) => request.url.split('?')[0];

/**
 * One structured line per request, with the request id, method, path (never the query or the
 * body), status, latency and the client address (the one the rate limit and the audit log use:
 * the peer's, or the client's as the trusted proxies in TRUST_PROXY report it). Headers and
 * bodies are not logged at all.
 */
export function registerRequestLog(app: FastifyInstance): void {
  // Plain callbacks rather than async functions: no promise per hook per request (issue 5).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  app.addHook('onResponse', (request, reply, done) => {
    const line = {
      method: request.method,
      path: pathOf(request),
      status: reply.statusCode,
      latency_ms: Math.round(reply.elapsedTime * 100) / 100,
      ip: request.ip,
    };
    if (reply.statusCode >= 500) request.log.error(line, 'request failed');
    else request.log.info(line, 'request');
    done();
  });
}
