import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, type Config } from './config.js';
import { dataKeyFromBase64, KeyRing } from './crypto/aes-gcm.js';
import { loadRsaKeyPair, type RsaKeyPair } from './crypto/rsa-oaep.js';
import { writeRsaKeyPair } from './crypto/rsa-keygen.js';

// The key material the configuration names. In production every piece must be given and sound,
// or the process stops listing every problem at once. In development and test, what is missing
// is created under KEYS_DIR (ignored by git) so that `npm start` works on a fresh clone.

export type Secrets = {
  apiKey: string;
  hmacSecret: string;
  keyRing: KeyRing;
  rsa: RsaKeyPair | null;
  /** Set only on the start that created the development API key, so it is shown once. */
  createdApiKey?: string;
};

const MIN_API_KEY_LENGTH = 32;
const MIN_RSA_BITS = 4096;

export type Needs = { rsa: boolean; apiKey: boolean };

// The variables the secrets are read from: the production checks below say something true only
// when these parsed.
const SECRET_VARIABLES = ['NODE_ENV', 'API_KEY', 'HMAC_SECRET', 'DATA_KEY', 'DATA_KEYS_PREVIOUS', 'KEYS_DIR', 'PRIVATE_KEY_PATH', 'PUBLIC_KEY_PATH'];

/**
 * The configuration and its secrets, with every problem of both in one ConfigError. In
 * production a start with a bad PORT and no API_KEY used to name the PORT only, and the API_KEY
 * on the next try. The production checks read files and write none, so they also run when other
 * variables are wrong: on the secret variables alone, every other one at its (valid) default. In
 * development a failed start creates no key material.
 */
export async function loadConfigAndSecrets(env: Record<string, string | undefined> = process.env, needs?: Needs): Promise<{ config: Config; secrets: Secrets }> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError) || env.NODE_ENV !== 'production') throw err;
    const wrong = new Set(err.problems.map((p) => p.slice(0, p.indexOf(':'))));
    if (SECRET_VARIABLES.some((v) => wrong.has(v))) throw err;
    try {
      await resolveSecrets(loadConfig(Object.fromEntries(SECRET_VARIABLES.map((v) => [v, env[v]]))), needs);
    } catch (second) {
      if (second instanceof ConfigError) throw new ConfigError([...err.problems, ...second.problems]);
    }
    throw err;
  }
  return { config, secrets: await resolveSecrets(config, needs) };
}

export async function resolveSecrets(config: Config, needs: Needs = { rsa: true, apiKey: true }): Promise<Secrets> {
  if (config.nodeEnv === 'production') return productionSecrets(config, needs);
  return developmentSecrets(config, needs);
}

function productionSecrets(config: Config, needs: Needs): Secrets {
  const problems: string[] = [];
  if (needs.apiKey) {
    if (!config.apiKey) problems.push('API_KEY is not set (it must be at least 32 characters)');
    else if (config.apiKey.length < MIN_API_KEY_LENGTH)
      problems.push(`API_KEY is ${config.apiKey.length} characters; at least ${MIN_API_KEY_LENGTH} are required`);
  }
  const keyRing = keyRingOrProblem(config, problems);
  const rsa = needs.rsa ? rsaOrProblem(config, problems) : null;
  if (problems.length > 0 || !keyRing) throw new ConfigError(problems);
  const apiKey = config.apiKey ?? '';
  return { apiKey, hmacSecret: config.hmacSecret ?? apiKey, keyRing, rsa };
}

function keyRingOrProblem(config: Config, problems: string[]): KeyRing | null {
  if (!config.dataKey) {
    problems.push('DATA_KEY is not set (base64 of 32 random bytes: openssl rand -base64 32)');
    return null;
  }
  try {
    const current = dataKeyFromBase64(config.dataKey);
    const previous = config.dataKeysPrevious.map((k, i) => {
      try {
        return dataKeyFromBase64(k);
      } catch {
        throw new Error(`DATA_KEYS_PREVIOUS entry ${i + 1} is not the base64 of 32 bytes`);
      }
    });
    return new KeyRing(current, previous);
  } catch (err) {
    problems.push(err instanceof Error && err.message.startsWith('DATA_KEYS') ? err.message : 'DATA_KEY is not the base64 of exactly 32 bytes');
    return null;
  }
}

function rsaOrProblem(config: Config, problems: string[]): RsaKeyPair | null {
  let pem: Buffer;
  try {
    pem = readFileSync(config.privateKeyPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    problems.push(
      code === 'ENOENT'
        ? `PRIVATE_KEY_PATH: no private key at ${config.privateKeyPath} (npm run keys writes one)`
        : `PRIVATE_KEY_PATH: cannot read ${config.privateKeyPath} (${code ?? 'error'})`,
    );
    return null;
  }
  let publicPem: Buffer | undefined;
  if (existsSync(config.publicKeyPath)) {
    try {
      publicPem = readFileSync(config.publicKeyPath);
    } catch (err) {
      problems.push(`PUBLIC_KEY_PATH: cannot read ${config.publicKeyPath} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  try {
    const pair = loadRsaKeyPair(pem, publicPem);
    if (pair.bits < MIN_RSA_BITS) {
      problems.push(`PRIVATE_KEY_PATH: the key at ${config.privateKeyPath} is RSA-${pair.bits}; RSA-${MIN_RSA_BITS} is required`);
      return null;
    }
    return pair;
  } catch (err) {
    const why = err instanceof Error && err.message.includes('does not belong') ? err.message : 'it is not a readable PEM RSA private key';
    problems.push(`PRIVATE_KEY_PATH: the key at ${config.privateKeyPath} cannot be used: ${why}`);
    return null;
  }
}

async function developmentSecrets(config: Config, needs: Needs): Promise<Secrets> {
  let createdApiKey: string | undefined;
  const fromFile = (name: string, make: () => string): { value: string; created: boolean } => {
    const path = join(config.keysDir, name);
    if (existsSync(path)) return { value: readFileSync(path, 'utf8').trim(), created: false };
    mkdirSync(config.keysDir, { recursive: true });
    const value = make();
    writeFileSync(path, `${value}\n`, { mode: 0o600 });
    return { value, created: true };
  };

  let apiKey = config.apiKey;
  if (!apiKey && needs.apiKey) {
    const got = fromFile('api_key', () => randomBytes(32).toString('base64url'));
    apiKey = got.value;
    if (got.created) createdApiKey = got.value;
  }
  const dataKey = config.dataKey ?? fromFile('data_key', () => randomBytes(32).toString('base64')).value;
  let rsa: RsaKeyPair | null = null;
  if (needs.rsa) {
    if (!existsSync(config.privateKeyPath)) await writeRsaKeyPair(config.privateKeyPath, config.publicKeyPath);
    const publicPem = existsSync(config.publicKeyPath) ? readFileSync(config.publicKeyPath) : undefined;
    rsa = loadRsaKeyPair(readFileSync(config.privateKeyPath), publicPem);
  }
  const problems: string[] = [];
  const keyRing = keyRingOrProblem({ ...config, dataKey }, problems);
  if (!keyRing) throw new ConfigError(problems);
  const key = apiKey ?? '';
  return { apiKey: key, hmacSecret: config.hmacSecret ?? key, keyRing, rsa, ...(createdApiKey ? { createdApiKey } : {}) };
}
