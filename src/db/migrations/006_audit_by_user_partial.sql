-- Service-seed events (seed.verify on every POST /verify-2fa and /otp/verify, seed.set) have no
-- user: they need no entry in the per-user index, which GET /audit?user_id= reads with
-- `user_id = ?` (a condition that implies the index's own, so SQLite still uses it). One B-tree
-- page fewer written per service-seed verification (issue 5).
DROP INDEX IF EXISTS audit_events_by_user;
CREATE INDEX audit_events_by_user ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
