import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received: request signatures hash these bytes. */
    rawBody?: Buffer;
  }
}

/** JSON bodies parsed by us, so the raw bytes stay available and bad JSON has our error. */
export function registerJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers(); // JSON in (API.md): any other body is 415
  app.addContentTypeParser(/^application\/(?:[\w.+-]+\+)?json$/, { parseAs: 'buffer' }, (request, body, done) => {
    const raw = body as Buffer;
    request.rawBody = raw;
    if (raw.length === 0) return done(new AppError(400, 'INVALID_JSON', 'The request body is empty; send a JSON object'), undefined);
    try {
      done(null, JSON.parse(raw.toString('utf8')));
    } catch {
      done(new AppError(400, 'INVALID_JSON', 'The request body is not valid JSON'), undefined);
    }
  });
}
