-- The digest of the body a webhook id was first seen with, so that the same id sent
-- again with a different body is refused (422 idempotency_key_reused) instead of being
-- answered as a duplicate. Rows from before this column (NULL) compare as unknown and
-- keep the old answer.
ALTER TABLE seen_ids ADD COLUMN body_digest TEXT;
