import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { ENV_VARIABLES, loadConfig, ConfigError } from '../../src/config.js';
import { Database } from '../../src/db/driver.js';
import { databasePath, openDatabase } from '../../src/db/open.js';
import { collect, freePort, ROOT, runEntry, startEntry, waitFor } from '../helpers/spawn.js';
import { mustNotLog } from '../helpers/log-capture.js';

const openDatabaseReadOnly = (file: string) => new Database(file, { readonly: true });
const GOOD_KEY = 'production-api-key-0123456789-abcdefghij';
const DATA_KEY = Buffer.alloc(32, 3).toString('base64');
mustNotLog(GOOD_KEY, DATA_KEY);

const tmp = (p: string) => mkdtempSync(join(tmpdir(), p));

function prodEnv(over: Record<string, string | undefined>): Record<string, string> {
  const keys = inject('keysDir');
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'production',
    API_KEY: GOOD_KEY,
    DATA_KEY,
    PRIVATE_KEY_PATH: join(keys, 'private_key.pem'),
    PUBLIC_KEY_PATH: join(keys, 'public_key.pem'),
    DATA_DIR: tmp('tfa-prod-data-'),
    KEYS_DIR: tmp('tfa-prod-keys-'),
    PORT: '0',
    HOST: '127.0.0.1',
    ...over,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

function expectRefusal(run: { code: number | null; stderr: string; stdout: string }, ...mentions: RegExp[]) {
  expect(run.code).not.toBe(0);
  expect(run.code).not.toBeNull();
  expect(run.stderr).toMatch(/^The service cannot start\. Invalid configuration:/);
  for (const m of mentions) expect(run.stderr).toMatch(m);
  expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(run.stdout).toBe('');
}

describe('a production start refuses bad configuration with one message listing every problem', () => {
  it('no API key, no data key, no private key: all three named at once', async () => {
    const run = await runEntry('src/server.ts', prodEnv({ API_KEY: undefined, DATA_KEY: undefined, PRIVATE_KEY_PATH: '/nonexistent/private_key.pem' }));
    expectRefusal(run, /API_KEY is not set/, /DATA_KEY is not set/, /no private key at \/nonexistent\/private_key\.pem/);
  });

  it('an API key under 32 characters', async () => {
    const run = await runEntry('src/server.ts', prodEnv({ API_KEY: 'short-key' }));
    expectRefusal(run, /API_KEY is 9 characters; at least 32/);
    expect(run.stderr).not.toContain('short-key');
  });

  it('a data key that is not 32 bytes', async () => {
    const run = await runEntry('src/server.ts', prodEnv({ DATA_KEY: Buffer.alloc(16).toString('base64') }));
    expectRefusal(run, /DATA_KEY is not the base64 of exactly 32 bytes/);
  });

  it('a private key that is unreadable, not a key, or under 4096 bits', async () => {
    const dir = tmp('tfa-bad-keys-');
    mkdirSync(join(dir, 'a-directory.pem'));
    writeFileSync(join(dir, 'garbage.pem'), 'not a key');
    execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(dir, 'small.pem')]);
    const noPub = { PUBLIC_KEY_PATH: join(dir, 'none.pem') };
    expectRefusal(await runEntry('src/server.ts', prodEnv({ ...noPub, PRIVATE_KEY_PATH: join(dir, 'a-directory.pem') })), /cannot read .*a-directory\.pem \(EISDIR\)/);
    expectRefusal(await runEntry('src/server.ts', prodEnv({ ...noPub, PRIVATE_KEY_PATH: join(dir, 'garbage.pem') })), /not a readable PEM RSA private key/);
    expectRefusal(await runEntry('src/server.ts', prodEnv({ ...noPub, PRIVATE_KEY_PATH: join(dir, 'small.pem') })), /RSA-2048; RSA-4096 is required/);
  });

  it('an invalid value is named with its variable', async () => {
    expectRefusal(await runEntry('src/server.ts', prodEnv({ PORT: 'eighty', TOTP_WINDOW: '3' })), /PORT: must be a whole number/, /TOTP_WINDOW/);
  });

  it('an invalid value and missing secrets: all named in the same message, not one start after another', async () => {
    const run = await runEntry('src/server.ts', prodEnv({ PORT: 'eighty', API_KEY: undefined, DATA_KEY: undefined }));
    expectRefusal(run, /PORT: must be a whole number/, /API_KEY is not set/, /DATA_KEY is not set/);
    // A check across two variables and a missing key: each problem once.
    const across = await runEntry('src/server.ts', prodEnv({ LOCKOUT_BASE_SECONDS: '100', LOCKOUT_MAX_SECONDS: '30', API_KEY: undefined }));
    expectRefusal(across, /LOCKOUT_BASE_SECONDS: must not be above LOCKOUT_MAX_SECONDS/, /API_KEY is not set/);
    expect(across.stderr.match(/LOCKOUT_BASE_SECONDS/g)).toHaveLength(1);
    // The worker too, with what it needs (a data key; not the API key).
    const worker = await runEntry('src/worker.ts', prodEnv({ CRON_MAX_BYTES: 'big', DATA_KEY: undefined }));
    expect(worker.stderr).toMatch(/^The worker cannot start\. Invalid configuration:/);
    expect(worker.stderr).toMatch(/CRON_MAX_BYTES/);
    expect(worker.stderr).toMatch(/DATA_KEY is not set/);
    expect(worker.stderr).not.toMatch(/API_KEY/);
  });

  it('in development, a refused start creates no key material', async () => {
    const keysDir = tmp('tfa-dev-keys-');
    const run = await runEntry('src/server.ts', { NODE_ENV: 'development', PORT: 'eighty', KEYS_DIR: keysDir, DATA_DIR: tmp('tfa-dev-data-') });
    expect(run.stderr).toMatch(/PORT: must be a whole number/);
    expect(readdirSync(keysDir)).toEqual([]);
  });

  it('a sound configuration starts, serves /health without docs, and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const child = startEntry('src/server.ts', prodEnv({ PORT: String(port) }));
    const c = collect(child);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
    expect((await fetch(`http://127.0.0.1:${port}/docs`)).status).toBe(404);
    child.kill('SIGTERM');
    expect(await c.exited).toBe(0);
    expect(c.out()).not.toContain(GOOD_KEY);
  });
});

