// The storage interfaces the services depend on. They are async so that an adapter for a
// networked database (PostgreSQL) can slot in; the SQLite one answers at once. A method that
// changes state is atomic on its own and writes the audit event it is given in the same
// transaction, so no caller needs a transaction that spans an await.

import type { WriteStats } from './group-commit.js';

/**
 * A write refused for a reason outside the request, with nothing of it kept: the disk holding
 * the database is full ('full'), or another process held the write lock past the wait ('busy').
 * Every adapter reports these two this way; the HTTP layer answers them with a 503.
 */
export class StorageUnavailableError extends Error {
  constructor(
    readonly reason: 'full' | 'busy',
    options?: { cause?: unknown },
  ) {
    super(reason === 'full' ? 'the storage is full: nothing was written' : 'the storage is busy with another writer: nothing was written', options);
    this.name = 'StorageUnavailableError';
  }
}

export type CredentialKind = 'service' | 'user';
export type CredentialStatus = 'pending' | 'active';

export type CredentialRow = {
  id: number;
  kind: CredentialKind;
  userId: string | null;
  secretBlob: Buffer;
  keyId: string;
  algorithm: 'SHA1' | 'SHA256' | 'SHA512';
  digits: number;
  period: number;
  status: CredentialStatus;
  lastStep: number | null;
  createdAt: number;
  updatedAt: number;
};

export type NewCredential = Pick<CredentialRow, 'secretBlob' | 'keyId' | 'algorithm' | 'digits' | 'period' | 'status'>;

export type AuditInput = {
  userId: string | null;
  event: string;
  success: boolean;
  reason?: string | null;
  ip: string | null;
  at: number;
};

export type AuditRow = AuditInput & { id: number; reason: string | null };

export type AuditQuery = { userId?: string; event?: string; before?: number; limit: number };

export interface CredentialRepository {
  getService(): Promise<CredentialRow | null>;
  /**
   * Replaces the service seed (or sets the first one); the old one or the new one, never neither.
   * When `sameSecret` says the old row holds the very secret being set, its last accepted step is
   * kept: setting the same seed again must not make an accepted code valid again.
   */
  replaceService(input: NewCredential, now: number, audit: AuditInput, sameSecret: (old: CredentialRow) => boolean): Promise<void>;
  /**
   * Claims `step` for the credential: true only if no step at or above it was claimed before.
   * Two racing claims of one step: exactly one wins (a single conditional UPDATE).
   */
  claimStep(credentialId: number, step: number, now: number, audit?: (won: boolean) => AuditInput): Promise<boolean>;
  /** Every sealed secret, for re-sealing under a new data key. */
  listSealed(): Promise<Pick<CredentialRow, 'id' | 'kind' | 'userId' | 'secretBlob' | 'keyId'>[]>;
  /** Writes re-sealed secrets in one transaction; returns how many rows changed. */
  reseal(rows: { id: number; secretBlob: Buffer; keyId: string }[]): Promise<number>;
}

export interface SignatureRepository {
  /**
   * Records a signature (64 lowercase hex characters) made at `signedAt` (unix seconds) as used;
   * false if it was used already. Signatures made before `forgetBefore` (unix seconds) can no
   * longer pass the window check, and are forgotten now and then.
   */
  claim(signature: string, signedAt: number, forgetBefore: number, now: number): Promise<boolean>;
}

export interface AuditRepository {
  append(event: AuditInput): Promise<void>;
  list(query: AuditQuery): Promise<AuditRow[]>;
  /**
   * Deletes the oldest events, at most `limit`, as long as they are older than `before` (a
   * run from the oldest id, stopping at the first newer one); the newest event is always kept,
   * so ids never go back. Returns how many went.
   */
  deleteOlderThan(before: number, limit: number): Promise<number>;
}

export type UserRow = {
  userId: string;
  enabled: boolean;
  failedAttempts: number;
  /** ms since the epoch; the user is locked while it is in the future. */
  lockedUntil: number | null;
  lockoutCount: number;
  createdAt: number;
  updatedAt: number;
};

/** Lockout rule of API.md: after `threshold` failures, lock for baseMs * 2^(n-1) (n-th lockout), at most maxMs. */
export type LockoutPolicy = { threshold: number; baseMs: number; maxMs: number };

export type ChargeOutcome = { outcome: 'charged' } | { outcome: 'locked'; lockedUntil: number } | { outcome: 'unknown_user' };

export interface UserRepository {
  get(userId: string): Promise<UserRow | null>;
  /** Creates the user (2FA off, no lockout) unless it exists; returns the row either way. */
  ensure(userId: string, now: number): Promise<UserRow>;
  /** Turns 2FA on or off; false when the user does not exist (nothing written then). */
  setEnabled(userId: string, enabled: boolean, now: number, audit: AuditInput): Promise<boolean>;
  /**
   * One transaction: refuses while locked (writing `refused`), locks when `threshold` charges are
   * already outstanding (writing `lockout` and `refused`), otherwise counts one more failure.
   */
  chargeAttempt(userId: string, now: number, policy: LockoutPolicy, audits: { refused: AuditInput; lockout: AuditInput }): Promise<ChargeOutcome>;
  /**
   * One transaction: writes `result` (null: written already, with the change it records); on success clears the failures, the lockout count and any
   * lock; on failure keeps the charge and locks (writing `lockout`) once `threshold` is reached.
   */
  settleAttempt(userId: string, ok: boolean, now: number, policy: LockoutPolicy, audits: { result: AuditInput | null; lockout: AuditInput }): Promise<{ lockedUntil: number | null }>;
}

