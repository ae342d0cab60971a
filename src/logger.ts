import { pino, type DestinationStream, type Logger } from 'pino';

// Defence in depth: handlers never log bodies or headers, and these fields are censored anyway
// should an object carrying one ever reach a log call, at any depth of plain objects and arrays
// (req.headers["x-api-key"], { user: { code } }, [{ otp }]...). Keys are matched exactly.
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'x-api-key',
  'x-signature',
  'authorization',
  'apiKey',
  'api_key',
  'secret',
  'seed',
  'encrypted_seed',
  'code',
  'codes',
  'otp',
  'otp_code',
  'signature',
  'hmacSecret',
  'dataKey',
]);

export const CENSOR = '[redacted]';
const MAX_DEPTH = 8;

const isPlain = (v: object) => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * The value with every field named in SECRET_KEYS replaced by CENSOR, in plain objects and
 * arrays down to MAX_DEPTH (deeper ones, and an object that contains itself, are replaced whole).
 * Anything else (errors, buffers, class instances) is left to pino's serializers. Copies only
 * what it changes: a log object without a secret field (every request line) is returned as it
 * is, with no allocation.
 *
 * This replaces pino's `redact` paths (issue 5): with wildcard paths, pino ran its redactor on
 * every field of every line (a clone, the path walk and a JSON.stringify per field), several µs
 * per request, and the paths only reached two levels deep.
 */
export function censorSecrets<T>(value: T): T {
  return censor(value, TOP) as T;
}

const TOP: readonly object[] = [];
const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null;

/** `parents`: the objects being censored above this one (a cycle is censored, not followed). */
function censor(value: unknown, parents: readonly object[]): unknown {
  if (!isObject(value)) return value;
  const isArray = Array.isArray(value);
  if (!isArray && !isPlain(value)) return value;
  if (parents.length >= MAX_DEPTH || parents.includes(value)) return CENSOR;
  // The path for what is nested in this value, made only when something nested is reached.
  let path: object[] | undefined;
  if (isArray) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = value[i] as unknown;
      const c = isObject(v) ? censor(v, (path ??= [...parents, value])) : v;
      if (c !== v) (copy ??= value.slice())[i] = c;
    }
    return copy ?? value;
  }
  const obj = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    const v = obj[key];
    let c: unknown;
    if (SECRET_KEYS.has(key)) c = v === undefined ? v : CENSOR;
    else if (isObject(v)) c = censor(v, (path ??= [...parents, value]));
    else continue;
    if (c !== v) (copy ??= { ...obj })[key] = c;
  }
  return copy ?? value;
}

export function createLogger(level: string, stream?: DestinationStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'two-factor' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // The object of each log call, and the root's own bindings.
        log: (obj) => censorSecrets(obj),
        bindings: (bindings) => censorSecrets(bindings),
      },
    },
    stream,
  );
  // A child's bindings (Fastify's per-request child, the worker's component) never pass through
  // formatters.bindings: pino resets it for children. Children inherit this from the root.
  const child = logger.child;
  logger.child = function censoredChild(this: Logger, bindings, options) {
    return child.call(this, censorSecrets(bindings), options);
  } as Logger['child'];
  return logger;
}