describe("the README's start commands", () => {
  // `npm start` / `npm run worker` run the entry point itself (exec), so a SIGTERM sent to npm,
  // as a process manager sends it, reaches the service and stops it cleanly rather than leaving
  // it running, port bound, behind an npm that has exited.
  const npm = (script: string, env: Record<string, string>) =>
    spawn('npm', ['run', script], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });

  it('npm start: a SIGTERM to npm stops the service, and its port is free again', async () => {
    const port = await freePort();
    const child = npm('start', prodEnv({ PORT: String(port) }));
    const c = collect(child);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, 60_000);
    child.kill('SIGTERM');
    await c.exited;
    expect(c.out()).toContain('"signal":"SIGTERM","msg":"shutting down"');
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  }, 90_000);

  it('npm run worker: a SIGTERM to npm stops the worker', async () => {
    const dataDir = tmp('tfa-npm-worker-');
    openDatabase(databasePath(dataDir)).close(); // the API's database, which the worker waits for
    const child = npm('worker', prodEnv({ DATA_DIR: dataDir, CRON_DIR: join(dataDir, 'cron') }));
    const c = collect(child);
    await waitFor(() => c.out().includes('code log worker started'), 60_000);
    child.kill('SIGTERM');
    await c.exited;
    expect(c.out()).toContain('"signal":"SIGTERM","msg":"worker stopping"');
  }, 90_000);
});

