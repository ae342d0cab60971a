import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { codeFor, databaseBytes, enrol, parseUri, verifyTotp, zbarimg } from './helpers.js';

describe('TOTP enrolment', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { TOTP_ISSUER: 'Acme Corp', RATE_LIMIT_MAX: '1000' } });
  });
  afterAll(() => t.close());

  const status = async (userId: string) => (await t.app.inject({ url: `/status/${userId}`, headers: t.auth })).json();

  it('register: the Key URI format of API.md, the QR code is that URI, and oathtool’s code verifies', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/totp/register', headers: t.auth, payload: { username: 'alice@example.com' } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['created_at', 'provisioning_uri', 'qr_code_base64', 'username', 'verified_once']);
    expect(body).toMatchObject({ username: 'alice@example.com', verified_once: false, created_at: new Date(t.clock.now()).toISOString() });
    const uri: string = body.provisioning_uri;
    const secret = parseUri(uri).secret;
    expect(uri).toBe(`otpauth://totp/Acme%20Corp:alice%40example.com?secret=${secret}&issuer=Acme%20Corp&algorithm=SHA1&digits=6&period=30`);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits, unpadded base32
    expect(zbarimg(body.qr_code_base64)).toBe(uri);

    const e = await enrol(t, 'bob', { register: true });
    expect(await status('bob')).toMatchObject({ enabled: false, methods: { totp: 'pending' } });
    const ok = await verifyTotp(t, 'bob', codeFor(t, e));
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ message: 'OTP is valid', username: 'bob', status: 'success', verified_once: true });
    expect(await status('bob')).toMatchObject({ enabled: true, methods: { totp: 'active' } });
  });

  it.each([
    { algorithm: 'SHA256', digits: 8, period: 60 },
    { algorithm: 'SHA512', digits: 8, period: 15 },
    { algorithm: 'SHA1', digits: 6, period: 15 },
    { algorithm: 'SHA512', digits: 6, period: 30 },
  ])('setup with %o: the URI says so, the QR code says so, and oathtool’s code verifies', async (params) => {
    const userId = `setup-${params.algorithm}-${params.digits}-${params.period}`;
    const res = await t.app.inject({ method: 'POST', url: '/totp/setup', headers: t.auth, payload: { user_id: userId, issuer: 'My Bank', ...params } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.status).toBe('pending');
    expect(body.provisioning_uri).toBe(
      `otpauth://totp/My%20Bank:${userId}?secret=${body.secret}&issuer=My%20Bank&algorithm=${params.algorithm}&digits=${params.digits}&period=${params.period}`,
    );
    expect(zbarimg(body.qr_code_base64)).toBe(body.provisioning_uri);
    const e = await enrol(t, `${userId}-b`, params);
    expect(e).toMatchObject(params);
    const code = codeFor(t, e);
    expect(code).toHaveLength(params.digits);
    expect((await verifyTotp(t, e.userId, code)).statusCode).toBe(200);
  });

  it.each([
    [{ algorithm: 'MD5' }, 'body.algorithm'],
    [{ algorithm: 'sha1' }, 'body.algorithm'],
    [{ digits: 7 }, 'body.digits'],
    [{ digits: '6' }, 'body.digits'],
    [{ period: 45 }, 'body.period'],
    [{ issuer: 'Evil:Issuer' }, 'body.issuer'],
    [{ issuer: '' }, 'body.issuer'],
    [{ issuer: 'Acme\ud800' }, 'body.issuer'], // a lone surrogate: no URI can carry it (it was a 500 after the write)
    [{ user_id: 'has space' }, 'body.user_id'],
    [{ user_id: 'a:b' }, 'body.user_id'],
  ])('setup refuses %o with 400 VALIDATION_FAILED naming %s, enrolling nobody', async (bad, field) => {
    const res = await t.app.inject({ method: 'POST', url: '/totp/setup', headers: t.auth, payload: { user_id: 'carol', ...bad } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(new Set(res.json().fields)).toEqual(new Set([field]));
    expect((await t.app.inject({ url: '/status/carol', headers: t.auth })).statusCode).toBe(404);
  });

  it('an issuer outside the BMP (a surrogate pair) is percent-encoded as UTF-8', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/totp/setup', headers: t.auth, payload: { user_id: 'erin', issuer: 'Acme \u{1F510}' } });
    expect(res.statusCode).toBe(201);
    expect(res.json().provisioning_uri).toMatch(/^otpauth:\/\/totp\/Acme%20%F0%9F%94%90:erin\?.*&issuer=Acme%20%F0%9F%94%90&/);
  });

  it('a pending enrolment is replaced; an active one is 409 ALREADY_ENROLLED and keeps its secret', async () => {
    const first = await enrol(t, 'dave');
    const second = await enrol(t, 'dave');
    expect(second.secretBase32).not.toBe(first.secretBase32);
    // The replaced secret no longer works; the new one does.
    expect((await verifyTotp(t, 'dave', codeFor(t, first))).statusCode).toBe(401);
    expect((await verifyTotp(t, 'dave', codeFor(t, second))).statusCode).toBe(200);
    for (const url of ['/totp/setup', '/totp/register']) {
      const res = await t.app.inject({ method: 'POST', url, headers: t.auth, payload: url === '/totp/setup' ? { user_id: 'dave' } : { username: 'dave' } });
      expect(res.statusCode).toBe(409);
      expect(res.json()).toMatchObject({ code: 'ALREADY_ENROLLED' });
    }
    t.clock.advance(30_000);
    expect((await verifyTotp(t, 'dave', codeFor(t, second))).statusCode).toBe(200);
  });

  it('keeps only sealed secrets: the database file holds no secret in base32, hex or raw bytes', async () => {
    const e = await enrol(t, 'erin');
    const bytes = databaseBytes(t);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(Buffer.from(e.secretBase32))).toBe(false);
    expect(bytes.includes(Buffer.from(e.secretHex))).toBe(false);
    expect(bytes.includes(Buffer.from(e.secretHex, 'hex'))).toBe(false);
    // ...and the sealed row names the data key that sealed it.
    const row = t.store.db.prepare("SELECT key_id FROM totp_credentials WHERE user_id = 'erin'").get() as { key_id: string };
    expect(row.key_id).toBe(t.secrets.keyRing.current.id);
  });
});
