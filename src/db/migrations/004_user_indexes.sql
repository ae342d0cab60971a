-- Indexes for the counts of GET /analytics/stats: TOTP enrolments by state, and verification
-- events since a time (event IN (...) AND at >= ?), which audit_events_by_event (event, id)
-- could only answer by reading every event of each name.
CREATE INDEX totp_credentials_by_status ON totp_credentials (kind, status);
CREATE INDEX audit_events_by_event_at ON audit_events (event, at);
