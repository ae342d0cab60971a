import { Database } from '../../src/db/driver.js';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { databasePath } from '../../src/db/open.js';
import { createTestApp, oathtool, randomHexSeed, setSeed } from '../helpers/app.js';
import { captured } from '../helpers/log-capture.js';

describe('the seed at rest', () => {
  it('survives a restart of the app on the same data directory', async () => {
    const seed = randomHexSeed();
    const first = await createTestApp();
    await setSeed(first, seed);
    await first.close();
    const second = await createTestApp({ dataDir: first.dataDir });
    const res = await second.app.inject({ url: '/generate-2fa', headers: second.auth });
    expect(res.json().code).toBe(oathtool(seed, second.clock.now()));
    await second.close();
  });

  it('is stored AES-GCM sealed: neither the hex nor the bytes of the seed are in the database file', async () => {
    const seed = randomHexSeed();
    const t = await createTestApp();
    await setSeed(t, seed);
    t.store.db.pragma('wal_checkpoint(TRUNCATE)');
    const file = readFileSync(databasePath(t.dataDir));
    expect(file.includes(Buffer.from(seed, 'hex'))).toBe(false);
    expect(file.toString('latin1').toLowerCase().includes(seed)).toBe(false);
    const row = t.store.db.prepare("SELECT key_id, length(secret_blob) AS n FROM totp_credentials WHERE kind = 'service'").get() as { key_id: string; n: number };
    expect(row.key_id).toBe(t.secrets.keyRing.current.id);
    expect(row.n).toBe(12 + 16 + 32); // IV, tag, 32-byte seed
    await t.close();
  });

  it('does not open under another data key: a clear 500, nothing leaked', async () => {
    const t = await createTestApp();
    await setSeed(t, randomHexSeed());
    await t.close();
    const other = await createTestApp({ dataDir: t.dataDir, env: { DATA_KEY: Buffer.alloc(32, 9).toString('base64') } });
    const res = await other.app.inject({ url: '/generate-2fa', headers: other.auth });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'Internal server error', code: 'INTERNAL_ERROR' });
    expect(res.body).not.toMatch(/at |\.ts|sqlite|data key/i);
    await other.close();
  });

  it('every change of the seed is in the audit log, with no secret', async () => {
    const t = await createTestApp();
    await setSeed(t, randomHexSeed());
    const rows = t.store.db.prepare('SELECT user_id, event, success, ip, at FROM audit_events').all();
    expect(rows).toEqual([{ user_id: null, event: 'seed.set', success: 1, ip: '127.0.0.1', at: t.clock.now() }]);
    await t.close();
  });
});

describe('GET /health', () => {
  it('reports the database and whether a seed is set', async () => {
    const t = await createTestApp();
    const before = await t.app.inject({ url: '/health' });
    expect(before.json()).toEqual({ status: 'ok', timestamp: Math.floor(t.clock.now() / 1000), checks: { database: 'ok', seed: 'not_set' } });
    await setSeed(t, randomHexSeed());
    expect((await t.app.inject({ url: '/health' })).json().checks).toEqual({ database: 'ok', seed: 'set' });
    await t.close();
  });

  it('answers 503 degraded when the database is unreachable', async () => {
    const t = await createTestApp();
    t.store.db.close();
    const res = await t.app.inject({ url: '/health' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'degraded', checks: { database: 'unreachable' } });
    await t.app.close();
  });

  it('an unexpected failure is a masked 500 and is logged with the request id', async () => {
    const t = await createTestApp();
    t.store.db.close();
    const res = await t.app.inject({ url: '/generate-2fa', headers: t.auth });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'Internal server error', code: 'INTERNAL_ERROR' });
    const id = res.headers['x-request-id'] as string;
    expect(captured.lines.some((l) => l.includes(id) && l.includes('"level":"error"'))).toBe(true);
    await t.app.close();
  });
});