/** The rows a one-transaction TOTP attempt may write (userCredentials.verifyAttempt). */
export type TotpAttemptEvents = {
  /** The verification row: a success, or a failure with its reason ('locked', 'invalid_code', 'replay', 'error'). */
  verification: (success: boolean, reason: string | null) => AuditInput;
  lockout: AuditInput;
  activation: AuditInput;
};

export type TotpAttemptOutcome =
  | { outcome: 'unknown_user' }
  | { outcome: 'not_enrolled' }
  | { outcome: 'locked'; lockedUntil: number }
  | { outcome: 'invalid_code' }
  | { outcome: 'replay' }
  | { outcome: 'success'; activated: boolean }
  | { outcome: 'error'; error: unknown };

export type EnrolOutcome = { outcome: 'created'; credential: CredentialRow } | { outcome: 'already_active' };

/** Users' TOTP credentials (kind 'user' in totp_credentials), beside the users table. */
export interface UserCredentialRepository {
  get(userId: string): Promise<CredentialRow | null>;
  /**
   * One transaction: creates the user if needed, refuses when an active credential exists
   * (writing `audit` as a failure, reason 'already_enrolled'), else replaces any pending one
   * with this new pending credential and writes `audit`.
   */
  enrol(userId: string, input: Omit<NewCredential, 'status'>, now: number, audit: AuditInput): Promise<EnrolOutcome>;
  /**
   * Claims `step` (only above the last accepted one: one success per step, across processes).
   * When the claim wins on a pending credential, the same transaction makes it active, turns
   * the user's 2FA on and writes `activation`.
   */
  claimStep(credentialId: number, step: number, now: number, activation: AuditInput): Promise<{ won: boolean; activated: boolean }>;
  /**
   * A whole TOTP attempt in ONE transaction (ARCHITECTURE.md: the lockout is charged before the
   * code is checked, in the same transaction; audit rows with the change they record):
   * unknown user or no usable credential (pending and not `allowPending`): nothing written;
   * locked: `verification(false, 'locked')`; else the charge, then `decide(credential)` (pure
   * and synchronous: no I/O; a PostgreSQL adapter runs it inside its transaction the same way)
   * returns the matched step or null, the step is claimed (replay otherwise), and the attempt
   * settles: a success resets the lockout (and activates a pending enrolment), a failure locks
   * at the threshold. If `decide` throws, the attempt is a failure (reason 'error') and the
   * error is returned, not thrown, so the charge is kept.
   */
  verifyAttempt(
    userId: string,
    now: number,
    policy: LockoutPolicy,
    allowPending: boolean,
    events: TotpAttemptEvents,
    decide: (credential: CredentialRow) => number | null,
  ): Promise<TotpAttemptOutcome>;
}

export type OneTimeCodeRow = { id: number; userId: string; keyId: string; createdAt: number; expiresAt: number; usedAt: number | null };

export interface OneTimeCodeRepository {
  /** Stores a new code's hash, dropping the user's unused earlier codes; false (nothing written) for an unknown user. */
  issue(userId: string, codeHash: Buffer, keyId: string, now: number, expiresAt: number, audit: AuditInput): Promise<boolean>;
  find(userId: string, codeHash: Buffer): Promise<OneTimeCodeRow | null>;
  /** Sets used_at once: true only for the call that used it, which also writes `audit` (same transaction). */
  use(id: number, now: number, audit?: AuditInput): Promise<boolean>;
}

export type VerificationCount = { event: string; success: boolean; reason: string | null; count: number };

export interface AnalyticsRepository {
  users(now: number): Promise<{ total: number; enabled: number; locked: number; totpPending: number; totpActive: number }>;
  /** Audit events of these names at or after `since`, counted by name, outcome and reason. */
  events(names: string[], since: number | null): Promise<VerificationCount[]>;
}

export interface Store {
  credentials: CredentialRepository;
  signatures: SignatureRepository;
  audit: AuditRepository;
  users: UserRepository;
  userCredentials: UserCredentialRepository;
  oneTimeCodes: OneTimeCodeRepository;
  analytics: AnalyticsRepository;
  backupCodes: BackupCodeRepository;
  challenges: ChallengeRepository;
  recovery: RecoveryRepository;
  userConfigs: UserConfigRepository;
  sealedValues: SealedValueRepository;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  /**
   * True while writes fail for lack of space: the last one did and none has succeeded since.
   * While so, each call (at most one a second) tries a one-row write of its own, so that space
   * freed is seen without waiting for a client's write.
   */
  storageFull(): Promise<boolean>;
  /** Write transactions committed and the writes they held (group commit; for /metrics). */
  writeStats(): WriteStats;
  close(): void;
}

