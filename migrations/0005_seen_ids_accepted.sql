-- Idempotency claims: a row is written (accepted_at NULL) before the webhook is queued
-- and confirmed (accepted_at set, expiry pushed to the dedupe window) once it is, so a
-- webhook whose queueing failed is never remembered as seen.
ALTER TABLE seen_ids ADD COLUMN accepted_at INTEGER;
