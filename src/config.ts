import { isIP } from 'node:net';
import cron from 'node-cron';
import { z } from 'zod';

// The only module that reads process.env. Everything else receives the parsed, frozen value.

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''])
    .optional()
    .transform((v) => (v === undefined || v === '' ? fallback : ['true', '1', 'yes', 'on'].includes(v)));

const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

// TRUST_PROXY names the reverse proxies whose X-Forwarded-For is believed: addresses, CIDR
// ranges, or proxy-addr's names for ranges. Trusting every peer (Fastify's `true`) is refused:
// any client could then pick its own address for the rate limit and the audit log by sending
// the header itself. So is a hop count, which cannot tell a proxy from a client that sends the
// header (Fastify 5 ignores one).
const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];
function proxyEntryProblem(entry: string): string | null {
  if (PROXY_NAMES.includes(entry)) return null;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return `"${entry}" is not an address, a CIDR range or one of ${PROXY_NAMES.join(', ')}`;
  const bits = family === 4 ? 32 : 128;
  // A /0 range is every address: the same as trusting every peer.
  if (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) >= 1 && Number(prefix) <= bits)) {
    return `"${entry}": the prefix length must be a whole number from 1 to ${bits}`;
  }
  return null;
}
export type TrustProxy = false | string[];
const trustProxy = z
  .string()
  .optional()
  .transform((v, ctx): TrustProxy => {
    const s = (v ?? '').trim();
    if (s === '' || s === 'false') return false;
    if (s === 'true' || /^\d+$/.test(s)) {
      ctx.addIssue({
        code: 'custom',
        message: 'name the reverse proxies by address or CIDR range (e.g. 10.0.0.0/8,127.0.0.1): trusting every peer or a number of hops would let any client choose its own address',
      });
      return z.NEVER;
    }
    const entries = s.split(',').map((e) => e.trim());
    const problems = entries.map((e) => (e === '' ? 'an empty entry in the list' : proxyEntryProblem(e))).filter((p): p is string => p !== null);
    for (const message of problems) ctx.addIssue({ code: 'custom', message });
    return problems.length > 0 ? z.NEVER : entries;
  });

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(8080, 0, 65535),
  HOST: z.string().default('0.0.0.0'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  API_KEY: optionalString,
  HMAC_SECRET: optionalString,
  DATA_DIR: z.string().default('./data'),
  DATA_KEY: optionalString,
  DATA_KEYS_PREVIOUS: optionalString,
  KEYS_DIR: z.string().default('./keys'),
  PRIVATE_KEY_PATH: optionalString,
  PUBLIC_KEY_PATH: optionalString,
  ENABLE_DOCS: z.enum(['true', 'false', '1', '0', '']).optional(),
  BODY_LIMIT_BYTES: int(16_384, 1_024, 1_048_576),
  TOTP_WINDOW: int(1, 0, 1),
  SIGNATURE_WINDOW_SECONDS: int(30, 1, 300),
  REQUIRE_SIGNATURES: bool(false),
  ALLOW_TIMESTAMP_SIGNATURES: bool(false),
  PUBLIC_CODE_ROUTES: bool(false),
  CRON_DIR: z.string().default('./cron'),
  // Checked here, though only the worker schedules: with the other variables, so that one refused
  // start names every problem.
  CRON_SCHEDULE: z
    .string()
    .default('0 * * * * *')
    .superRefine((v, ctx) => {
      if (!cron.validate(v)) ctx.addIssue({ code: 'custom', message: `"${v}" is not a valid cron expression` });
    }),
  CRON_MAX_BYTES: int(1_048_576, 1_024, 1_073_741_824),
  // The Key URI format forbids ":" in the issuer (API.md); a blank one would show as "%20".
  TOTP_ISSUER: z
    .string()
    .default('TwoFactor')
    .refine((v) => v.trim() !== '' && !v.includes(':'), 'must be a name without ":" (the Key URI format forbids it)'),
  LOCKOUT_THRESHOLD: int(5, 1, 100),
  LOCKOUT_BASE_SECONDS: int(60, 1, 3600),
  LOCKOUT_MAX_SECONDS: int(3600, 1, 86_400),
  OTP_EXPIRATION_MINUTES: int(5, 1, 60),
  BACKUP_CODE_COUNT: int(10, 1, 50),
  CHALLENGE_TTL_SECONDS: int(300, 30, 3600),
  CHALLENGE_MAX_ATTEMPTS: int(5, 1, 20),
  RECOVERY_TTL_HOURS: int(24, 1, 720),
  AUDIT_RETENTION_DAYS: int(0, 0, 36_500),
  RATE_LIMIT_MAX: int(30, 1, 100_000),
  RATE_LIMIT_WINDOW_SECONDS: int(60, 1, 3600),
  RATE_LIMIT_IPV6_PREFIX: int(56, 32, 128),
  TRUST_PROXY: trustProxy,
});
// Checks across variables, reported with the others (the object above is kept for its shape).
const checkedEnvSchema = envSchema.superRefine((e, ctx) => {
  if (e.LOCKOUT_BASE_SECONDS > e.LOCKOUT_MAX_SECONDS) {
    ctx.addIssue({ code: 'custom', path: ['LOCKOUT_BASE_SECONDS'], message: `must not be above LOCKOUT_MAX_SECONDS (${e.LOCKOUT_MAX_SECONDS})` });
  }
});

