-- Replays (POST /admin/replay): archived records of a collector published again as
-- events, in bounded steps driven by DELIVERIES messages. A replay's row is its whole
-- state: what it replays (collector, [range_from, range_to) of batch write times, event
-- type, the subscriptions fixed when it was created), how far it got (the cursor: the
-- batch's write time and key, and the next line in it) and its counts. A step moves the
-- cursor only if it still holds the value the step read, in the same D1 transaction as
-- the results it publishes, so a step repeated or resumed never counts or publishes twice.
CREATE TABLE replays (
  id TEXT PRIMARY KEY,
  idempotency_key TEXT UNIQUE,
  collector TEXT NOT NULL,
  range_from INTEGER NOT NULL,
  range_to INTEGER NOT NULL,
  event_type TEXT NOT NULL,
  subscriptions TEXT NOT NULL,          -- JSON array of subscription ids
  listed INTEGER NOT NULL,              -- 1: the request listed them, 0: every subscriber then
  status TEXT NOT NULL,                 -- 'running', 'completed' or 'failed'
  cursor_at INTEGER,                    -- created_at of the batch being read (NULL: not started)
  cursor_key TEXT,                      -- key of that batch
  cursor_line INTEGER NOT NULL DEFAULT 0, -- the next line to read in it
  batches INTEGER NOT NULL DEFAULT 0,   -- batches read to their end
  published INTEGER NOT NULL DEFAULT 0, -- records published as events
  skipped INTEGER NOT NULL DEFAULT 0,   -- records that could not be (not an object, object gone)
  deliveries INTEGER NOT NULL DEFAULT 0,-- results created for them
  steps INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0, -- steps failed in a row (10: the replay fails)
  error TEXT,                           -- what the last failed step said
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE INDEX replays_created ON replays (created_at);
CREATE INDEX replays_running ON replays (status, updated_at);
