import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/app.js';
import { enrol } from './helpers.js';

// TRUST_PROXY: behind a reverse proxy the client's address is the one the named proxies
// forwarded, for the per-address rate limit and the audit log alike; an X-Forwarded-For from
// any other peer, or the part of it a client wrote itself, is not believed.

type Audited = { ip: string; event: string };

async function auditIps(t: TestApp, userId: string): Promise<string[]> {
  const res = await t.app.inject({ url: `/audit?user_id=${userId}&limit=100`, headers: t.auth });
  expect(res.statusCode).toBe(200);
  return (res.json().events as Audited[]).filter((e) => e.event === 'totp.verify').map((e) => e.ip).reverse();
}

describe('TRUST_PROXY names the proxies, over a real socket', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await createTestApp({ env: { TRUST_PROXY: '127.0.0.1, 10.0.0.0/8', RATE_LIMIT_MAX: '2', LOCKOUT_THRESHOLD: '100' } });
    await enrol(t, 'alice');
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => t.close());

  const verify = (forwardedFor: string) =>
    fetch(`${base}/totp/verify`, {
      method: 'POST',
      headers: { ...t.auth, 'content-type': 'application/json', 'x-forwarded-for': forwardedFor },
      body: JSON.stringify({ username: 'alice', otp: '000000' }),
    });

  it('the audit log records the forwarded client, past every trusted hop and never the part before an untrusted one', async () => {
    expect((await verify('203.0.113.7')).status).toBe(401);
    // Through a second, trusted proxy (10.1.2.3): the client is the address before it.
    expect((await verify('198.51.100.9, 10.1.2.3')).status).toBe(401);
    // A client that writes its own X-Forwarded-For: the proxy appends the address it saw, and only that is believed.
    expect((await verify('192.0.2.99, 203.0.113.50')).status).toBe(401);
    expect(await auditIps(t, 'alice')).toEqual(['203.0.113.7', '198.51.100.9', '203.0.113.50']);
  });

  it('the rate limit counts each forwarded client on its own, and a forged prefix does not open a new bucket', async () => {
    // 203.0.113.7 used one of its two above; 203.0.113.50 one.
    expect((await verify('203.0.113.7')).status).toBe(401);
    const limited = await verify('203.0.113.7');
    expect(limited.status).toBe(429);
    expect(await limited.json()).toEqual({ error: expect.any(String), code: 'RATE_LIMITED' });
    expect((await verify('192.0.2.1, 203.0.113.7')).status).toBe(429);
    // Another client behind the same proxy is not limited by it.
    expect((await verify('203.0.113.8')).status).toBe(401);
  });
});

describe('who is not a named proxy is the client', () => {
  let t: TestApp;
  afterEach(() => t.close());
  const verify = (t: TestApp, remoteAddress: string, forwardedFor: string) =>
    t.app.inject({
      method: 'POST',
      url: '/totp/verify',
      headers: { ...t.auth, 'x-forwarded-for': forwardedFor },
      payload: { username: 'alice', otp: '000000' },
      remoteAddress,
    });

  it('a peer outside TRUST_PROXY: its X-Forwarded-For is ignored', async () => {
    t = await createTestApp({ env: { TRUST_PROXY: '10.0.0.0/8', RATE_LIMIT_MAX: '2', LOCKOUT_THRESHOLD: '100' } });
    await enrol(t, 'alice');
    expect((await verify(t, '192.0.2.1', '203.0.113.1')).statusCode).toBe(401);
    expect((await verify(t, '10.9.9.9', '203.0.113.1')).statusCode).toBe(401);
    expect(await auditIps(t, 'alice')).toEqual(['192.0.2.1', '203.0.113.1']);
    // Sending other X-Forwarded-For values directly does not escape the peer's own limit.
    expect((await verify(t, '192.0.2.1', '203.0.113.2')).statusCode).toBe(401);
    expect((await verify(t, '192.0.2.1', '203.0.113.3')).statusCode).toBe(429);
  });

  it('by default no X-Forwarded-For is believed', async () => {
    t = await createTestApp({ env: { RATE_LIMIT_MAX: '2', LOCKOUT_THRESHOLD: '100' } });
    await enrol(t, 'alice');
    expect((await verify(t, '127.0.0.1', '203.0.113.1')).statusCode).toBe(401);
    expect((await verify(t, '127.0.0.1', '203.0.113.2')).statusCode).toBe(401);
    expect((await verify(t, '127.0.0.1', '203.0.113.3')).statusCode).toBe(429);
    expect(await auditIps(t, 'alice')).toEqual(['127.0.0.1', '127.0.0.1']);
  });
});
