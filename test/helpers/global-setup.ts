import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { writeRsaKeyPair } from '../../src/crypto/rsa-keygen.js';

declare module 'vitest' {
  export interface ProvidedContext {
    keysDir: string;
  }
}

// One RSA-4096 pair for the whole run (generating one takes seconds), and a check that the real
// clients the contract names are installed: tests must not silently skip them.
//
// Every temporary directory of the run (databases, key pairs, code logs, of the tests and of
// the processes they start) is made under one directory of the run, removed when the run ends:
// a run used to leave ~190 of them in the system's temporary directory, key pairs among them.
// TMPDIR is set here, before vitest starts its workers, so they and their children inherit it.
export default async function setup(project: TestProject): Promise<() => void> {
  const runDir = mkdtempSync(join(tmpdir(), 'tfa-test-run-'));
  process.env.TMPDIR = runDir;
  for (const tool of ['openssl', 'oathtool']) {
    try {
      execFileSync('which', [tool], { stdio: 'ignore' });
    } catch {
      throw new Error(`${tool} is required by the tests (apt-get install -y ${tool === 'oathtool' ? 'oathtool' : 'openssl'})`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'tfa-test-keys-'));
  mkdirSync(dir, { recursive: true });
  const priv = join(dir, 'private_key.pem');
  if (!existsSync(priv)) await writeRsaKeyPair(priv, join(dir, 'public_key.pem'));
  project.provide('keysDir', dir);
  return () => rmSync(runDir, { recursive: true, force: true });
}
