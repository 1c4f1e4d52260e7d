-- The operator's window (issue 23). The delivery inspector (GET /admin/deliveries/{id}): each
-- attempt's exchange as JSON (URL, request headers with secrets masked, the answer's headers
-- and first 4 KiB); the record browser's lookup of the records of one object; the
-- deliveries chart's scan of attempts by time.
ALTER TABLE delivery_attempts ADD COLUMN exchange TEXT;
CREATE INDEX written_records_object ON written_records (object_key);
CREATE INDEX delivery_attempts_attempted ON delivery_attempts (attempted_at);
