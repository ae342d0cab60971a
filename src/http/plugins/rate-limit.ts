import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { addRouteHook } from './auth.js';
import type { Clock } from '../../clock.js';
import { AppError } from '../../errors.js';

// Per client address, the routes that check a user's code are rate limited (API.md "Users"),
// on top of the per-user lockout: the lockout stops guessing one user's codes, this stops one
// address from spraying guesses over many users. A fixed window per address, kept in this
// process's memory: each process of a deployment limits on its own, which bounds the total at
// RATE_LIMIT_MAX times the number of processes. request.ip is the peer address, or the client
// address that the proxies TRUST_PROXY names have forwarded: a client cannot pick its own bucket
// by sending X-Forwarded-For itself. An IPv6 client is counted by its network, the first
// RATE_LIMIT_IPV6_PREFIX bits (56 by default, as express-rate-limit does since its version 8):
// one subscriber is usually given a /64 or a /56, so counting each address alone would give
// such a client 2^64 buckets. An IPv4 address written as IPv6 (::ffff:192.0.2.1) is the IPv4
// address.

/** The verification routes of API.md "Users" (POST). Part B's routes are listed here too. */
export const RATE_LIMITED_ROUTES: ReadonlySet<string> = new Set([
  '/totp/verify',
  '/verify',
  '/enable',
  '/disable',
  '/backup-codes/verify',
  '/challenge/verify',
]);

export type RateLimitOptions = { max: number; windowSeconds: number; ipv6Prefix: number; clock: Clock; routes?: ReadonlySet<string> };

/** The 16 bytes of an IPv6 address as Node or proxy-addr write it (zone, embedded IPv4 and :: allowed), or null. */
function ipv6Bytes(address: string): Uint8Array | null {
  let text = address.split('%')[0] as string;
  const tail: number[] = [];
  const dot = text.lastIndexOf('.');
  if (dot >= 0) {
    const colon = text.lastIndexOf(':');
    const v4 = text.slice(colon + 1).split('.').map(Number);
    if (v4.length !== 4 || v4.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return null;
    tail.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    // What precedes the IPv4 part, keeping a '::' that ends right before it.
    text = text.endsWith('::', colon + 1) ? text.slice(0, colon + 1) : text.slice(0, colon);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0] as string);
  const rest = halves.length === 2 ? parse(halves[1] as string) : [];
  const given = head.length + rest.length + tail.length;
  if (given > 8 || (halves.length === 1 && given !== 8) || [...head, ...rest].some(Number.isNaN)) return null;
  const groups = [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** The rate limit's bucket for a client address: an IPv4 address itself, an IPv6 one's first `prefix` bits. */
export function rateLimitKey(ip: string, prefix: number): string {
  if (!ip.includes(':')) return ip;
  const bytes = ipv6Bytes(ip);
  if (!bytes) return ip;
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket: the same bucket as a.b.c.d.
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.subarray(12).join('.');
  const whole = prefix >> 3;
  const masked = Array.from(bytes.subarray(0, Math.ceil(prefix / 8)));
  if (prefix % 8 !== 0) masked[whole] = (masked[whole] as number) & (0xff << (8 - (prefix % 8)));
  return `${Buffer.from(masked).toString('hex')}/${prefix}`;
}

export function registerRateLimit(app: FastifyInstance, opts: RateLimitOptions): void {
  const routes = opts.routes ?? RATE_LIMITED_ROUTES;
  const windowMs = opts.windowSeconds * 1000;
  let window = { start: -1, counts: new Map<string, number>() };

  // Decided once per route at registration (onRoute): only the listed POST routes get the hook.
  const limit = (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const now = opts.clock.now();
    const start = Math.floor(now / windowMs) * windowMs;
    // A new window forgets every address at once, so memory is bounded by one window's clients.
    if (start !== window.start) window = { start, counts: new Map() };
    const key = rateLimitKey(request.ip, opts.ipv6Prefix);
    const count = (window.counts.get(key) ?? 0) + 1;
    window.counts.set(key, count);
    if (count > opts.max) {
      const retryAfter = Math.max(1, Math.ceil((start + windowMs - now) / 1000));
      done(
        new AppError(429, 'RATE_LIMITED', `Too many verification requests from this address; retry in ${retryAfter} seconds`, {
          'retry-after': String(retryAfter),
        }),
      );
      return;
    }
    done();
  };

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (methods.includes('POST') && routes.has(route.url ?? route.path)) addRouteHook(route, 'onRequest', limit, 'last');
  });
}
