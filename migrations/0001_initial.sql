-- edgehook's D1 schema. Times are Unix seconds unless a column says otherwise.

-- API keys (PTTH scraper keys): only the SHA-256 of the plaintext key is kept.
CREATE TABLE api_keys (
  hash TEXT PRIMARY KEY,               -- hex SHA-256 of the plaintext key
  id TEXT NOT NULL UNIQUE,             -- public id used by the admin API
  name TEXT NOT NULL,
  email TEXT NOT NULL DEFAULT '',
  scopes TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
  not_before INTEGER NOT NULL,
  not_after INTEGER NOT NULL,
  revoked_at INTEGER,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER
);
CREATE INDEX api_keys_not_after ON api_keys (not_after);

-- Subscribers of dispatched events. Secrets are AES-256-GCM ciphertexts under MASTER_KEY.
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  events TEXT NOT NULL DEFAULT '[]',   -- JSON array of event types
  headers TEXT NOT NULL DEFAULT '{}',  -- JSON object sent with every delivery
  api_key_enc TEXT NOT NULL,           -- signs deliveries (HMAC-SHA256)
  previous_api_key_enc TEXT,           -- still signed with during a rotation's grace period
  previous_valid_until INTEGER,
  enabled INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Fan-out lookup: which subscriptions receive an event type.
CREATE TABLE subscription_events (
  event_type TEXT NOT NULL,
  subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
  PRIMARY KEY (event_type, subscription_id)
);

-- AMO service accounts: one per subscription, for PATCHing results with a JWT.
CREATE TABLE service_accounts (
  jwt_key TEXT PRIMARY KEY,            -- the JWT `iss`
  subscription_id TEXT NOT NULL UNIQUE REFERENCES subscriptions (id) ON DELETE CASCADE,
  jwt_secret_enc TEXT NOT NULL,        -- HS256 secret, encrypted
  created_at INTEGER NOT NULL
);

-- One result per (event, subscription): the delivery's state and the scanner's answer.
CREATE TABLE results (
  id TEXT PRIMARY KEY,
  event_id TEXT NOT NULL,
  event_type TEXT NOT NULL,
  subscription_id TEXT NOT NULL,
  payload TEXT NOT NULL,               -- the event payload as published
  status TEXT NOT NULL DEFAULT 'pending',
  results TEXT,                        -- JSON the subscriber answered or PATCHed
  matched_rules TEXT,                  -- JSON array
  flagged INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX results_status ON results (status, next_attempt_at);
CREATE INDEX results_event ON results (event_id);

-- Every delivery attempt.
CREATE TABLE delivery_attempts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  result_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  status_code INTEGER,
  duration_ms INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  error TEXT,
  attempted_at INTEGER NOT NULL,
  UNIQUE (result_id, attempt)
);

-- AMO scanner rules: a matched rule's action runs when the rule is enabled.
CREATE TABLE rules (
  name TEXT PRIMARY KEY,
  action TEXT NOT NULL,                -- 'flag' | 'notify'
  enabled INTEGER NOT NULL DEFAULT 1,
  updated_at INTEGER NOT NULL
);

-- Webhook ids seen within the dedupe window.
CREATE TABLE seen_ids (
  collector TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  record_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (collector, webhook_id)
);
CREATE INDEX seen_ids_expires ON seen_ids (expires_at);

-- JWT ids already used (PATCH tokens are accepted once).
CREATE TABLE jwt_nonces (
  jti TEXT PRIMARY KEY,
  issuer TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX jwt_nonces_expires ON jwt_nonces (expires_at);

-- NDJSON objects written to R2.
CREATE TABLE batches (
  key TEXT PRIMARY KEY,
  collector TEXT NOT NULL,
  records INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX batches_collector ON batches (collector, created_at);
