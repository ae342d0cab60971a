import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databasePath } from '../../src/db/open.js';
import { createCodeLog, formatCodeLine } from '../../src/services/code-log.js';
import { createTestApp, oathtool, randomHexSeed, setSeed, TEST_DATA_KEY } from '../helpers/app.js';
import { mustNotLog } from '../helpers/log-capture.js';
import { collect, ROOT, startEntry, waitFor } from '../helpers/spawn.js';

const LINE = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} - 2FA Code: \d{6}$/;
const tmp = () => mkdtempSync(join(tmpdir(), 'tfa-cron-'));

describe('the code log', () => {
  it('formats the line of API.md in UTC', () => {
    expect(formatCodeLine(Date.UTC(2026, 10, 23, 14, 5, 0, 999), '482910')).toBe('2026-11-23 14:05:00 - 2FA Code: 482910\n');
  });

  it('appends the seed’s code for each tick of a fixed clock, equal to oathtool’s', async () => {
    const t = await createTestApp();
    const seed = randomHexSeed();
    await setSeed(t, seed);
    const { createSeedService } = await import('../../src/services/seed-service.js');
    const seeds = createSeedService({ store: t.store, keyRing: t.secrets.keyRing, rsa: null, clock: t.clock, totpWindow: 1 });
    const dir = tmp();
    const log = createCodeLog({ dir, maxBytes: 1 << 20, codeAt: (ms) => seeds.codeAt(ms), warn: () => {} });
    const minutes = [0, 1, 2].map((m) => Date.UTC(2026, 10, 23, 14, 5 + m, 0));
    for (const at of minutes) expect(await log.tick(at)).toBe(true);
    const expected = minutes.map((at, i) => `2026-11-23 14:0${5 + i}:00 - 2FA Code: ${oathtool(seed, at)}`);
    expect(readFileSync(join(dir, 'last_code.txt'), 'utf8')).toBe(`${expected.join('\n')}\n`);
    await t.close();
  });

  it('writes nothing and warns while no seed is set', async () => {
    const dir = tmp();
    const warnings: string[] = [];
    const log = createCodeLog({ dir, maxBytes: 1 << 20, codeAt: async () => null, warn: (m) => warnings.push(m) });
    expect(await log.tick(Date.now())).toBe(false);
    expect(existsSync(join(dir, 'last_code.txt'))).toBe(false);
    expect(warnings).toHaveLength(1);
  });

  it('rotates to last_code.txt.1 past the size bound, keeping whole lines and at most two files', async () => {
    const dir = tmp();
    const lineBytes = formatCodeLine(0, '000000').length; // 39
    const log = createCodeLog({ dir, maxBytes: lineBytes * 10, codeAt: async () => '000000', warn: () => {} });
    for (let i = 0; i < 25; i++) await log.tick(Date.UTC(2026, 0, 1, 0, i, 0));
    const current = readFileSync(join(dir, 'last_code.txt'), 'utf8');
    const previous = readFileSync(join(dir, 'last_code.txt.1'), 'utf8');
    expect(current.length).toBeLessThanOrEqual(lineBytes * 10);
    expect(previous.length).toBe(lineBytes * 10);
    expect(current.split('\n').filter(Boolean)).toHaveLength(5);
    expect(current.endsWith('2026-01-01 00:24:00 - 2FA Code: 000000\n')).toBe(true);
    expect(existsSync(join(dir, 'last_code.txt.2'))).toBe(false);
  });

  it('replaces the file, never appends to it, when a line would cross a 4 KiB page (a reader could see its first part)', async () => {
    const dir = tmp();
    const file = join(dir, 'last_code.txt');
    const log = createCodeLog({ dir, maxBytes: 1 << 20, codeAt: async () => '654321', warn: () => {} });
    const lineBytes = formatCodeLine(0, '000000').length;
    const replaced: number[] = [];
    let ino = -1;
    for (let i = 0; i < 320; i++) {
      await log.tick(Date.UTC(2026, 0, 1, 0, 0, i));
      const now = statSync(file).ino;
      if (ino !== -1 && now !== ino) replaced.push(i);
      ino = now;
    }
    // Line i spans bytes [39 i, 39 i + 38]: those that cross a multiple of 4096.
    const crossing = [...Array(320).keys()].filter((i) => i > 0 && Math.floor((lineBytes * i) / 4096) !== Math.floor((lineBytes * (i + 1) - 1) / 4096));
    expect(crossing).toEqual([105, 210, 315]);
    expect(replaced).toEqual(crossing);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(320);
    expect(lines[319]).toBe('2026-01-01 00:05:19 - 2FA Code: 654321');
    expect(readdirSync(dir)).toEqual(['last_code.txt']); // no lock or copy left behind
  });

  it('waits for another writer’s lock, and takes over one left by a writer that died', async () => {
    const dir = tmp();
    const lock = join(dir, '.last_code.txt.lock');
    const log = createCodeLog({ dir, maxBytes: 1 << 20, codeAt: async () => '111111', warn: () => {} });
    writeFileSync(lock, '');
    let written = false;
    const tick = log.tick(Date.UTC(2026, 0, 1)).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(written).toBe(false);
    unlinkSync(lock);
    await tick;
    expect(readFileSync(join(dir, 'last_code.txt'), 'utf8')).toBe('2026-01-01 00:00:00 - 2FA Code: 111111\n');

    writeFileSync(lock, '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    await log.tick(Date.UTC(2026, 0, 1, 0, 1));
    expect(readFileSync(join(dir, 'last_code.txt'), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    expect(existsSync(lock)).toBe(false);
  });

  it('writes each moment once, also when two workers share the directory', async () => {
    const dir = tmp();
    const logs = [1, 2].map(() => createCodeLog({ dir, maxBytes: 1 << 20, codeAt: async () => '222222', warn: () => {} }));
    const at = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(await Promise.all(logs.map((l) => l.tick(at)))).toEqual([true, false]);
    expect(await logs[1]!.tick(at)).toBe(false); // a tick run again
    expect(await logs[1]!.tick(at + 60_000)).toBe(true);
    expect(await logs[0]!.tick(at + 60_000)).toBe(false);
    expect(readFileSync(join(dir, 'last_code.txt'), 'utf8')).toBe('2026-01-01 00:00:00 - 2FA Code: 222222\n2026-01-01 00:01:00 - 2FA Code: 222222\n');
  });

  it('never shows a reader a torn line while several writers append at once', async () => {
    const dir = tmp();
    const file = join(dir, 'last_code.txt');
    const writers = [0, 1, 2].map((hour) => spawn(process.execPath, ['--import', 'tsx', 'test/worker/torn-writer.ts', dir, '3000', String(hour)], { cwd: ROOT, stdio: 'ignore' }));
    const done = Promise.all(writers.map((w) => new Promise((r) => w.on('exit', r))));
    let finished = false;
    void done.then(() => (finished = true));
    let snapshots = 0;
    while (!finished) {
      if (existsSync(file)) {
        const text = readFileSync(file, 'utf8');
        if (text.length > 0) {
          snapshots++;
          expect(text.endsWith('\n')).toBe(true);
          for (const line of text.slice(0, -1).split('\n')) expect(line).toMatch(LINE);
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(lines).toHaveLength(9000);
    expect(snapshots).toBeGreaterThan(0);
  }, 60_000);

  it('keeps both files readable by name while it rotates: a reader never finds either missing or empty', async () => {
    const dir = tmp();
    const file = join(dir, 'last_code.txt');
    const lineBytes = formatCodeLine(0, '000000').length;
    // A bound of three lines: 3,000 lines rotate ~1,000 times.
    const writer = spawn(process.execPath, ['--import', 'tsx', 'test/worker/torn-writer.ts', dir, '3000', '0', String(lineBytes * 3)], { cwd: ROOT, stdio: 'ignore' });
    let finished = false;
    const exited = new Promise<number | null>((r) => writer.on('exit', (code) => ((finished = true), r(code))));
    // Once a file has been there, it must stay there, whole: a reader polling by name never gets
    // ENOENT, an empty file or part of a line.
    const seen = new Set<string>();
    const bad: string[] = [];
    let reads = 0;
    while (!finished) {
      for (const path of [file, `${file}.1`]) {
        try {
          const text = readFileSync(path, 'utf8');
          seen.add(path);
          reads++;
          // Never empty, never a part of a line.
          if (!text.endsWith('\n') || !text.slice(0, -1).split('\n').every((line) => LINE.test(line))) bad.push(`${path}: ${JSON.stringify(text)}`);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
          if (seen.has(path)) bad.push(`${path}: missing`);
        }
      }
      await new Promise((r) => setImmediate(r));
    }
    expect(await exited).toBe(0);
    expect(reads).toBeGreaterThan(100);
    expect(seen.size).toBe(2);
    expect(bad.slice(0, 5)).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe(`${formatCodeLine(Date.UTC(2026, 10, 23, 14, 5, 57), '123456')}${formatCodeLine(Date.UTC(2026, 10, 23, 14, 5, 58), '123456')}${formatCodeLine(Date.UTC(2026, 10, 23, 14, 5, 59), '123456')}`);
    expect(readdirSync(dir).sort()).toEqual(['last_code.txt', 'last_code.txt.1']); // no lock or copy left behind
  }, 60_000);
});

describe('npm run worker', () => {
  it('with CRON_SCHEDULE every second, appends correct lines from the seed in the database, and stops on SIGTERM', async () => {
    const t = await createTestApp();
    const seed = randomHexSeed();
    const cronDir = tmp();
    const env = { NODE_ENV: 'production', DATA_DIR: t.dataDir, DATA_KEY: TEST_DATA_KEY, CRON_DIR: cronDir, CRON_SCHEDULE: '* * * * * *', LOG_LEVEL: 'info', CRON_MAX_BYTES: '1024' };
    // An earlier run's lines, just under CRON_MAX_BYTES: the worker's first line rotates them away.
    const earlier = '2026-11-23 14:05:00 - 2FA Code: 000000\n'.repeat(26);
    writeFileSync(join(cronDir, 'last_code.txt'), earlier);

    // First without a seed: warnings, no line.
    const child = startEntry('src/worker.ts', env);
    const c = collect(child);
    await waitFor(() => c.out().includes('no seed is set yet'));
    expect(readFileSync(join(cronDir, 'last_code.txt'), 'utf8')).toBe(earlier);
    // Both the start line and the warning name the database it reads (a wrong DATA_DIR shows).
    const logged = c.out().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.find((l) => l.msg === 'code log worker started')).toMatchObject({ database: databasePath(t.dataDir), seed_set: false });
    expect(logged.find((l) => String(l.msg).includes('no seed is set yet'))).toMatchObject({ level: 'warn', database: databasePath(t.dataDir) });

    await setSeed(t, seed);
    const file = join(cronDir, 'last_code.txt');
    await waitFor(() => existsSync(`${file}.1`) && existsSync(file) && readFileSync(file, 'utf8').split('\n').filter(Boolean).length >= 2);
    child.kill('SIGTERM');
    expect(await c.exited).toBe(0);

    expect(readFileSync(`${file}.1`, 'utf8')).toBe(earlier); // CRON_MAX_BYTES reached the worker
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    for (const line of lines) {
      expect(line).toMatch(LINE);
      const [date, time] = line.split(' ');
      const at = Date.parse(`${date}T${time}Z`);
      const code = line.slice(-6);
      mustNotLog(code);
      expect(code).toBe(oathtool(seed, at));
    }
    // the worker's own log lines are JSON and carry no code
    for (const l of c.out().split('\n').filter(Boolean)) expect(() => JSON.parse(l)).not.toThrow();
    for (const line of lines) expect(c.out()).not.toContain(line.slice(-6));
    await t.close();
  }, 60_000);

  it("waits for the API's database rather than create one, then writes from it once it is there", async () => {
    const dataDir = join(tmp(), 'data'); // not there yet either
    const cronDir = tmp();
    const env = { NODE_ENV: 'production', DATA_DIR: dataDir, DATA_KEY: TEST_DATA_KEY, CRON_DIR: cronDir, CRON_SCHEDULE: '* * * * * *', LOG_LEVEL: 'info' };
    const child = startEntry('src/worker.ts', env);
    const c = collect(child);
    await waitFor(() => c.out().includes('no database yet'));
    const warning = c.out().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.msg).startsWith('no database yet'));
    expect(warning).toMatchObject({ level: 'warn', database: databasePath(dataDir) });
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // a tick or two of the wait
    expect(existsSync(dataDir)).toBe(false);

    // The API starts on that directory and a seed is set: the worker opens it and writes.
    const t = await createTestApp({ dataDir });
    const seed = randomHexSeed();
    await setSeed(t, seed);
    const file = join(cronDir, 'last_code.txt');
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes('2FA Code'));
    const line = readFileSync(file, 'utf8').split('\n').filter(Boolean)[0] as string;
    const [date, time] = line.split(' ');
    mustNotLog(line.slice(-6));
    expect(line.slice(-6)).toBe(oathtool(seed, Date.parse(`${date}T${time}Z`)));
    child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    await t.close();
  }, 60_000);

  it('stops cleanly on SIGTERM while it waits for the database', async () => {
    const dataDir = join(tmp(), 'data');
    const child = startEntry('src/worker.ts', { NODE_ENV: 'production', DATA_DIR: dataDir, DATA_KEY: TEST_DATA_KEY, CRON_DIR: tmp(), LOG_LEVEL: 'info' });
    const c = collect(child);
    await waitFor(() => c.out().includes('no database yet'));
    child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(c.out()).toContain('"msg":"worker stopping"');
    expect(existsSync(dataDir)).toBe(false);
  }, 60_000);

  it('refuses an invalid CRON_SCHEDULE with a clear message, named with the other problems of the same start', async () => {
    const { runEntry } = await import('../helpers/spawn.js');
    const run = await runEntry('src/worker.ts', { NODE_ENV: 'development', KEYS_DIR: tmp(), DATA_DIR: tmp(), CRON_SCHEDULE: 'every minute', CRON_MAX_BYTES: '12' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('CRON_SCHEDULE: "every minute" is not a valid cron expression');
    expect(run.stderr).toContain('CRON_MAX_BYTES');
  });
});
