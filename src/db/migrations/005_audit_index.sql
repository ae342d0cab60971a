-- audit_events_by_at answered no query: GET /audit pages by id (audit_events_by_user,
-- audit_events_by_event) and the stats count by event and time (audit_events_by_event_at).
-- Every verification writes an audit row, and each secondary index is one more B-tree to
-- update per insert (issue 5: ~73 µs per insert with the four indexes, ~24 µs without any).
DROP INDEX IF EXISTS audit_events_by_at;
