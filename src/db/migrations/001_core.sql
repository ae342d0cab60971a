-- One TOTP credential model for the service seed (kind 'service', at most one) and users'
-- secrets (kind 'user', one per user). Secrets are AES-256-GCM sealed; key_id names the data key.
CREATE TABLE totp_credentials (
  id          INTEGER PRIMARY KEY,
  kind        TEXT    NOT NULL CHECK (kind IN ('service', 'user')),
  user_id     TEXT,
  secret_blob BLOB    NOT NULL,
  key_id      TEXT    NOT NULL,
  algorithm   TEXT    NOT NULL DEFAULT 'SHA1' CHECK (algorithm IN ('SHA1', 'SHA256', 'SHA512')),
  digits      INTEGER NOT NULL DEFAULT 6,
  period      INTEGER NOT NULL DEFAULT 30,
  status      TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('pending', 'active')),
  -- Replay protection (RFC 6238 section 5.2): a code is accepted only for a step above this one,
  -- claimed with a conditional UPDATE, so it holds across requests, restarts and processes.
  last_step   INTEGER,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  CHECK ((kind = 'service') = (user_id IS NULL))
);
CREATE UNIQUE INDEX totp_credentials_one_service ON totp_credentials (kind) WHERE kind = 'service';
CREATE UNIQUE INDEX totp_credentials_by_user ON totp_credentials (user_id) WHERE user_id IS NOT NULL;

-- Request signatures accepted once: the primary key is the guarantee, expires_at lets old rows go.
CREATE TABLE used_signatures (
  signature  TEXT    PRIMARY KEY,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX used_signatures_by_expiry ON used_signatures (expires_at);

-- Never holds a secret or a code: who, what, the outcome, from where, when.
CREATE TABLE audit_events (
  id      INTEGER PRIMARY KEY,
  user_id TEXT,
  event   TEXT    NOT NULL,
  success INTEGER NOT NULL CHECK (success IN (0, 1)),
  reason  TEXT,
  ip      TEXT,
  at      INTEGER NOT NULL
);
CREATE INDEX audit_events_by_user ON audit_events (user_id, id);
CREATE INDEX audit_events_by_event ON audit_events (event, id);
CREATE INDEX audit_events_by_at ON audit_events (at);
