import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, oathtool, randomHexSeed, setSeed, TEST_DATA_KEY, type TestApp } from '../helpers/app.js';
import { runEntry } from '../helpers/spawn.js';

// The seed service computes the window's codes once per time step (issue 5). A seed replaced
// by another process on the same database must take effect at once, within the same step: the
// cache is keyed by the sealed seed read on every request, never trusted on its own.

describe('codes computed once per step', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    a = await createTestApp();
    b = await createTestApp({ dataDir: a.dataDir, clock: a.clock });
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });

  const generate = async (t: TestApp) => (await t.app.inject({ url: '/generate-2fa', headers: t.auth })).json().code;
  const verify = async (t: TestApp, code: string) =>
    (await t.app.inject({ method: 'POST', url: '/verify-2fa', headers: t.auth, payload: { code } })).json().valid;

  it('serves a seed set by another app on the same database in the same step', async () => {
    const first = randomHexSeed();
    await setSeed(a, first);
    expect(await generate(a)).toBe(oathtool(first, a.clock.now()));

    const second = randomHexSeed();
    await setSeed(b, second); // the other "process": a's cached codes are now stale
    expect(await generate(a)).toBe(oathtool(second, a.clock.now()));
    const oldCode = oathtool(first, a.clock.now());
    if (oldCode !== oathtool(second, a.clock.now())) expect(await verify(a, oldCode)).toBe(false);
    expect(await verify(a, oathtool(second, a.clock.now()))).toBe(true);
  });

  it('serves a seed set by another process at once (the cached row is re-checked after any commit)', async () => {
    const first = randomHexSeed();
    await setSeed(a, first);
    expect(await generate(a)).toBe(oathtool(first, a.clock.now()));
    expect(await generate(a)).toBe(oathtool(first, a.clock.now())); // answered from the cached row

    const second = randomHexSeed();
    const run = await runEntry('test/http/set-seed-process.ts', { DATA_DIR: a.dataDir, DATA_KEY: TEST_DATA_KEY, SEED_HEX: second });
    expect(run.code, run.stderr).toBe(0);
    // The other process has exited: its commit is done, and the very next request must see it.
    expect(await generate(a)).toBe(oathtool(second, a.clock.now()));
    expect(await verify(a, oathtool(second, a.clock.now()))).toBe(true);
  });

  it('moves to the next step with the clock, and still accepts the previous step within the window', async () => {
    const seed = randomHexSeed();
    await setSeed(a, seed);
    const before = a.clock.now();
    expect(await generate(a)).toBe(oathtool(seed, before));
    a.clock.advance(30_000);
    expect(await generate(a)).toBe(oathtool(seed, a.clock.now()));
    expect(await verify(a, oathtool(seed, before))).toBe(true);
    expect(await verify(a, oathtool(seed, a.clock.now()))).toBe(true);
  });
});
