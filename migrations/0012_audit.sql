-- The admin audit log (GET /admin/audit): every request that would change something
-- through the admin API (any method but GET and HEAD), once its caller was known, with
-- who (the Access email, or "admin token"), their role, what (method, path, the route's
-- pattern), the answer's status, when and from which address (CF-Connecting-IP).
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  via TEXT NOT NULL,                   -- 'access' or 'token'
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  route TEXT NOT NULL,
  status INTEGER NOT NULL,
  ip TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
