import { pino, type DestinationStream, type Logger } from 'pino';

// Defence in depth: handlers never log bodies or headers, and these paths are censored anyway
// should an object carrying one ever reach a log call.
export const REDACT_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers["x-signature"]',
  'req.headers.authorization',
  'headers["x-api-key"]',
  'headers["x-signature"]',
  'apiKey',
  'api_key',
  '*.apiKey',
  '*.api_key',
  'secret',
  '*.secret',
  'seed',
  '*.seed',
  'encrypted_seed',
  '*.encrypted_seed',
  'code',
  '*.code',
  'codes',
  '*.codes',
  'otp',
  '*.otp',
  'otp_code',
  '*.otp_code',
  'signature',
  '*.signature',
  'hmacSecret',
  'dataKey',
];

export function createLogger(level: string, stream?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'two-factor' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}
