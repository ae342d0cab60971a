import type { FastifyInstance } from 'fastify';
import { safeEqual, sha256Hex } from '../../crypto/hmac.js';
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

/** X-API-Key on every route that is not public, then the request signature where one is due. */
export function registerAuth(app: FastifyInstance, opts: AuthOptions): void {
  const isOpen = (access: string | undefined) => access === 'public' || (access === 'code-route' && opts.publicCodeRoutes);
  const isPublicPrefix = (url: string) => opts.publicPrefixes.some((p) => url === p || url.startsWith(`${p}/`));

  app.addHook('onRequest', async (request) => {
    if (!request.routeOptions.url) return; // unknown route: the 404 handler answers
    if (isOpen(request.routeOptions.config.access) || isPublicPrefix(request.routeOptions.url)) return;
    const given = request.headers['x-api-key'];
    if (typeof given !== 'string' || !safeEqual(given, opts.apiKey)) throw unauthorized();
  });

  // preValidation: after the body is read (the signature covers it), before the schema runs, so
  // an unsigned request is refused as such rather than for its body.
  app.addHook('preValidation', async (request) => {
    const cfg = request.routeOptions.config;
    if (!request.routeOptions.url || cfg.access === 'public' || isPublicPrefix(request.routeOptions.url)) return;
    if (!cfg.signed && !(opts.requireSignatures && !isOpen(cfg.access))) return;
    const header = (name: string) => {
      const v = request.headers[name];
      return typeof v === 'string' ? v : undefined;
    };
    await opts.signatures.verify({
      timestamp: header('x-timestamp'),
      signature: header('x-signature'),
      method: request.method,
      pathWithQuery: request.url,
      bodySha256Hex: request.rawBody ? sha256Hex(request.rawBody) : EMPTY_BODY_SHA256,
    });
  });
}
