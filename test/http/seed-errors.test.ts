import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, oathtool, OAEP, opensslEncrypt, randomHexSeed, setSeed, type TestApp } from '../helpers/app.js';
import { mustNotLog } from '../helpers/log-capture.js';

// Every error path of the RPA flow answers the contract's status and code and leaves the stored
// seed exactly as it was.

let t: TestApp;
const seed = randomHexSeed();
let otherPublicKey: string;

beforeAll(async () => {
  t = await createTestApp();
  await setSeed(t, seed);
  const dir = mkdtempSync(join(tmpdir(), 'tfa-other-key-'));
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(dir, 'k.pem')]);
  execFileSync('openssl', ['pkey', '-in', join(dir, 'k.pem'), '-pubout', '-out', join(dir, 'pub.pem')]);
  otherPublicKey = join(dir, 'pub.pem');
});
afterAll(() => t.close());

const storedRow = () => t.store.db.prepare("SELECT secret_blob, key_id, updated_at FROM totp_credentials WHERE kind = 'service'").get();
let before: unknown;
beforeEach(() => {
  before = storedRow();
});

async function expectUnchanged() {
  expect(storedRow()).toEqual(before);
  const gen = await t.app.inject({ url: '/generate-2fa', headers: t.auth });
  expect(gen.json().code).toBe(oathtool(seed, t.clock.now()));
}

const post = (payload: unknown, headers: Record<string, string> = t.auth) =>
  t.app.inject({ method: 'POST', url: '/decrypt-seed', headers, payload: payload as object });

describe('POST /decrypt-seed refuses, changing nothing', () => {
  it.each([
    ['not base64 at all', 'not base64!!'],
    ['base64 with a bad character', 'QUJD$EFG'],
    ['base64 with wrong padding', 'QUJDRA='],
  ])('%s: 400 INVALID_BASE64', async (_name, value) => {
    const res = await post({ encrypted_seed: value });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'INVALID_BASE64' });
    await expectUnchanged();
  });

  it('a ciphertext for another key: 400 DECRYPTION_FAILED with no detail', async () => {
    const res = await post({ encrypted_seed: opensslEncrypt(randomHexSeed(), otherPublicKey) });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'encrypted_seed could not be decrypted with the service key', code: 'DECRYPTION_FAILED' });
    await expectUnchanged();
  });

  it('PKCS#1 v1.5 ciphertext under the right key: 400 DECRYPTION_FAILED', async () => {
    const ct = opensslEncrypt(randomHexSeed(), t.publicKeyPath, ['-pkeyopt', 'rsa_padding_mode:pkcs1']);
    const res = await post({ encrypted_seed: ct });
    expect(res.json()).toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expectUnchanged();
  });

  it('OAEP with SHA-1 instead of SHA-256: 400 DECRYPTION_FAILED', async () => {
    const ct = opensslEncrypt(randomHexSeed(), t.publicKeyPath, ['-pkeyopt', 'rsa_padding_mode:oaep']);
    expect((await post({ encrypted_seed: ct })).json()).toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expectUnchanged();
  });

  it('valid base64 of random bytes: 400 DECRYPTION_FAILED', async () => {
    expect((await post({ encrypted_seed: Buffer.alloc(512, 1).toString('base64') })).json()).toMatchObject({ code: 'DECRYPTION_FAILED' });
    await expectUnchanged();
  });

  it.each([
    ['a non-hex 64-character seed', '0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqr'],
    ['a 40-character hex seed (not base32 either)', 'ab'.repeat(20)],
    ['a too short hex seed', 'ab'.repeat(31)],
    ['a too short base32 secret (80 bits)', 'JBSWY3DPEHPK3PXP'],
    ['an empty plaintext', ''],
  ])('%s: 422 INVALID_SEED', async (_name, plaintext) => {
    mustNotLog(plaintext);
    const res = await post({ encrypted_seed: opensslEncrypt(plaintext, t.publicKeyPath, [...OAEP]) });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'INVALID_SEED' });
    await expectUnchanged();
  });

  it.each([
    ['no X-API-Key', {}],
    ['a wrong X-API-Key', { 'x-api-key': 'wrong-key-wrong-key-wrong-key-wrong' }],
    ['an X-API-Key one character short', { 'x-api-key': 'test-api-key-0123456789-abcdefghijklmno' }],
  ])('%s: 401 UNAUTHORIZED', async (_name, headers) => {
    const res = await post({ encrypted_seed: opensslEncrypt(randomHexSeed(), t.publicKeyPath) }, headers as Record<string, string>);
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'UNAUTHORIZED' });
    await expectUnchanged();
  });

  it('a missing field: 400 VALIDATION_FAILED naming it', async () => {
    const res = await post({ seed: 'x' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED', fields: ['body.encrypted_seed'] });
    expect(res.json().error).toContain('encrypted_seed');
    await expectUnchanged();
  });

  it('a field of the wrong type: 400 VALIDATION_FAILED', async () => {
    expect((await post({ encrypted_seed: 42 })).json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    await expectUnchanged();
  });

  it('malformed JSON: 400 INVALID_JSON', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: { ...t.auth, 'content-type': 'application/json' }, payload: '{"encrypted_seed": ' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'INVALID_JSON' });
    await expectUnchanged();
  });

  it('a body over the limit: 413 in the error format', async () => {
    const res = await post({ encrypted_seed: 'A'.repeat(20_000) });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'PAYLOAD_TOO_LARGE' });
    await expectUnchanged();
  });

  it('a body that is not JSON: 415 in the error format', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: { ...t.auth, 'content-type': 'text/plain' }, payload: 'hello' });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    await expectUnchanged();
  });

  it('JSON with a charset parameter is JSON (what .NET and Java clients send); another charset is 415', async () => {
    const code = oathtool(seed, t.clock.now());
    for (const type of ['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON; Charset="utf-8"']) {
      const res = await t.app.inject({ method: 'POST', url: '/verify-2fa', headers: { ...t.auth, 'content-type': type }, payload: JSON.stringify({ code: '000000' === code ? '000001' : '000000' }) });
      expect(res.statusCode, type).toBe(200);
      expect(res.json(), type).toEqual({ valid: false });
    }
    const utf16 = await t.app.inject({ method: 'POST', url: '/decrypt-seed', headers: { ...t.auth, 'content-type': 'application/json; charset=utf-16' }, payload: '{"encrypted_seed":"AAAA"}' });
    expect(utf16.statusCode).toBe(415);
    expect(utf16.json()).toEqual({ error: expect.any(String), code: 'UNSUPPORTED_MEDIA_TYPE' });
    await expectUnchanged();
  });
});

