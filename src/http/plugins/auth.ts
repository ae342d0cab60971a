import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, RouteOptions } from 'fastify';
import { constantTimeEqual, sha256Hex } from '../../crypto/hmac.js';
import { unauthorized } from '../../errors.js';
import type { SignatureService } from '../../services/signature-service.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * public: no key (health, public key, docs). code-route: the RPA code routes, public only
     * when PUBLIC_CODE_ROUTES=true. Anything else needs X-API-Key.
     */
    access?: 'public' | 'code-route';
    /** Always needs a request signature, whatever REQUIRE_SIGNATURES says. */
    signed?: boolean;
  }
}

export type AuthOptions = {
  apiKey: string;
  publicCodeRoutes: boolean;
  requireSignatures: boolean;
  signatures: SignatureService;
  /** Routes registered by plugins we do not configure (the docs UI) that are public. */
  publicPrefixes: string[];
};

const EMPTY_BODY_SHA256 = sha256Hex('');

type Hook = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;

/**
 * Adds a route-level hook first or last, without mutating an array the caller (or a HEAD clone)
 * shares. Fastify types route-level hooks as a union per hook name; these are plain functions.
 */
export function addRouteHook(route: RouteOptions, name: 'onRequest' | 'preValidation', hook: Hook, where: 'first' | 'last'): void {
  const existing = route[name];
  const hooks = existing === undefined ? [] : Array.isArray(existing) ? existing : [existing];
  (route as unknown as Record<string, unknown>)[name] = where === 'first' ? [hook, ...hooks] : [...hooks, hook];
}

/**
 * X-API-Key on every route that is not public, then the request signature where one is due.
 *
 * Which routes need what is decided once per route, when it is registered (onRoute), and only
 * those routes get the hooks: a request never re-derives it (issue 5: request.routeOptions builds
 * a fresh object on every access, and four app-wide async hooks ran on every request). The
 * hooks are plain callbacks rather than async functions: no promise per hook per request.
 * Unknown routes get no hook at all: the 404 handler answers them, as before.
 */
export function registerAuth(app: FastifyInstance, opts: AuthOptions): void {
  const isOpen = (access: string | undefined) => access === 'public' || (access === 'code-route' && opts.publicCodeRoutes);
  const isPublicPrefix = (url: string) => opts.publicPrefixes.some((p) => url === p || url.startsWith(`${p}/`));
  // Compared in constant time: neither the content nor the length of the key shows in the timing.
  const apiKey = Buffer.from(opts.apiKey, 'utf8');

  const checkKey: Hook = (request, _reply, done) => {
    const given = request.headers['x-api-key'];
    if (typeof given !== 'string' || !constantTimeEqual(given, apiKey)) done(unauthorized());
    else done();
  };

  // preValidation: after the body is read (the signature covers it), before the schema runs, so
  // an unsigned request is refused as such rather than for its body.
  const header = (request: FastifyRequest, name: string) => {
    const v = request.headers[name];
    return typeof v === 'string' ? v : undefined;
  };
  const checkSignature: Hook = (request, _reply, done) => {
    opts.signatures
      .verify({
        timestamp: header(request, 'x-timestamp'),
        signature: header(request, 'x-signature'),
        method: request.method,
        pathWithQuery: request.url,
        bodySha256Hex: request.rawBody ? sha256Hex(request.rawBody) : EMPTY_BODY_SHA256,
      })
      .then(() => done(), done);
  };

  app.addHook('onRoute', (route) => {
    const cfg = route.config ?? {};
    const url = route.url ?? route.path;
    if (cfg.access === 'public' || isPublicPrefix(url)) return;
    if (!isOpen(cfg.access)) addRouteHook(route, 'onRequest', checkKey, 'first');
    if (cfg.signed || (opts.requireSignatures && !isOpen(cfg.access))) addRouteHook(route, 'preValidation', checkSignature, 'first');
  });
}
