import { generateKeyPair } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

/** Writes a new RSA-4096 pair: the private key PKCS#8 PEM with mode 0600, the public one SPKI PEM. */
export async function writeRsaKeyPair(privatePath: string, publicPath: string): Promise<void> {
  const { privateKey, publicKey } = await generate('rsa', {
    modulusLength: 4096,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  mkdirSync(dirname(privatePath), { recursive: true });
  mkdirSync(dirname(publicPath), { recursive: true });
  writeFileSync(privatePath, privateKey, { mode: 0o600 });
  chmodSync(privatePath, 0o600); // writeFileSync's mode applies only when it creates the file
  writeFileSync(publicPath, publicKey, { mode: 0o644 });
}
