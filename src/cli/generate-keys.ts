// npm run keys: writes a new RSA-4096 pair where the configuration points (keys/ by default).
// Refuses to overwrite an existing private key: replacing it would make every client's cached
// public key useless, so that must be a deliberate `rm` first.
import { existsSync } from 'node:fs';
import { loadConfig } from '../config.js';
import { writeRsaKeyPair } from '../crypto/rsa-keygen.js';

const config = loadConfig();
if (existsSync(config.privateKeyPath)) {
  console.error(`A private key already exists at ${config.privateKeyPath}; remove it first to replace it.`);
  process.exit(1);
}
await writeRsaKeyPair(config.privateKeyPath, config.publicKeyPath);
console.log(`Wrote ${config.privateKeyPath} (mode 0600) and ${config.publicKeyPath} (RSA-4096).`);
