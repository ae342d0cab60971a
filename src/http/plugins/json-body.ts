import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body exactly as received: request signatures hash these bytes. */
    rawBody?: Buffer;
  }
}

const UTF8_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;

/** JSON bodies parsed by us, so the raw bytes stay available and bad JSON has our error. */
export function registerJsonBody(app: FastifyInstance): void {
  app.removeAllContentTypeParsers(); // JSON in (API.md): any other body is 415
  // Fastify matches this against the normalised header, parameters included: many HTTP clients
  // (.NET, Java, RPA tools) send `application/json; charset=utf-8`.
  app.addContentTypeParser(/^application\/(?:[\w.+-]+\+)?json(?:;.*)?$/, { parseAs: 'buffer' }, (request, body, done) => {
    const raw = body as Buffer;
    request.rawBody = raw;
    // JSON is UTF-8 (RFC 8259 section 8.1): a body declared in another charset is refused, not misread.
    const type = request.headers['content-type'] ?? '';
    const charset = type.includes(';') ? CHARSET.exec(type)?.[1]?.toLowerCase() : undefined;
    if (charset !== undefined && !UTF8_CHARSETS.has(charset)) {
      return done(new AppError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json in UTF-8'), undefined);
    }
    if (raw.length === 0) return done(new AppError(400, 'INVALID_JSON', 'The request body is empty; send a JSON object'), undefined);
    try {
      done(null, JSON.parse(raw.toString('utf8')));
    } catch {
      done(new AppError(400, 'INVALID_JSON', 'The request body is not valid JSON'), undefined);
    }
  });
}
