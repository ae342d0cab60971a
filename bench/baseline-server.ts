import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { genReqId, registerRequestLog } from '../src/http/plugins/request-log.js';
import { createLogger } from '../src/logger.js';

// The benchmark's baseline: the same Fastify, the same logger (createLogger: level, the
// censoring of secret fields, ISO timestamps), the same request ids and the same
// one-line-per-request log plugin as the service, serving one trivial JSON route. Whatever the
// service costs beyond this is the service's own work: auth, validation, crypto, SQLite, audit.

const port = Number(process.env.PORT ?? '0');
const app = Fastify({
  loggerInstance: createLogger(process.env.LOG_LEVEL ?? 'info') as FastifyBaseLogger,
  logController: new LogController({ disableRequestLogging: true }),
  genReqId,
  trustProxy: false,
  routerOptions: { ignoreTrailingSlash: true },
});
registerRequestLog(app);
app.get('/baseline', async () => ({ ok: true }));

const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
await app.listen({ port, host: process.env.HOST ?? '127.0.0.1' });
