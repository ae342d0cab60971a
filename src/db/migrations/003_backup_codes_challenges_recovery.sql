-- Per-user factors beside the TOTP credential: backup codes, challenges, recovery requests and
-- each user's contact configuration. user_id follows API.md (1 to 128 of [A-Za-z0-9._@-]).

-- One set of backup codes per user. The salt is per set so that a check costs one scrypt
-- (otp/backup-codes.ts); a new set replaces the row and, by cascade, every old code.
CREATE TABLE backup_code_sets (
  user_id      TEXT    PRIMARY KEY,
  salt         BLOB    NOT NULL,
  generated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Only salted scrypt hashes, never a code. used_at is claimed with a conditional UPDATE
-- (... WHERE used_at IS NULL), so two racing uses of one code give exactly one success.
CREATE TABLE backup_codes (
  user_id   TEXT    NOT NULL REFERENCES backup_code_sets (user_id) ON DELETE CASCADE,
  position  INTEGER NOT NULL,
  code_hash BLOB    NOT NULL,
  used_at   INTEGER,
  PRIMARY KEY (user_id, position)
) WITHOUT ROWID;
-- The verification lookup: the user's row with this hash.
CREATE UNIQUE INDEX backup_codes_by_hash ON backup_codes (user_id, code_hash);

-- A challenge: "prove it now with this method", for a bounded time and number of attempts.
-- attempts is charged with a conditional UPDATE (attempts < max_attempts) before the code is
-- checked; verified_at is set once, conditionally, so a challenge cannot be verified twice.
CREATE TABLE challenges (
  id           TEXT    PRIMARY KEY,
  user_id      TEXT    NOT NULL,
  method       TEXT    NOT NULL CHECK (method IN ('totp', 'backup_code')),
  attempts     INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  verified_at  INTEGER
) WITHOUT ROWID;
CREATE INDEX challenges_by_user ON challenges (user_id);
CREATE INDEX challenges_by_expiry ON challenges (expires_at);

-- Account recovery, approved by an operator. At most one pending request per user (the partial
-- unique index), so an old forgotten request cannot wipe factors enrolled after a recovery.
CREATE TABLE recovery_requests (
  id          TEXT    PRIMARY KEY,
  user_id     TEXT    NOT NULL,
  reason      TEXT    NOT NULL,
  status      TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'expired')),
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER NOT NULL,
  approved_at INTEGER,
  approved_by TEXT
) WITHOUT ROWID;
CREATE UNIQUE INDEX recovery_requests_one_pending ON recovery_requests (user_id) WHERE status = 'pending';
CREATE INDEX recovery_requests_by_user ON recovery_requests (user_id, created_at);

-- How a user prefers to be reached. Contact details, never a secret.
CREATE TABLE user_configs (
  user_id          TEXT    PRIMARY KEY,
  preferred_method TEXT    NOT NULL CHECK (preferred_method IN ('totp', 'email', 'sms')),
  email            TEXT,
  phone            TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL
) WITHOUT ROWID;
