-- Flow control of each subscription (docs/DISPATCH.md "Flow control"): its settings as
-- JSON (rate_limit, max_in_flight, breaker, disable_after_hours; NULL = the defaults) and
-- whether it holds its deliveries, disabled by a failure streak until re-enabled.
ALTER TABLE subscriptions ADD COLUMN flow TEXT;
ALTER TABLE subscriptions ADD COLUMN holding INTEGER NOT NULL DEFAULT 0;
CREATE INDEX results_held ON results (subscription_id, status);
-- The ordering key of a result whose subscription orders by key (FIFO per key).
ALTER TABLE results ADD COLUMN ordering_key TEXT;
