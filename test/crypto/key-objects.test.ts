import * as crypto from 'node:crypto';
import { afterEach, expect, it, vi } from 'vitest';
import { createTestApp, oathtool, randomHexSeed, setSeed, type TestApp } from '../helpers/app.js';
import { codeFor, enrol, verifyTotp } from '../users/helpers.js';

// The routes that run per request hand node:crypto a KeyObject for every HMAC and cipher, never
// a key's Buffer. From Node 24.21 on (the image's Node), node:crypto tells a Buffer key from a
// KeyObject by letting two internal brand checks throw: an HMAC under a Buffer key costs ~15 µs
// against ~3, an AES-GCM open ~19 against ~4, and POST /totp/verify ran at half its rate (issue
// 5). No timing here: the test records the keys the service's own code passes.

const keys = vi.hoisted(() => ({ seen: [] as { fn: string; key: unknown }[] }));

vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const spy =
    <F extends (...a: never[]) => unknown>(fn: string, f: F, keyAt: number) =>
    (...args: Parameters<F>) => {
      keys.seen.push({ fn, key: args[keyAt] });
      return f(...args);
    };
  return {
    ...real,
    createHmac: spy('createHmac', real.createHmac, 1),
    createCipheriv: spy('createCipheriv', real.createCipheriv, 1),
    createDecipheriv: spy('createDecipheriv', real.createDecipheriv, 1),
  };
});

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const bufferKeys = () => keys.seen.filter((s) => !(s.key instanceof crypto.KeyObject)).map((s) => s.fn);
const count = (fn: string) => keys.seen.filter((s) => s.fn === fn).length;

it('gives node:crypto KeyObjects on the per-request paths, never Buffer keys', async () => {
  t = await createTestApp({ env: { LOCKOUT_THRESHOLD: '100', RATE_LIMIT_MAX: '1000' } });
  const seed = randomHexSeed();
  await setSeed(t, seed);
  const e = await enrol(t, 'alice');
  keys.seen.length = 0;

  // Per-user TOTP: activation, a wrong code, then a right one in the next step.
  expect((await verifyTotp(t, 'alice', codeFor(t, e))).statusCode).toBe(200);
  expect((await verifyTotp(t, 'alice', '000000')).statusCode).toBe(401);
  t.clock.advance(30_000);
  expect((await verifyTotp(t, 'alice', codeFor(t, e))).statusCode).toBe(200);

  // The service seed's codes, checked against oathtool so the keys are the right keys.
  const gen = await t.app.inject({ url: '/generate-2fa', headers: t.auth });
  expect(gen.json().code).toBe(oathtool(seed, t.clock.now()));
  const check = await t.app.inject({ method: 'POST', url: '/verify-2fa', headers: t.auth, payload: { code: oathtool(seed, t.clock.now()) } });
  expect(check.json()).toEqual({ valid: true });

  // One-time codes: hashed under a key derived from the data key.
  const issued = await t.app.inject({ method: 'POST', url: '/generate', headers: t.auth, payload: { username: 'alice' } });
  expect(issued.statusCode, issued.body).toBe(201);
  const used = await t.app.inject({ method: 'POST', url: '/verify', headers: t.auth, payload: { username: 'alice', otp_code: issued.json().otp_code } });
  expect(used.statusCode, used.body).toBe(200);

  // The paths above did use HMACs and the data key's cipher, and every key was a KeyObject.
  expect(count('createHmac')).toBeGreaterThanOrEqual(10);
  expect(count('createDecipheriv')).toBeGreaterThanOrEqual(3);
  expect(bufferKeys()).toEqual([]);
});
