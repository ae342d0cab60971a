import type { Clock } from '../clock.js';
import type { KeyRing } from '../crypto/aes-gcm.js';
import type { Store } from '../db/types.js';
import { credentialAad } from './credential-aad.js';

// Re-seals every sealed value under the newest data key (DATA_KEY), so that the keys listed in
// DATA_KEYS_PREVIOUS can then be dropped. One transaction: all rows move or none does (an
// unknown key id or a tampered value aborts the whole run). Values already under the newest
// key are left as they are.

export type RotationResult = { examined: number; changed: number; keyId: string };

export async function rotateDataKeys(deps: { store: Store; keyRing: KeyRing; clock: Clock }): Promise<RotationResult> {
  const { keyRing } = deps;
  const current = keyRing.current.id;
  const at = deps.clock.now();
  const r = await deps.store.sealedValues.resealAll(
    (v) => {
      if (v.keyId === current) return null;
      const aad = credentialAad(v.kind, v.userId);
      const plain = keyRing.open({ keyId: v.keyId, blob: v.blob }, aad);
      try {
        return keyRing.seal(plain, aad);
      } finally {
        plain.fill(0);
      }
    },
    (changed) => ({ userId: null, event: 'keys.rotate', success: true, reason: `resealed_${changed}`, ip: null, at }),
  );
  return { ...r, keyId: current };
}

/**
 * The ids among those sealing stored values that this process does not have: empty when it can
 * open everything. Index seeks only, cheap enough for GET /health on every probe: a process that
 * missed a key rotation (it runs on the old DATA_KEY alone while rotate-keys re-sealed
 * everything) reports itself.
 */
export async function missingDataKeyIds(deps: { store: Store; keyRing: KeyRing }): Promise<string[]> {
  const known = new Set(deps.keyRing.ids);
  return (await deps.store.sealedValues.keyIds()).filter((id) => !known.has(id));
}

/**
 * The data key ids that seal stored values but are neither DATA_KEY nor in DATA_KEYS_PREVIOUS,
 * with how many values each seals. A process started without them could open none of those
 * values: every code of theirs would fail, so server.ts and worker.ts refuse to start instead.
 * The values are counted (a scan) only when there is such a key, for the refusal's message.
 */
export async function unknownDataKeys(deps: { store: Store; keyRing: KeyRing }): Promise<{ keyId: string; count: number }[]> {
  const missing = new Set(await missingDataKeyIds(deps));
  if (missing.size === 0) return [];
  return (await deps.store.sealedValues.countByKey()).filter((k) => missing.has(k.keyId));
}

/** The message for unknownDataKeys' answer (ids only: a key id is derived from a key, not the key). */
export function unknownDataKeysMessage(unknown: { keyId: string; count: number }[]): string {
  const list = unknown.map((k) => `${k.keyId} (${k.count} value${k.count === 1 ? '' : 's'})`).join(', ');
  return (
    `Stored secrets are sealed under data key id(s) ${list}, which is neither DATA_KEY nor in DATA_KEYS_PREVIOUS. ` +
    'Start with the key that sealed them (in DATA_KEYS_PREVIOUS during a rotation); see README, "Rotating the data key".'
  );
}
