import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import type { Store } from './db/types.js';
import { registerAuth } from './http/plugins/auth.js';
import { registerDocs } from './http/plugins/docs.js';
import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './http/plugins/errors.js';
import { registerJsonBody } from './http/plugins/json-body.js';
import { registerMetrics } from './http/plugins/metrics.js';
import { registerRateLimit } from './http/plugins/rate-limit.js';
import { genReqId, registerRequestLog } from './http/plugins/request-log.js';
import { serializerCompiler } from './http/serializer.js';
import { auditRoutes } from './http/routes/audit.js';
import { backupCodeRoutes } from './http/routes/backup-codes.js';
import { challengeRoutes } from './http/routes/challenges.js';
import { codeRoutes } from './http/routes/codes.js';
import { healthRoutes } from './http/routes/health.js';
import { oneTimeCodeRoutes } from './http/routes/one-time-codes.js';
import { recoveryRoutes } from './http/routes/recovery.js';
import { seedRoutes } from './http/routes/seed.js';
import { totpRoutes } from './http/routes/totp.js';
import { twoFactorRoutes } from './http/routes/two-factor.js';
import { userConfigRoutes } from './http/routes/user-config.js';
import type { Secrets } from './secrets.js';
import { createAttemptGuard } from './services/attempt-guard.js';
import { AUDIT_RETENTION_INTERVAL_MS, createAuditRetention, type AuditRetention } from './services/audit-retention.js';
import { createAuditService } from './services/audit-service.js';
import { createBackupCodeService } from './services/backup-code-service.js';
import { createChallengeService } from './services/challenge-service.js';
import { createEnrolmentService } from './services/enrolment-service.js';
import { createOneTimeCodeService } from './services/one-time-code-service.js';
import { createRecoveryService } from './services/recovery-service.js';
import { createSeedService } from './services/seed-service.js';
import { createSignatureService } from './services/signature-service.js';
import { createTwoFactorService } from './services/two-factor-service.js';
import { createUserConfigService } from './services/user-config-service.js';
import { createUserTotp } from './services/user-totp.js';

export type AppDeps = {
  config: Config;
  secrets: Secrets;
  store: Store;
  clock: Clock;
  logger: Logger;
  version?: string;
};

