-- Dispatch bookkeeping beyond 0001: where a manual retry restarts the schedule, the last
-- error of a result, and the delay each failed attempt scheduled.
ALTER TABLE results ADD COLUMN retry_base INTEGER NOT NULL DEFAULT 0;
ALTER TABLE results ADD COLUMN last_error TEXT;
ALTER TABLE delivery_attempts ADD COLUMN retry_in_secs INTEGER;
CREATE INDEX results_subscription ON results (subscription_id, updated_at);
