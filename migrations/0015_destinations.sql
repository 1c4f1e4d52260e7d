-- Destinations beyond HTTP (docs/DISPATCH.md#destinations-beyond-http): a subscription's
-- queue, R2 prefix or service binding, as JSON {kind, binding, prefix?, path?}; its `url`
-- is then '' (the column is NOT NULL since 0001).
ALTER TABLE subscriptions ADD COLUMN destination TEXT;
