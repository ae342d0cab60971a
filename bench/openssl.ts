import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export type OpensslSpeed = {
  command: string;
  version: string;
  /** RSA-4096 private-key operations per second, one core (the `sign/s` column). */
  privateOpsPerSecond: number;
  /** The table line it was read from, for the record. */
  line: string;
};

/**
 * Reads the `rsa 4096 bits` line of `openssl speed`. OpenSSL 1.1 and 3.0 print
 * `rsa 4096 bits <sign s> <verify s> <sign/s> <verify/s>`; 3.2 and later add encrypt and
 * decrypt columns after those. Either way the third number is private operations per second.
 */
export function parseOpensslSpeed(output: string): { privateOpsPerSecond: number; line: string } {
  const line = output.split('\n').find((l) => /^\s*rsa\s+4096\s+bits\s/.test(l));
  if (!line) throw new Error(`no "rsa 4096 bits" line in the openssl speed output:\n${output.slice(-800)}`);
  const numbers = line
    .replace(/^\s*rsa\s+4096\s+bits\s+/, '')
    .trim()
    .split(/\s+/)
    .map((t) => Number(t.replace(/s$/, '')));
  const perSecond = numbers[2];
  if (perSecond === undefined || !Number.isFinite(perSecond) || perSecond <= 0) throw new Error(`cannot read private ops/s from: ${line}`);
  return { privateOpsPerSecond: perSecond, line: line.trim() };
}

/** `openssl speed -seconds N rsa4096`: single process, single core (no -multi). */
export async function opensslSpeed(seconds: number): Promise<OpensslSpeed> {
  const args = ['speed', '-seconds', String(seconds), 'rsa4096'];
  const { stdout } = await run('openssl', args, { maxBuffer: 4 * 1024 * 1024 });
  const version = (await run('openssl', ['version'])).stdout.trim();
  return { command: `openssl ${args.join(' ')}`, version, ...parseOpensslSpeed(stdout) };
}

/** Encrypts a seed exactly as API.md tells clients to: openssl pkeyutl, RSA-OAEP SHA-256/MGF1-SHA-256. */
export function opensslEncryptSeed(plaintext: string, publicKeyPath: string): string {
  const args = ['pkeyutl', '-encrypt', '-pubin', '-inkey', publicKeyPath];
  for (const opt of ['rsa_padding_mode:oaep', 'rsa_oaep_md:sha256', 'rsa_mgf1_md:sha256']) args.push('-pkeyopt', opt);
  return execFileSync('openssl', args, { input: plaintext }).toString('base64');
}

/** An RSA-4096 pair written with openssl genpkey (PKCS#8 private key, SPKI public key). */
export async function opensslKeyPair(privatePath: string, publicPath: string): Promise<void> {
  await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:4096', '-out', privatePath]);
  await run('openssl', ['pkey', '-in', privatePath, '-pubout', '-out', publicPath]);
}
