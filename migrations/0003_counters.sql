-- Per-collector request counters, in hourly buckets (issue 8: GET /admin/stats).
-- Counters are metrics, not records: each isolate buffers its counts and flushes them
-- after the response (ctx.waitUntil), so an evicted isolate can lose a few seconds' counts.
CREATE TABLE counters (
  scope TEXT NOT NULL,                 -- 'collector'
  subject TEXT NOT NULL,               -- the collector name
  metric TEXT NOT NULL,                -- 'accepted', 'duplicate' or the refusal's error code
  hour INTEGER NOT NULL,               -- Unix seconds at the start of the hour
  count INTEGER NOT NULL,
  PRIMARY KEY (scope, subject, metric, hour)
);
CREATE INDEX counters_hour ON counters (hour);
