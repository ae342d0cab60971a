-- Used request signatures keyed by the time they were made, then the signature (issue 5).
-- Keyed by the signature alone (a random 64-character string), every accepted signed request
-- wrote a random page of a B-tree as large as the window's worth of requests, and a second page
-- for the expiry index. Keyed by (signed_at, signature), new rows go to the same few pages at
-- the end of the tree, and forgetting old ones is a range delete on the key itself. It is the
-- same guarantee: a signature covers its X-Timestamp, so the same signature always comes with
-- the same signed_at, and is refused the second time by the primary key.
--
-- The rows of the old table were keyed by an expiry computed with the window of the time; they
-- are kept as they are, and checked as well until the last of them has expired
-- (repositories/signatures.ts), so an upgrade does not reopen a signature used minutes before.
ALTER TABLE used_signatures RENAME TO used_signatures_legacy;
CREATE TABLE used_signatures (
  signed_at INTEGER NOT NULL, -- X-Timestamp, unix seconds
  signature BLOB    NOT NULL, -- the 32 bytes of X-Signature
  PRIMARY KEY (signed_at, signature)
) WITHOUT ROWID;
