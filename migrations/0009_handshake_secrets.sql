-- Secrets a provider gives in its handshake (Asana's X-Hook-Secret, Notion's
-- verification_token; docs/PROVIDERS.md#handshakes), sealed with MASTER_KEY (associated
-- data "handshake_secrets:<collector>"). The first handshake of a collector wins; later
-- requests must be signed with it. DELETE /admin/handshakes/{collector} forgets it.
CREATE TABLE handshake_secrets (
  collector TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  secret_sealed TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
