-- AMO's review of flagged results (POST /admin/results/{id}/review): the decision
-- (`approve` keeps the flag, `clear` lifts it), why, who and when.
ALTER TABLE results ADD COLUMN review_decision TEXT;
ALTER TABLE results ADD COLUMN review_reason TEXT;
ALTER TABLE results ADD COLUMN reviewed_by TEXT;
ALTER TABLE results ADD COLUMN reviewed_at INTEGER;
CREATE INDEX results_flagged ON results (flagged, updated_at);
