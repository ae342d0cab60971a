-- The data key ids that seal stored secrets, found by a few index seeks rather than a scan of
-- every credential (GET /health asks on every call: a process that lacks one of them can open
-- none of the values it seals, see sealed-values.ts). Verifications never change key_id, so
-- their UPDATEs do not touch this index; enrolments and key rotations do.
CREATE INDEX totp_credentials_by_key ON totp_credentials (key_id);
