-- Retention (dispatch.retention_days): the cron finds finished results by their last
-- change, oldest first, without scanning the table.
CREATE INDEX results_updated ON results (updated_at);
