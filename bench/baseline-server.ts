import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { genReqId, registerRequestLog } from '../src/http/plugins/request-log.js';
import { createLogger } from '../src/logger.js';

// The benchmark's baseline: the same Fastify, the same logger (createLogger: level, the
// censoring of secret fields, ISO timestamps), the same request ids and the same
// one-line-per-request log plugin as the service, answering every request with a trivial JSON
// object. run.ts sends it requests of the same shape as each route's (one request of the route's
// scenario: method, path and query, headers and body), so the framework's own cost for such a
// request (parsing its headers, reading and parsing a JSON body, routing, the log line) is on
// both sides of the ratio, and whatever the service costs beyond this is the service's own
// work: auth, validation, crypto, SQLite, audit.

/** Every route the bench measures (run.ts refuses a baseline answer other than 200). */
const MEASURED: [method: 'GET' | 'POST', url: string][] = [
  ['GET', '/generate-2fa'],
  ['POST', '/verify-2fa'],
  ['GET', '/otp/secure'],
  ['POST', '/totp/verify'],
  ['POST', '/decrypt-seed'],
];

const port = Number(process.env.PORT ?? '0');
const app = Fastify({
  loggerInstance: createLogger(process.env.LOG_LEVEL ?? 'info') as FastifyBaseLogger,
  logController: new LogController({ disableRequestLogging: true }),
  genReqId,
  trustProxy: false,
  routerOptions: { ignoreTrailingSlash: true },
});
registerRequestLog(app);
const trivial = async () => ({ ok: true });
app.get('/baseline', trivial); // the readiness check
for (const [method, url] of MEASURED) app.route({ method, url, handler: trivial });

const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' });
