// The storage interfaces the services depend on. They are async so that an adapter for a
// networked database (PostgreSQL) can slot in; the SQLite one answers at once. A method that
// changes state is atomic on its own and writes the audit event it is given in the same
// transaction, so no caller needs a transaction that spans an await.

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
  /** Replaces the service seed (or sets the first one); the old one or the new one, never neither. */
  replaceService(input: NewCredential, now: number, audit: AuditInput): Promise<void>;
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
  /** Records a signature as used until `expiresAt`; false if it was used already. */
  claim(signature: string, expiresAt: number, now: number): Promise<boolean>;
}

export interface AuditRepository {
  append(event: AuditInput): Promise<void>;
  list(query: AuditQuery): Promise<AuditRow[]>;
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
   * One transaction: writes `result`; on success clears the failures, the lockout count and any
   * lock; on failure keeps the charge and locks (writing `lockout`) once `threshold` is reached.
   */
  settleAttempt(userId: string, ok: boolean, now: number, policy: LockoutPolicy, audits: { result: AuditInput; lockout: AuditInput }): Promise<{ lockedUntil: number | null }>;
}

export interface Store {
  credentials: CredentialRepository;
  signatures: SignatureRepository;
  audit: AuditRepository;
  users: UserRepository;
  /** True when the database answers a trivial query. */
  ping(): Promise<boolean>;
  close(): void;
}