describe('logs', () => {
  it('write one JSON line per request with id, method, path, status, latency and client address', async () => {
    const t = await createTestApp();
    const res = await t.app.inject({ url: '/health?probe=1', remoteAddress: '203.0.113.9' });
    const line = captured.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === res.headers['x-request-id']);
    expect(line).toMatchObject({ level: 'info', method: 'GET', path: '/health', status: 200, latency_ms: expect.any(Number), ip: '203.0.113.9' });
    await t.close();
  });

  it('log the client address the trusted proxy reports, not the proxy', async () => {
    const t = await createTestApp({ env: { TRUST_PROXY: '10.0.0.0/8' } });
    const res = await t.app.inject({ url: '/health', remoteAddress: '10.1.2.3', headers: { 'x-forwarded-for': '198.51.100.7' } });
    const line = captured.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.reqId === res.headers['x-request-id']);
    expect(line).toMatchObject({ path: '/health', ip: '198.51.100.7' });
    await t.close();
  });
});

describe('OpenAPI', () => {
  it('documents every route of the flow with its schemas when docs are on', async () => {
    const t = await createTestApp({ env: { ENABLE_DOCS: 'true' } });
    const doc = (await t.app.inject({ url: '/openapi.json' })).json();
    for (const path of ['/health', '/seed/public-key', '/decrypt-seed', '/generate-2fa', '/verify-2fa', '/otp', '/otp/verify', '/otp/secure']) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.paths['/decrypt-seed'].post.requestBody.content['application/json'].schema.required).toEqual(['encrypted_seed']);
    expect(doc.paths['/decrypt-seed'].post.responses).toHaveProperty(['422']);
    expect((await t.app.inject({ url: '/docs' })).statusCode).toBe(200);
    await t.close();
  });

  it('is off when ENABLE_DOCS is false (the production default)', async () => {
    const t = await createTestApp({ env: { ENABLE_DOCS: 'false' } });
    expect((await t.app.inject({ url: '/openapi.json' })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/docs' })).statusCode).toBe(404);
    await t.close();
  });
});

it('the test database is a real SQLite file in WAL mode', async () => {
  const t = await createTestApp();
  const db = new Database(databasePath(t.dataDir), { readonly: true });
  expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
  db.close();
  await t.close();
});

describe('GET /metrics', () => {
  it('needs the API key and counts requests by route and status', async () => {
    const t = await createTestApp();
    expect((await t.app.inject({ url: '/metrics' })).statusCode).toBe(401);
    await t.app.inject({ url: '/health' });
    await t.app.inject({ url: '/health' });
    const text = (await t.app.inject({ url: '/metrics', headers: t.auth })).body;
    expect(text).toContain('http_request_duration_ms_count{method="GET",route="/health",status="200"} 2');
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    // The writer's pauses for the checkpointer (none yet on an idle app), as counters.
    expect(text).toMatch(/^sqlite_writer_pauses_total \d+$/m);
    expect(text).toMatch(/^sqlite_writer_paused_seconds_total \d+\.\d{6}$/m);
    await t.close();
  });

  it('counts the writes and the shared transactions that committed them', async () => {
    const t = await createTestApp();
    const read = async () => {
      const text = (await t.app.inject({ url: '/metrics', headers: t.auth })).body;
      return [Number(/^sqlite_write_transactions_total (\d+)$/m.exec(text)?.[1]), Number(/^sqlite_writes_total (\d+)$/m.exec(text)?.[1])];
    };
    const [commits, writes] = await read();
    // Five enrolments at once: five writes, in as many transactions or fewer.
    const enrolled = await Promise.all(Array.from({ length: 5 }, (_, i) => t.app.inject({ method: 'POST', url: '/totp/register', headers: t.auth, payload: { username: `user${i}` } })));
    expect(enrolled.map((r) => r.statusCode)).toEqual([201, 201, 201, 201, 201]);
    const [commitsAfter, writesAfter] = await read();
    expect((writesAfter as number) - (writes as number)).toBe(5);
    expect(commitsAfter).toBeGreaterThan(commits as number);
    expect((writesAfter as number) - (writes as number)).toBeGreaterThanOrEqual((commitsAfter as number) - (commits as number));
    await t.close();
  });
});
