import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import ipaddr from 'ipaddr.js';
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

/**
 * The rate limit's bucket for a client address: an IPv4 address itself, an IPv6 one's network of
 * `prefix` bits. Parsed by ipaddr.js, the parser behind request.ip itself (@fastify/proxy-addr).
 */
export function rateLimitKey(ip: string, prefix: number): string {
  if (!ip.includes(':') || !ipaddr.isValid(ip)) return ip;
  // process(): ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket, the same bucket as a.b.c.d.
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefix}`).toString()}/${prefix}`;
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