describe('the other routes of the flow', () => {
  it('code routes need the API key', async () => {
    for (const [method, url] of [['GET', '/generate-2fa'], ['GET', '/otp'], ['GET', '/otp/secure'], ['POST', '/verify-2fa'], ['POST', '/otp/verify']] as const) {
      const res = await t.app.inject({ method, url, payload: method === 'POST' ? { code: '123456', otp: '123456' } : undefined });
      expect(res.statusCode, url).toBe(401);
      expect(res.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    }
  });

  it('health and the public key need none', async () => {
    expect((await t.app.inject({ url: '/health' })).statusCode).toBe(200);
    const pk = await t.app.inject({ url: '/seed/public-key' });
    expect(pk.statusCode).toBe(200);
    expect(pk.headers['content-type']).toContain('application/x-pem-file');
    expect(pk.body).toContain('-----BEGIN PUBLIC KEY-----');
  });

  it('an unknown route: 404 NOT_FOUND, also without a key', async () => {
    const res = await t.app.inject({ url: '/no/such/route' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: expect.any(String), code: 'NOT_FOUND' });
  });

  it('a missing code is 400 VALIDATION_FAILED; a code that is not a string is simply not valid (API.md); nothing claimed', async () => {
    const missing = await t.app.inject({ method: 'POST', url: '/verify-2fa', headers: t.auth, payload: {} });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ code: 'VALIDATION_FAILED', fields: ['body.code'] });
    const asNumber = Number(oathtool(seed, t.clock.now()));
    for (const code of [asNumber, null, [String(asNumber)], { $ne: '' }, true, 'x'.repeat(500)]) {
      const res = await t.app.inject({ method: 'POST', url: '/verify-2fa', headers: t.auth, payload: { code } });
      expect([res.statusCode, res.json()], JSON.stringify(code)).toEqual([200, { valid: false }]);
    }
    const ok = await t.app.inject({ method: 'POST', url: '/verify-2fa', headers: t.auth, payload: { code: oathtool(seed, t.clock.now()) } });
    expect(ok.json()).toEqual({ valid: true });
  });

  it('every response carries x-request-id, and a plain caller id is echoed', async () => {
    expect((await t.app.inject({ url: '/health' })).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((await t.app.inject({ url: '/nope' })).headers['x-request-id']).toBeTruthy();
    const mine = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'bot-42.run-7' } });
    expect(mine.headers['x-request-id']).toBe('bot-42.run-7');
    const evil = await t.app.inject({ url: '/health', headers: { 'x-request-id': 'a\nb{"x":1}' } });
    expect(evil.headers['x-request-id']).not.toContain('\n');
  });
});
