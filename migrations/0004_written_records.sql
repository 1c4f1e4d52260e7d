-- Which NDJSON object each record was written to, claimed before the object is put.
-- A record redelivered in a different queue batch is skipped when its object exists,
-- so it is never written twice (docs/SECURITY.md, "Exactly once").
CREATE TABLE written_records (
  record_id TEXT PRIMARY KEY,
  object_key TEXT NOT NULL,
  claimed_at INTEGER NOT NULL
);
CREATE INDEX written_records_claimed ON written_records (claimed_at);
