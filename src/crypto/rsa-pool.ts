import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { KeyObject } from 'node:crypto';

// RSA-4096 private decryption costs about 5 ms of CPU. Done on the event loop, every other
// request waits behind it and the process decrypts on one core only; in a small pool of worker
// threads (one per core) the event loop stays free and every core works (issue 5: decrypt-seed
// against openssl's single-core rate). The key travels with each job as a KeyObject (cloned
// between threads as a handle to the same native key, never as a PEM string), so one pool per
// process serves every app and key, and nothing has to be closed with an app.

// Inline CommonJS (eval: true): no file to locate, so it runs the same compiled, under tsx and
// under vitest. A failure answers ok:false with no detail, like the synchronous path.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { privateDecrypt, constants } = require('node:crypto');
parentPort.on('message', (m) => {
  let out = null;
  try {
    out = privateDecrypt({ key: m.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, m.ciphertext);
    parentPort.postMessage({ id: m.id, ok: true, plaintext: out });
  } catch {
    parentPort.postMessage({ id: m.id, ok: false });
  } finally {
    if (out) out.fill(0);
  }
});
`;

type Job = { id: number; key: KeyObject; ciphertext: Buffer; resolve(b: Buffer): void; reject(e: Error): void };
type Slot = { worker: Worker; job: Job | null };

export type RsaDecryptPool = {
  /** RSA-OAEP (SHA-256, MGF1-SHA-256) decryption on a worker thread; rejects on any failure. */
  decrypt(privateKey: KeyObject, ciphertext: Buffer): Promise<Buffer>;
  readonly size: number;
  close(): Promise<void>;
};

export function createRsaDecryptPool(size = availableParallelism()): RsaDecryptPool {
  const queue: Job[] = [];
  const slots: Slot[] = [];
  let nextId = 0;
  let closed = false;

  const spawn = (): Slot => {
    // unref: an idle pool never keeps the process alive (tests, shutdown).
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = { worker, job: null };
    worker.on('message', (m: { id: number; ok: boolean; plaintext?: Uint8Array }) => {
      const job = slot.job;
      slot.job = null;
      if (job && job.id === m.id) {
        if (m.ok && m.plaintext) job.resolve(Buffer.from(m.plaintext.buffer, m.plaintext.byteOffset, m.plaintext.byteLength));
        else job.reject(new Error('decryption failed'));
      }
      pump();
    });
    // A worker that dies fails its job and is replaced; the rest of the pool carries on.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      slot.job?.reject(new Error('decryption failed'));
      slot.job = null;
      if (!closed) {
        slots.push(spawn());
        pump();
      }
    });
    return slot;
  };

  function pump(): void {
    for (const slot of slots) {
      if (slot.job) continue;
      const job = queue.shift();
      if (!job) return;
      slot.job = job;
      slot.worker.postMessage({ id: job.id, key: job.key, ciphertext: job.ciphertext });
    }
  }

  const n = Math.max(1, size);
  for (let i = 0; i < n; i++) slots.push(spawn());

  return {
    size: n,
    decrypt(key, ciphertext) {
      if (closed) return Promise.reject(new Error('the RSA pool is closed'));
      return new Promise<Buffer>((resolve, reject) => {
        queue.push({ id: nextId++, key, ciphertext, resolve, reject });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error('the RSA pool is closed'));
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}

let shared: RsaDecryptPool | null = null;

/** The process's pool, started on first use: one worker per core, unref'd. */
export function sharedRsaDecryptPool(): RsaDecryptPool {
  shared ??= createRsaDecryptPool();
  return shared;
}
