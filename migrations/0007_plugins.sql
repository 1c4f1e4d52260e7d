-- Plugins uploaded at runtime (docs/PLUGINS.md): one row per version of a plugin. The
-- version is the SHA-256 of the bundle; its modules are in R2 under
-- plugins/<name>/<version>/<module>. At most one version of a name is active: the one a
-- `wasm` step or a `transform` without a pinned version runs.
CREATE TABLE plugin_versions (
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  size INTEGER NOT NULL,
  main TEXT NOT NULL,
  modules TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  active INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (name, version)
);
CREATE INDEX plugin_versions_active ON plugin_versions (name, active);
-- A subscription's `transform`: the plugin (active version) that rewrites each delivery's
-- payload before it is signed and sent.
ALTER TABLE subscriptions ADD COLUMN transform TEXT;