// --- Per-user factors beside the TOTP credential (issue 3, part B) ---

export type BackupCodeSlot = { position: number; usedAt: number | null };
export type BackupCodeSet = { userId: string; generatedAt: number; codes: BackupCodeSlot[] };
export type BackupCodeClaim = { ok: true; remaining: number } | { ok: false; reason: 'used' | 'no_match' };

export interface BackupCodeRepository {
  /** Replaces the user's set (old codes void) with these hashes, in one transaction with `audit`. */
  replaceSet(userId: string, salt: Buffer, hashes: Buffer[], now: number, audit: AuditInput): Promise<void>;
  /** The salt of the user's current set, or null when there is none. */
  salt(userId: string): Promise<Buffer | null>;
  /**
   * Marks the unused code with this hash used, writing `audit` with it. Two racing claims of one
   * code: exactly one wins (a single conditional UPDATE). Returns the codes left after it, or
   * why it failed (writing nothing): 'used' when the code matched but was spent already.
   */
  claim(userId: string, hash: Buffer, now: number, audit: AuditInput): Promise<BackupCodeClaim>;
  get(userId: string): Promise<BackupCodeSet | null>;
  remaining(userId: string): Promise<number>;
}

export type ChallengeMethod = 'totp' | 'backup_code';
export type ChallengeRow = {
  id: string;
  userId: string;
  method: ChallengeMethod;
  attempts: number;
  maxAttempts: number;
  createdAt: number;
  expiresAt: number;
  verifiedAt: number | null;
};

export interface ChallengeRepository {
  create(row: Omit<ChallengeRow, 'attempts' | 'verifiedAt'>, audit: AuditInput): Promise<void>;
  get(id: string): Promise<ChallengeRow | null>;
  /** Counts one attempt if the challenge is still open (unverified, unexpired, attempts left). */
  chargeAttempt(id: string, now: number): Promise<boolean>;
  /** Marks it verified, once: false if it already was. */
  markVerified(id: string, now: number): Promise<boolean>;
}

export type RecoveryStatus = 'pending' | 'approved' | 'expired';
export type RecoveryRow = {
  id: string;
  userId: string;
  reason: string;
  status: RecoveryStatus;
  createdAt: number;
  expiresAt: number;
  approvedAt: number | null;
  approvedBy: string | null;
};

export interface RecoveryRepository {
  /** Creates a pending request; false while the user already has one pending and unexpired. */
  create(row: Omit<RecoveryRow, 'status' | 'approvedAt' | 'approvedBy'>, audit: AuditInput): Promise<boolean>;
  get(id: string): Promise<RecoveryRow | null>;
  /**
   * Approves a pending, unexpired request and resets the user's factors in the same transaction
   * (TOTP credential deleted, backup codes and open challenges voided, 2FA off, lockout cleared).
   * Returns the request as it was before, or null when it was not pending and unexpired then.
   */
  approve(id: string, approvedBy: string, now: number, audit: (r: RecoveryRow) => AuditInput): Promise<RecoveryRow | null>;
}

export type PreferredMethod = 'totp' | 'email' | 'sms';
export type UserConfigRow = {
  userId: string;
  preferredMethod: PreferredMethod;
  email: string | null;
  phone: string | null;
  createdAt: number;
  updatedAt: number;
};
export type UserConfigPatch = Partial<Pick<UserConfigRow, 'preferredMethod' | 'email' | 'phone'>>;

export interface UserConfigRepository {
  get(userId: string): Promise<UserConfigRow | null>;
  /** Inserts; false when the user already has a configuration. */
  create(row: UserConfigRow, audit: AuditInput): Promise<boolean>;
  /** Applies the patch to the existing configuration, or creates it from `defaults`. */
  upsert(userId: string, patch: UserConfigPatch, defaults: Omit<UserConfigRow, 'userId' | 'createdAt' | 'updatedAt'>, now: number, audit: AuditInput): Promise<UserConfigRow>;
}

/** A value sealed with a data key, and where it lives (what its AAD is derived from). */
export type SealedValue = { table: 'totp_credentials'; id: number; kind: CredentialKind; userId: string | null; keyId: string; blob: Buffer };

export interface SealedValueRepository {
  /**
   * Re-seals every sealed value in ONE transaction that both reads and writes, so a value
   * replaced meanwhile cannot be overwritten by a stale copy. `reseal` returns the new sealing,
   * or null to leave a value as it is. Throws (changing nothing) if `reseal` throws for any.
   */
  resealAll(reseal: (v: SealedValue) => { keyId: string; blob: Buffer } | null, audit: (changed: number) => AuditInput): Promise<{ examined: number; changed: number }>;
  /** How many sealed values each data key id seals (a scan of every value: for a refusal's message). */
  countByKey(): Promise<{ keyId: string; count: number }[]>;
  /** The data key ids that seal at least one value, sorted (index seeks: cheap enough for /health). */
  keyIds(): Promise<string[]>;
}
