import { execFileSync } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import supertest from 'supertest';
import { hotp } from '../../src/otp/totp.js';
import { createTestApp, oathtool, randomHexSeed, setSeed, opensslEncrypt, type TestApp } from '../helpers/app.js';
import { mustNotLog } from '../helpers/log-capture.js';

// The RPA flow end to end: openssl encrypts, the service decrypts and stores, oathtool agrees.

let t: TestApp;
let seed: string;
beforeEach(async () => {
  t = await createTestApp();
  seed = randomHexSeed();
});
afterEach(() => t.close());

const verify = (code: string) => t.app.inject({ method: 'POST', url: '/verify-2fa', headers: t.auth, payload: { code } });
const codeAtStep = (delta: number) => {
  const c = oathtool(seed, t.clock.now() + delta * 30_000);
  mustNotLog(c);
  return c;
};

describe('POST /decrypt-seed then the code routes', () => {
  it('answers 404 SEED_NOT_SET before a seed is set', async () => {
    for (const url of ['/generate-2fa', '/otp']) {
      const res = await t.app.inject({ url, headers: t.auth });
      expect(res.statusCode).toBe(404);
      expect(res.json()).toMatchObject({ code: 'SEED_NOT_SET' });
    }
    const res = await verify('123456');
    expect(res.json()).toMatchObject({ code: 'SEED_NOT_SET' });
  });

  it('accepts a seed encrypted with the openssl command of API.md and serves oathtool’s code', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: t.auth, payload: { encrypted_seed: opensslEncrypt(seed, t.publicKeyPath) } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
    t.clock.advance(12_345);
    const gen = await t.app.inject({ url: '/generate-2fa', headers: t.auth });
    expect(gen.json()).toEqual({ code: oathtool(seed, t.clock.now()), valid_for: 30 - 12 });
    const otp = await t.app.inject({ url: '/otp', headers: t.auth });
    expect(otp.json()).toEqual({ otp: oathtool(seed, t.clock.now()), valid_for_seconds: 18, timestamp: Math.floor(t.clock.now() / 1000) });
  });

  it('accepts a base32 secret of at least 128 bits, with a trailing newline as `echo` adds', async () => {
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'; // 160 bits
    const res = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: t.auth, payload: { encrypted_seed: opensslEncrypt(`${secret}\n`, t.publicKeyPath) } });
    expect(res.statusCode).toBe(200);
    const hex = Buffer.from('48656c6c6f21deadbeef48656c6c6f21deadbeef', 'hex').toString('hex');
    const gen = await t.app.inject({ url: '/generate-2fa', headers: t.auth });
    expect(gen.json().code).toBe(oathtool(hex, t.clock.now()));
  });

  it('GET /.well-known/jwks.json, without a key: the same RSA key as a JWK set, usable with RSA-OAEP-256', async () => {
    const res = await t.app.inject({ url: '/.well-known/jwks.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const { keys } = res.json();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'RSA', use: 'enc', alg: 'RSA-OAEP-256', e: 'AQAB', kid: expect.stringMatching(/^[\w-]{43}$/) });
    // openssl reads the PEM of GET /seed/public-key: its modulus is the JWK's n.
    const modulus = execFileSync('openssl', ['rsa', '-pubin', '-in', t.publicKeyPath, '-noout', '-modulus']).toString().trim();
    expect(`Modulus=${Buffer.from(keys[0].n, 'base64url').toString('hex').toUpperCase()}`).toBe(modulus);
    // A client that only has the JWK encrypts a seed the service accepts.
    const key = createPublicKey({ key: keys[0], format: 'jwk' });
    const encrypted = publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(seed)).toString('base64');
    const set = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: t.auth, payload: { encrypted_seed: encrypted } });
    expect(set.statusCode).toBe(200);
    expect((await t.app.inject({ url: '/generate-2fa', headers: t.auth })).json().code).toBe(oathtool(seed, t.clock.now()));
  });

  it('a base32 secret of exactly 128 bits is accepted, one of 120 bits is 422 INVALID_SEED', async () => {
    const b32 = (bytes: Buffer) => {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
      let bits = '';
      for (const b of bytes) bits += b.toString(2).padStart(8, '0');
      return bits.match(/.{1,5}/g)!.map((c) => alphabet[parseInt(c.padEnd(5, '0'), 2)]).join('');
    };
    const k128 = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
    const ok = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: t.auth, payload: { encrypted_seed: opensslEncrypt(b32(k128), t.publicKeyPath) } });
    expect(ok.statusCode).toBe(200);
    expect((await t.app.inject({ url: '/generate-2fa', headers: t.auth })).json().code).toBe(oathtool(k128.toString('hex'), t.clock.now()));
    const short = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: t.auth, payload: { encrypted_seed: opensslEncrypt(b32(k128.subarray(0, 15)), t.publicKeyPath) } });
    expect([short.statusCode, short.json().code]).toEqual([422, 'INVALID_SEED']);
  });

  it('a replacement that fails inside its transaction leaves the old seed (API.md: the old one or the new one)', async () => {
    await setSeed(t, seed);
    // The new row's INSERT fails after the old row's DELETE ran, in the same transaction.
    t.store.db.exec("CREATE TEMP TRIGGER refuse_seed BEFORE INSERT ON totp_credentials WHEN NEW.kind = 'service' BEGIN SELECT RAISE(ABORT, 'refused'); END");
    const res = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: t.auth, payload: { encrypted_seed: opensslEncrypt(randomHexSeed(), t.publicKeyPath) } });
    expect([res.statusCode, res.json().code]).toEqual([500, 'INTERNAL_ERROR']);
    t.store.db.exec('DROP TRIGGER refuse_seed');
    expect((await t.app.inject({ url: '/generate-2fa', headers: t.auth })).json().code).toBe(oathtool(seed, t.clock.now()));
  });

  it('every verification of a seed code is audited with its outcome and address, never the code', async () => {
    await setSeed(t, seed);
    const code = codeAtStep(0);
    const wrong = code === '000000' ? '000001' : '000000';
    for (const c of [wrong, code, code]) await t.app.inject({ method: 'POST', url: '/verify-2fa', headers: t.auth, payload: { code: c }, remoteAddress: '192.0.2.7' });
    const rows = t.store.db.prepare("SELECT user_id, event, success, reason, ip FROM audit_events WHERE event = 'seed.verify' ORDER BY id").all();
    expect(rows).toEqual([
      { user_id: null, event: 'seed.verify', success: 0, reason: 'invalid_code', ip: '192.0.2.7' },
      { user_id: null, event: 'seed.verify', success: 1, reason: null, ip: '192.0.2.7' },
      { user_id: null, event: 'seed.verify', success: 0, reason: 'replay', ip: '192.0.2.7' },
    ]);
    expect(JSON.stringify(t.store.db.prepare('SELECT * FROM audit_events').all())).not.toContain(code);
  });

  it('valid_for counts down to 1 within the step', async () => {
    await setSeed(t, seed);
    t.clock.advance(29_999);
    expect((await t.app.inject({ url: '/generate-2fa', headers: t.auth })).json().valid_for).toBe(1);
  });

  it('a new seed replaces the old one', async () => {
    await setSeed(t, seed);
    const other = randomHexSeed();
    await setSeed(t, other);
    const gen = await t.app.inject({ url: '/generate-2fa', headers: t.auth });
    expect(gen.json().code).toBe(oathtool(other, t.clock.now()));
  });
});

