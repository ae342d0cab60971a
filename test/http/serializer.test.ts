import { isResponseSerializationError, serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { errorSchema } from '../../src/http/schemas.js';
import { compileResponseCopy, serializerCompiler } from '../../src/http/serializer.js';

// The compiled response serializer answers exactly what zod's serializer answers: the schema's
// fields only, and the same error (a 500) for a value the schema refuses.

const route = (schema: z.ZodType) => ({ schema, method: 'GET', url: '/x', httpStatus: '200' }) as Parameters<typeof serializerCompiler>[0];
const both = (schema: z.ZodType) => [serializerCompiler(route(schema)), zodSerializerCompiler(route(schema))] as const;

const status = z.object({
  user_id: z.string(),
  enabled: z.boolean(),
  methods: z.object({ totp: z.enum(['none', 'pending', 'active']) }),
  backup_codes_remaining: z.number().int(),
  locked_until: z.string().nullable(),
  verified_once: z.literal(true),
  message: z.literal('OTP is valid').describe('fixed'),
  codes: z.array(z.object({ id: z.number().int(), used: z.boolean(), used_at: z.string().nullable() })),
  note: z.string().optional(),
});
const good = {
  user_id: 'alice',
  enabled: true,
  methods: { totp: 'active' },
  backup_codes_remaining: 3,
  locked_until: null,
  verified_once: true,
  message: 'OTP is valid',
  codes: [{ id: 1, used: false, used_at: null }],
};

describe('response serializer', () => {
  it('compiles the plain schemas the routes use', () => {
    expect(compileResponseCopy(status)).not.toBeNull();
    expect(compileResponseCopy(errorSchema)).not.toBeNull();
  });

  it('answers what zod answers, without the fields the schema does not name', () => {
    const [fast, zod] = both(status);
    const withExtra = { ...good, secret: 'JBSWY3DPEHPK3PXP', methods: { totp: 'active', seed: 'x' }, codes: [{ ...good.codes[0], hash: 'h' }] };
    expect(fast(withExtra)).toBe(zod(withExtra));
    expect(fast(withExtra)).not.toMatch(/secret|seed|hash/);
    expect(fast({ ...good, note: 'n' })).toBe(zod({ ...good, note: 'n' }));
    const [fe, ze] = both(errorSchema);
    for (const e of [{ error: 'm', code: 'C' }, { error: 'm', code: 'C', fields: ['body.a'] }, { error: 'm', code: 'C', stack: 'at x' }]) expect(fe(e)).toBe(ze(e));
  });

  it('refuses what zod refuses, with zod error', () => {
    const [fast] = both(status);
    const bad = [
      { ...good, verified_once: false },
      { ...good, message: 'other' },
      { ...good, backup_codes_remaining: 1.5 },
      { ...good, enabled: 'yes' },
      { ...good, methods: { totp: 'maybe' } },
      { ...good, locked_until: undefined },
      { ...good, codes: [{ id: 1, used: false }] },
      { ...good, note: 5 },
      null,
    ];
    for (const b of bad) {
      let err: unknown = null;
      try {
        fast(b);
      } catch (e) {
        err = e;
      }
      expect(isResponseSerializationError(err), JSON.stringify(b)).toBe(true);
    }
  });

  it('leaves schemas with checks it does not make to zod', () => {
    expect(compileResponseCopy(z.object({ a: z.string().min(3) }))).toBeNull();
    expect(compileResponseCopy(z.object({ a: z.string() }).refine(() => true))).toBeNull();
    expect(compileResponseCopy(z.object({ a: z.union([z.string(), z.number()]) }))).toBeNull();
    expect(compileResponseCopy(z.looseObject({ a: z.string() }))).toBeNull();
    expect(compileResponseCopy(z.string())).toBeNull();
  });
});
