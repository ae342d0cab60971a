import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, oathtool, randomHexSeed, setSeed, type TestApp } from '../helpers/app.js';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('sets a seed and hands out oathtool’s code', async () => {
    const seed = randomHexSeed();
    await setSeed(t, seed);
    const res = await t.app.inject({ url: '/generate-2fa', headers: t.auth });
    expect(res.json()).toEqual({ code: oathtool(seed, t.clock.now()), valid_for: 30 });
  });
});
