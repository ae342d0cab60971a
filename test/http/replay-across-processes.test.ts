import { join } from 'node:path';
import { expect, inject, it } from 'vitest';
import { API_KEY, createTestApp, oathtool, randomHexSeed, setSeed, TEST_DATA_KEY } from '../helpers/app.js';
import { collect, freePort, startEntry, waitFor } from '../helpers/spawn.js';

// Replay protection is a database guarantee: a second server process on the same SQLite file
// must not accept a code the first one accepted, even when both are asked at the same moment.
it('of 20 requests with one good code, split over two processes on one database, exactly one is accepted', async () => {
  const t = await createTestApp();
  const seed = randomHexSeed();
  await setSeed(t, seed);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const local = t.app.server.address() as { port: number };

  const port = await freePort();
  const keys = inject('keysDir');
  const child = startEntry('src/server.ts', {
    NODE_ENV: 'production',
    API_KEY,
    DATA_KEY: TEST_DATA_KEY,
    DATA_DIR: t.dataDir,
    PRIVATE_KEY_PATH: join(keys, 'private_key.pem'),
    PUBLIC_KEY_PATH: join(keys, 'public_key.pem'),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
  });
  const c = collect(child);
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
    // The other process runs on the real clock: use the code of the real current step, and the
    // in-test app's fake clock set to the same moment.
    const now = Date.now();
    t.clock.set(now);
    const code = oathtool(seed, now);
    const ask = (p: number) =>
      fetch(`http://127.0.0.1:${p}/verify-2fa`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'content-type': 'application/json' },
        body: JSON.stringify({ code }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { valid: boolean } }));
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => ask(i % 2 ? port : local.port)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    expect(answers.filter((a) => a.body.valid)).toHaveLength(1);
  } finally {
    child.kill('SIGTERM');
    await c.exited;
    await t.close();
  }
}, 60_000);