describe('a database from a newer version', () => {
  it('is refused at start with a clear message (a rollback to an older image), and left as it was', async () => {
    const dataDir = tmp('tfa-newer-');
    const db = openDatabase(databasePath(dataDir));
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(99, '099_from_the_future.sql', Date.now());
    db.close();
    const run = await runEntry('src/server.ts', prodEnv({ DATA_DIR: dataDir }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the database was migrated by a newer version of the service (099_from_the_future.sql)');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    const after = openDatabaseReadOnly(databasePath(dataDir));
    expect(after.prepare('SELECT MAX(version) AS v FROM schema_migrations').get()).toEqual({ v: 99 });
    after.close();
  });
});

describe('a database that cannot be opened', () => {
  // SQLite's own words ("unable to open database file") name neither the file nor what to check.
  it('stops the API and the worker with a message naming the file and what to check', async () => {
    const parent = tmp('tfa-notdir-');
    writeFileSync(join(parent, 'file'), '');
    const dataDir = join(parent, 'file', 'data');
    for (const entry of ['src/server.ts', 'src/worker.ts']) {
      const run = await runEntry(entry, prodEnv({ DATA_DIR: dataDir }));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`the database ${databasePath(dataDir)} could not be opened: ENOTDIR`);
      expect(run.stderr).toContain(`check DATA_DIR: ${dataDir} must be a directory`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('names a file that is not a database, and leaves it as it was', async () => {
    const dataDir = tmp('tfa-notadb-');
    writeFileSync(databasePath(dataDir), 'not a database, and long enough to be read as a header: '.repeat(20));
    const before = readFileSync(databasePath(dataDir));
    const run = await runEntry('src/server.ts', prodEnv({ DATA_DIR: dataDir }));
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`the database ${databasePath(dataDir)} could not be opened: file is not a database (SQLITE_NOTADB)`);
    expect(run.stderr).toContain('restore a backup');
    expect(readFileSync(databasePath(dataDir))).toEqual(before);
  });

  it("starts while another process holds the write lock, since an up-to-date database needs no migration; with one pending, names the lock", async () => {
    const dataDir = tmp('tfa-locked-');
    openDatabase(databasePath(dataDir)).close();
    const holder = new Database(databasePath(dataDir));
    try {
      holder.exec('BEGIN IMMEDIATE'); // a key rotation or a backup tool in the middle of its write
      const env = prodEnv({ DATA_DIR: dataDir, PORT: String(await freePort()) });
      const child = startEntry('src/server.ts', env);
      const c = collect(child);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${env.PORT}/health`)).ok);
      child.kill('SIGTERM');
      expect(await c.exited).toBe(0);

      // An upgrade's start must migrate, which needs the lock: after the busy timeout it stops, saying why.
      holder.exec('ROLLBACK');
      holder.exec("DROP TABLE write_probe; DELETE FROM schema_migrations WHERE name = '009_write_probe.sql'");
      holder.exec('BEGIN IMMEDIATE');
      const run = await runEntry('src/server.ts', prodEnv({ DATA_DIR: dataDir }));
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`the database ${databasePath(dataDir)} could not be opened: database is locked (SQLITE_BUSY); another process held its write lock`);
    } finally {
      if (holder.inTransaction) holder.exec('ROLLBACK');
      holder.close();
    }
  }, 60_000);

  it('says to check the directory and the uid when SQLite cannot open the file', () => {
    const dataDir = tmp('tfa-cantopen-');
    mkdirSync(databasePath(dataDir)); // a directory where the file should be: SQLITE_CANTOPEN, for root too
    expect(() => openDatabase(databasePath(dataDir))).toThrow(
      new RegExp(`^the database ${databasePath(dataDir)} could not be opened: unable to open database file \\(SQLITE_CANTOPEN\\); check that ${dataDir} exists and that this process \\(uid \\d+\\) can write to it`),
    );
  });
});

describe('stopping under load', () => {
  it('SIGTERM: a request arriving while draining is 503 SHUTTING_DOWN in the error format, and a stalled client cannot hold the stop', async () => {
    const port = await freePort();
    const child = startEntry('src/server.ts', prodEnv({ PORT: String(port) }));
    const c = collect(child);
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok);
    const open = () =>
      new Promise<Socket>((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s));
      });
    // Expect: 100-continue makes Node answer "100 Continue" once it has the request's headers:
    // a sign, not a sleep, that the request is in progress.
    const head = (length: number, expect = '') =>
      `POST /totp/register HTTP/1.1\r\nHost: x\r\nX-API-Key: ${GOOD_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n${expect}\r\n`;
    const continued = (s: Socket) => new Promise((r) => s.on('data', (d) => d.toString().includes('100 Continue') && r(null)));
    const body = '{"username":"alice"}';
    // One client stops half-way through its body and never sends the rest.
    const stalled = await open();
    const stalledGoing = continued(stalled);
    stalled.write(`${head(body.length, 'Expect: 100-continue\r\n')}{"usern`);
    // Another is mid-request too, and will pipeline a second request once stopping has begun.
    const pipelining = await open();
    let answers = '';
    pipelining.on('data', (d) => (answers += d.toString()));
    const closed = new Promise((r) => pipelining.on('close', r));
    const pipeliningGoing = continued(pipelining);
    pipelining.write(`${head(body.length, 'Expect: 100-continue\r\n')}{"usern`);
    await Promise.all([stalledGoing, pipeliningGoing]);
    child.kill('SIGTERM');
    await waitFor(() => c.out().includes('shutting down'));
    pipelining.write(`ame":"alice"}${head(JSON.stringify({ username: 'bob' }).length)}{"username":"bob"}`);
    await closed;
    expect(answers).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 /);
    const second = answers.slice(answers.indexOf('HTTP/1.1 503'));
    expect(second).toMatch(/^HTTP\/1\.1 503 /);
    expect(second).toMatch(/x-request-id: /i);
    expect(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4))).toEqual({ error: expect.any(String), code: 'SHUTTING_DOWN' });
    // The stalled client does not keep the process: it exits 0 after the grace period.
    expect(await c.exited).toBe(0);
    expect(stalled.destroyed || stalled.readableEnded).toBe(true);
    stalled.destroy();
  }, 40_000);
});

describe('a development start on a fresh clone', () => {
  it('creates the key pair, a data key and an API key under KEYS_DIR, prints the API key once', async () => {
    const keysDir = join(tmp('tfa-dev-'), 'keys');
    const env = { NODE_ENV: 'development', KEYS_DIR: keysDir, DATA_DIR: tmp('tfa-dev-data-'), PORT: String(await freePort()), HOST: '127.0.0.1' };
    const start = async () => {
      const child = startEntry('src/server.ts', env);
      const c = collect(child);
      await waitFor(async () => (await fetch(`http://127.0.0.1:${env.PORT}/health`)).ok, 60_000);
      child.kill('SIGTERM');
      await c.exited;
      return c;
    };
    const first = await start();
    const apiKey = readFileSync(join(keysDir, 'api_key'), 'utf8').trim();
    mustNotLog(apiKey);
    expect(first.err()).toContain(apiKey);
    expect(first.out()).not.toContain(apiKey); // the JSON log stream never has it
    expect(statSync(join(keysDir, 'private_key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(keysDir, 'api_key')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(keysDir, 'public_key.pem'))).toBe(true);
    expect(Buffer.from(readFileSync(join(keysDir, 'data_key'), 'utf8').trim(), 'base64')).toHaveLength(32);
    const bits = execFileSync('openssl', ['pkey', '-in', join(keysDir, 'private_key.pem'), '-noout', '-text']).toString();
    expect(bits).toMatch(/4096 bit/);
    const second = await start();
    expect(second.err()).not.toContain(apiKey);
  }, 90_000);
});

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      nodeEnv: 'development',
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      privateKeyPath: './keys/private_key.pem',
      enableDocs: true,
      totpWindow: 1,
      signatureWindowSeconds: 30,
      requireSignatures: false,
      cronDir: './cron',
      cronSchedule: '0 * * * * *',
    });
    expect(loadConfig({ NODE_ENV: 'production' }).enableDocs).toBe(false);
  });

  it('lists every bad variable in one error', () => {
    try {
      loadConfig({ PORT: '70000', REQUIRE_SIGNATURES: 'maybe', LOG_LEVEL: 'loud', TOTP_ISSUER: 'Acme:Corp' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems.map((p) => p.split(':')[0]).sort()).toEqual(['LOG_LEVEL', 'PORT', 'REQUIRE_SIGNATURES', 'TOTP_ISSUER']);
    }
  });

  it('refuses a blank issuer and a lockout base above its maximum', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ TOTP_ISSUER: ' ' })).toEqual([expect.stringMatching(/^TOTP_ISSUER: /)]);
    expect(problems({ LOCKOUT_BASE_SECONDS: '600', LOCKOUT_MAX_SECONDS: '60' })).toEqual(['LOCKOUT_BASE_SECONDS: must not be above LOCKOUT_MAX_SECONDS (60)']);
    expect(problems({ LOCKOUT_BASE_SECONDS: '60', LOCKOUT_MAX_SECONDS: '60' })).toEqual([]);
  });

  it('TRUST_PROXY: off by default, a list of proxies by address, range or name; never every peer', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: ' ' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1, fd00::/8,loopback' }).trustProxy).toEqual([
      '10.0.0.0/8',
      '127.0.0.1',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    const problems = (value: string) => {
      try {
        loadConfig({ TRUST_PROXY: value });
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    for (const everyone of ['true', '1', '2', '0.0.0.0/0', '::/0']) {
      expect(problems(everyone), everyone).toEqual([expect.stringMatching(/^TRUST_PROXY: /)]);
    }
    expect(problems('10.0.0.0/33')).toEqual(['TRUST_PROXY: "10.0.0.0/33": the prefix length must be a whole number from 1 to 32']);
    expect(problems('proxy.internal,10.0.0.1,,10.0.0.0/8/8')).toEqual([
      'TRUST_PROXY: "proxy.internal" is not an address, a CIDR range or one of loopback, linklocal, uniquelocal',
      'TRUST_PROXY: an empty entry in the list',
      'TRUST_PROXY: "10.0.0.0/8/8" is not an address, a CIDR range or one of loopback, linklocal, uniquelocal',
    ]);
  });
});

