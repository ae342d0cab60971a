-- Users of the per-user half of API.md. A user's TOTP secret lives in totp_credentials (kind
-- 'user'); this row holds what spans every method: whether 2FA is on, and the lockout state.
-- Times are milliseconds since the epoch, like the rest of the schema.
CREATE TABLE users (
  user_id         TEXT    PRIMARY KEY,
  enabled         INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
  -- Consecutive failures, charged before a code is checked (so in-flight guesses count).
  failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
  -- While in the future, every verification is refused (429 ACCOUNT_LOCKED).
  locked_until    INTEGER,
  -- Lockouts since the last success: the next one lasts base * 2^lockout_count, capped.
  lockout_count   INTEGER NOT NULL DEFAULT 0 CHECK (lockout_count >= 0),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
-- /analytics/stats counts enabled users and active lockouts.
CREATE INDEX users_enabled ON users (enabled) WHERE enabled = 1;
CREATE INDEX users_locked_until ON users (locked_until) WHERE locked_until IS NOT NULL;

-- POST /generate: one-time codes handed to the caller for delivery. Only a keyed hash of the
-- code is kept (HMAC-SHA256 under a key derived from the data key named by key_id), so a copy
-- of the database does not give the codes away even though six digits are easy to enumerate.
CREATE TABLE one_time_codes (
  id         INTEGER PRIMARY KEY,
  user_id    TEXT    NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
  code_hash  BLOB    NOT NULL,
  key_id     TEXT    NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  -- Set once, by a conditional UPDATE: the code works once even when two requests race.
  used_at    INTEGER
);
-- POST /verify looks a code up by user and hash.
CREATE INDEX one_time_codes_by_user ON one_time_codes (user_id, code_hash);
CREATE INDEX one_time_codes_by_expiry ON one_time_codes (expires_at);
