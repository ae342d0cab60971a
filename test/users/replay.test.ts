import { spawn, type ChildProcess } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { API_KEY, createTestApp, TEST_DATA_KEY, type TestApp } from '../helpers/app.js';
import { codeFor, enrol, verifyTotp } from './helpers.js';

// One code, one success (API.md): per user, an accepted time step is never accepted again, also
// when requests race, also across processes on one database file. The lockout threshold is
// raised here so that the answers are about replay only (the lockout has its own tests).
const ENV = { LOCKOUT_THRESHOLD: '100', RATE_LIMIT_MAX: '1000' };

async function activeUser(t: TestApp, userId: string) {
  const e = await enrol(t, userId);
  expect((await verifyTotp(t, userId, codeFor(t, e))).statusCode).toBe(200);
  t.clock.advance(e.period * 1000); // a fresh step, not yet accepted
  return e;
}

function startSecondProcess(t: TestApp): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  // node itself with tsx's loader (not npx, whose grandchild would outlive a SIGTERM to npx).
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/users/second-process.ts'], {
    env: {
      ...process.env,
      ...ENV,
      FIXED_TIME_MS: String(t.clock.now()),
      DATA_DIR: t.dataDir,
      KEYS_DIR: t.keysDir,
      API_KEY,
      DATA_KEY: TEST_DATA_KEY,
      LOG_LEVEL: 'info',
    },
    // stdin stays open while this test process lives; the child exits when it closes.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`second process exited (${code}): ${err.slice(0, 2000)}`)));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /LISTENING (\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1]), stderr: () => err });
    });
  });
}

describe('replay protection', () => {
  let t: TestApp | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const done = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
    child = undefined;
    await t?.close();
  });

  it('a code is accepted once; the same step is refused afterwards, and so is an older one', async () => {
    t = await createTestApp({ env: ENV });
    const e = await activeUser(t, 'alice');
    const code = codeFor(t, e);
    expect((await verifyTotp(t, 'alice', code)).statusCode).toBe(200);
    const again = await verifyTotp(t, 'alice', code);
    expect(again.statusCode).toBe(401);
    expect(again.json()).toMatchObject({ code: 'INVALID_OTP' });
    // The previous step's code is within the window but older than the accepted one.
    expect((await verifyTotp(t, 'alice', codeFor(t, e, -1))).statusCode).toBe(401);
    const [last] = await t.store.audit.list({ userId: 'alice', event: 'totp.verify', limit: 1 });
    expect(last).toMatchObject({ success: false, reason: 'replay' });
  });

  it('50 concurrent requests with one good code: exactly one success', async () => {
    t = await createTestApp({ env: ENV });
    const app = t;
    const e = await activeUser(app, 'bob');
    const code = codeFor(app, e);
    const answers = await Promise.all(Array.from({ length: 50 }, () => verifyTotp(app, 'bob', code)));
    expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(1);
    expect(answers.filter((r) => r.statusCode === 401)).toHaveLength(49);
  });

  it('50 concurrent requests, half to a second process on the same database file: exactly one success', async () => {
    t = await createTestApp({ env: ENV });
    const e = await activeUser(t, 'carol');
    const code = codeFor(t, e);
    await t.app.listen({ host: '127.0.0.1', port: 0 });
    const here = (t.app.server.address() as AddressInfo).port;
    const second = await startSecondProcess(t);
    child = second.child;
    const send = (port: number) =>
      fetch(`http://127.0.0.1:${port}/totp/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
        body: JSON.stringify({ username: 'carol', otp: code }),
      }).then(async (r) => ({ port, status: r.status, body: (await r.json()) as { code?: string } }));
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => send(i % 2 === 0 ? here : second.port)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused.map((a) => `${a.status} ${a.body.code}`)).toEqual(Array(49).fill('401 INVALID_OTP'));
    // Both processes really answered their half, and the refusals of each were replays.
    expect(answers.filter((a) => a.port === second.port)).toHaveLength(25);
    const rows = await t.store.audit.list({ userId: 'carol', event: 'totp.verify', limit: 100 });
    const latest = rows.slice(0, 50);
    expect(latest.filter((r) => r.success)).toHaveLength(1);
    expect(latest.filter((r) => !r.success && r.reason === 'replay')).toHaveLength(49);
    expect(second.stderr()).not.toContain(code);
  });
});