/** Builds the HTTP app on the given dependencies. Never listens: server.ts and tests do. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, secrets, store, clock } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One line per request comes from plugins/request-log.ts instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId,
    bodyLimit: config.bodyLimitBytes,
    // request.ip is the peer's address unless TRUST_PROXY names the reverse proxies whose
    // X-Forwarded-For is believed; never every peer nor a hop count (config.ts refuses both).
    // The rate limit and the audit log both key on it.
    trustProxy: config.trustProxy,
    // A user_id is up to 128 characters (API.md); the router's default limit of 100 (decoded
    // characters of a path parameter) answered longer ones 414 before any route could. Up to
    // 256 the route's schema answers, naming the field.
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 256 },
    frameworkErrors,
    clientErrorHandler,
    return503OnClosing: false, // plugins/errors.ts answers those requests in the error format
    // A client that stops sending mid-request is cut (408 REQUEST_TIMEOUT) rather than held
    // open forever; Node checks this every 30 s.
    requestTimeout: 30_000,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const seeds = createSeedService({ store, keyRing: secrets.keyRing, rsa: secrets.rsa, clock, totpWindow: config.totpWindow });
  const signatures = createSignatureService({
    store,
    clock,
    hmacSecret: secrets.hmacSecret,
    windowSeconds: config.signatureWindowSeconds,
    allowTimestampOnly: config.allowTimestampSignatures,
  });
  // Per-user 2FA (API.md "Users"): one attempt guard (the lockout) for every verification method.
  const keyRing = secrets.keyRing;
  const guard = createAttemptGuard({
    store,
    clock,
    threshold: config.lockoutThreshold,
    baseSeconds: config.lockoutBaseSeconds,
    maxSeconds: config.lockoutMaxSeconds,
  });
  const userTotp = createUserTotp({ store, keyRing, clock, totpWindow: config.totpWindow, guard });
  const enrolments = createEnrolmentService({ store, keyRing, clock, issuer: config.totpIssuer });
  const oneTimeCodes = createOneTimeCodeService({ store, keyRing, clock, expirationMinutes: config.otpExpirationMinutes, guard });
  const backupCodes = createBackupCodeService({ store, clock, guard, defaultCount: config.backupCodeCount });
  const twoFactor = createTwoFactorService({
    store,
    clock,
    userTotp,
    backupCodesRemaining: (userId) => store.backupCodes.remaining(userId),
    // /disable also takes a backup code: verify() charges the guard itself and throws 401/429.
    otherFactor: async (userId, code, ctx) => {
      await backupCodes.verify(userId, code, ctx);
      return true;
    },
  });
  const audit = createAuditService({ store, clock });
  const challenges = createChallengeService({
    store,
    clock,
    guard,
    backupCodes,
    userTotp,
    ttlSeconds: config.challengeTtlSeconds,
    maxAttempts: config.challengeMaxAttempts,
  });
  const recovery = createRecoveryService({ store, clock, ttlHours: config.recoveryTtlHours });
  const userConfigs = createUserConfigService({ store, clock });

  registerJsonBody(app);
  registerErrorHandling(app);
  registerRequestLog(app);
  // Auth and the rate limit attach their hooks to routes as they are registered (onRoute), so
  // they come before any plugin that adds a route (metrics, docs).
  registerAuth(app, {
    apiKey: secrets.apiKey,
    publicCodeRoutes: config.publicCodeRoutes,
    requireSignatures: config.requireSignatures,
    signatures,
    publicPrefixes: ['/docs'],
  });
  registerRateLimit(app, { max: config.rateLimitMax, windowSeconds: config.rateLimitWindowSeconds, ipv6Prefix: config.rateLimitIpv6Prefix, clock });
  registerMetrics(app, { writeStats: () => store.writeStats() });
  await registerDocs(app, { expose: config.enableDocs, version: deps.version ?? '0.0.0' });

  if (!secrets.rsa) throw new Error('the HTTP service needs the RSA key pair');
  await app.register(healthRoutes, { store, seeds, keyRing, clock });
  await app.register(seedRoutes, { seeds, publicKeyPem: secrets.rsa.publicKeyPem });
  await app.register(codeRoutes, { seeds });
  await app.register(totpRoutes, { enrolments, userTotp });
  await app.register(oneTimeCodeRoutes, { codes: oneTimeCodes, expirationMinutes: config.otpExpirationMinutes });
  await app.register(twoFactorRoutes, { twoFactor });
  await app.register(auditRoutes, { audit });
  await app.register(backupCodeRoutes, { backupCodes, maxCount: 50 });
  await app.register(challengeRoutes, { challenges, ttlSeconds: config.challengeTtlSeconds, maxAttempts: config.challengeMaxAttempts });
  await app.register(recoveryRoutes, { recovery, ttlHours: config.recoveryTtlHours });
  await app.register(userConfigRoutes, { configs: userConfigs });
  if (config.auditRetentionDays > 0) keepAuditFor(app, createAuditRetention({ store, clock, days: config.auditRetentionDays }), config.auditRetentionDays);

  return app;
}

/** AUDIT_RETENTION_DAYS: a run once the app is ready, then every ten minutes, ended by close. */
function keepAuditFor(app: FastifyInstance, retention: AuditRetention, days: number): void {
  const prune = () =>
    retention.prune().then(
      (deleted) => {
        if (deleted > 0) app.log.info({ deleted, retentionDays: days }, 'audit events older than the retention deleted');
      },
      (err: unknown) => app.log.warn({ err }, 'audit retention: old events could not be deleted; trying again at the next run'),
    );
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    void prune();
    timer = setInterval(() => void prune(), AUDIT_RETENTION_INTERVAL_MS).unref();
  });
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await retention.stop();
  });
}