describe('npm run keys', () => {
  it('writes an RSA-4096 pair, the private key mode 0600, and refuses to overwrite it', async () => {
    const keysDir = join(tmp('tfa-keys-cli-'), 'keys');
    const first = await runEntry('src/cli/generate-keys.ts', { KEYS_DIR: keysDir });
    expect(first.code).toBe(0);
    const priv = join(keysDir, 'private_key.pem');
    expect(statSync(priv).mode & 0o777).toBe(0o600);
    expect(execFileSync('openssl', ['pkey', '-in', priv, '-noout', '-text']).toString()).toMatch(/4096 bit/);
    const pub = execFileSync('openssl', ['pkey', '-in', priv, '-pubout']).toString();
    expect(readFileSync(join(keysDir, 'public_key.pem'), 'utf8')).toBe(pub);
    const before = readFileSync(priv, 'utf8');
    const second = await runEntry('src/cli/generate-keys.ts', { KEYS_DIR: keysDir });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('already exists');
    expect(readFileSync(priv, 'utf8')).toBe(before);
  }, 60_000);
});

describe('the documentation of the configuration', () => {
  it('.env.example and the README name every variable the schema reads, and .env.example parses', () => {
    const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const set = Object.fromEntries(
      example.split('\n').filter((l) => /^[A-Z][A-Z0-9_]*=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(Object.keys(set).sort()).toEqual([...ENV_VARIABLES].sort());
    for (const v of ENV_VARIABLES) expect(readme, v).toContain(`| \`${v}\` |`);
    expect(() => loadConfig(set)).not.toThrow();
  });
});