/** Every variable the service reads, for the docs test: .env.example and the README list them all. */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export type Config = Readonly<{
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  host: string;
  logLevel: string;
  apiKey: string | undefined;
  hmacSecret: string | undefined;
  dataDir: string;
  dataKey: string | undefined;
  dataKeysPrevious: string[];
  keysDir: string;
  privateKeyPath: string;
  publicKeyPath: string;
  enableDocs: boolean;
  bodyLimitBytes: number;
  totpWindow: number;
  signatureWindowSeconds: number;
  requireSignatures: boolean;
  allowTimestampSignatures: boolean;
  publicCodeRoutes: boolean;
  cronDir: string;
  cronSchedule: string;
  cronMaxBytes: number;
  totpIssuer: string;
  lockoutThreshold: number;
  lockoutBaseSeconds: number;
  lockoutMaxSeconds: number;
  otpExpirationMinutes: number;
  backupCodeCount: number;
  challengeTtlSeconds: number;
  challengeMaxAttempts: number;
  recoveryTtlHours: number;
  auditRetentionDays: number;
  rateLimitMax: number;
  rateLimitWindowSeconds: number;
  rateLimitIpv6Prefix: number;
  trustProxy: TrustProxy;
}>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses an environment (process.env by default). Throws ConfigError listing every problem. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = checkedEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`));
  }
  const e = parsed.data;
  const keysDir = e.KEYS_DIR;
  const docs = e.ENABLE_DOCS;
  return Object.freeze({
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    apiKey: e.API_KEY,
    hmacSecret: e.HMAC_SECRET,
    dataDir: e.DATA_DIR,
    dataKey: e.DATA_KEY,
    dataKeysPrevious: (e.DATA_KEYS_PREVIOUS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    keysDir,
    privateKeyPath: e.PRIVATE_KEY_PATH ?? `${keysDir}/private_key.pem`,
    publicKeyPath: e.PUBLIC_KEY_PATH ?? `${keysDir}/public_key.pem`,
    enableDocs: docs === undefined || docs === '' ? e.NODE_ENV !== 'production' : docs === 'true' || docs === '1',
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    totpWindow: e.TOTP_WINDOW,
    signatureWindowSeconds: e.SIGNATURE_WINDOW_SECONDS,
    requireSignatures: e.REQUIRE_SIGNATURES,
    allowTimestampSignatures: e.ALLOW_TIMESTAMP_SIGNATURES,
    publicCodeRoutes: e.PUBLIC_CODE_ROUTES,
    cronDir: e.CRON_DIR,
    cronSchedule: e.CRON_SCHEDULE,
    cronMaxBytes: e.CRON_MAX_BYTES,
    totpIssuer: e.TOTP_ISSUER,
    lockoutThreshold: e.LOCKOUT_THRESHOLD,
    lockoutBaseSeconds: e.LOCKOUT_BASE_SECONDS,
    lockoutMaxSeconds: e.LOCKOUT_MAX_SECONDS,
    otpExpirationMinutes: e.OTP_EXPIRATION_MINUTES,
    backupCodeCount: e.BACKUP_CODE_COUNT,
    challengeTtlSeconds: e.CHALLENGE_TTL_SECONDS,
    challengeMaxAttempts: e.CHALLENGE_MAX_ATTEMPTS,
    recoveryTtlHours: e.RECOVERY_TTL_HOURS,
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    rateLimitMax: e.RATE_LIMIT_MAX,
    rateLimitWindowSeconds: e.RATE_LIMIT_WINDOW_SECONDS,
    rateLimitIpv6Prefix: e.RATE_LIMIT_IPV6_PREFIX,
    trustProxy: e.TRUST_PROXY,
  });
}