describe('verification', () => {
  beforeEach(() => setSeed(t, seed));

  it('accepts steps -1, 0 and +1 (each once) and refuses -2 and +2', async () => {
    expect((await verify(codeAtStep(-2))).json()).toEqual({ valid: false });
    expect((await verify(codeAtStep(2))).json()).toEqual({ valid: false });
    expect((await verify(codeAtStep(-1))).json()).toEqual({ valid: true });
    expect((await verify(codeAtStep(0))).json()).toEqual({ valid: true });
    expect((await verify(codeAtStep(1))).json()).toEqual({ valid: true });
  });

  it('with TOTP_WINDOW=0 only the current step verifies', async () => {
    await t.close();
    t = await createTestApp({ env: { TOTP_WINDOW: '0' } });
    await setSeed(t, seed);
    expect((await verify(codeAtStep(-1))).json()).toEqual({ valid: false });
    expect((await verify(codeAtStep(1))).json()).toEqual({ valid: false });
    expect((await verify(codeAtStep(0))).json()).toEqual({ valid: true });
  });

  it('refuses an accepted code the second time, on either verify route', async () => {
    const code = codeAtStep(0);
    expect((await verify(code)).json()).toEqual({ valid: true });
    expect((await verify(code)).json()).toEqual({ valid: false });
    const res = await t.app.inject({ method: 'POST', url: '/otp/verify', headers: t.auth, payload: { otp: code } });
    expect(res.json()).toEqual({ valid: false, timestamp: Math.floor(t.clock.now() / 1000) });
  });

  it('setting the same seed again does not make an accepted code valid again; a new seed starts afresh', async () => {
    const code = codeAtStep(0);
    expect((await verify(code)).json()).toEqual({ valid: true });
    await setSeed(t, seed);
    await setSeed(t, seed.toUpperCase()); // the same bytes, written another way
    expect((await verify(code)).json()).toEqual({ valid: false });
    const other = randomHexSeed();
    await setSeed(t, other);
    expect((await verify(oathtool(other, t.clock.now()))).json()).toEqual({ valid: true });
  });

  it('an older step is refused once a newer one was accepted (RFC 6238 §5.2)', async () => {
    expect((await verify(codeAtStep(0))).json()).toEqual({ valid: true });
    expect((await verify(codeAtStep(-1))).json()).toEqual({ valid: false });
  });

  it('/otp/verify answers valid and the server time', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/otp/verify', headers: t.auth, payload: { otp: codeAtStep(0) } });
    expect(res.json()).toEqual({ valid: true, timestamp: Math.floor(t.clock.now() / 1000) });
  });

  it('of 20 racing requests over HTTP carrying one good code, exactly one is accepted', async () => {
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const code = codeAtStep(0);
    const agent = supertest(t.app.server);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => agent.post('/verify-2fa').set(t.auth).send({ code })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers.filter((a) => a.body.valid === true)).toHaveLength(1);
  });

  it('anything but exactly six ASCII digits is simply not valid, never a 500', async () => {
    const good = codeAtStep(0);
    for (const code of ['', '12345', '1234567', 'abcdef', ` ${good.slice(1)}`, `${good}\n`, '１２３４５６', '12 456']) {
      const res = await verify(code);
      expect(res.statusCode, code).toBe(200);
      expect(res.json()).toEqual({ valid: false });
    }
    expect((await verify(good)).json()).toEqual({ valid: true });
  });

  it('a right code for the seed that was replaced no longer verifies', async () => {
    const code = codeAtStep(0);
    await setSeed(t, randomHexSeed());
    expect((await verify(code)).json()).toEqual({ valid: false });
  });

  it('hotp helper agrees with oathtool (sanity of the test oracle)', () => {
    expect(hotp(Buffer.from(seed, 'hex'), Math.floor(t.clock.now() / 30_000))).toBe(codeAtStep(0));
  });
});
