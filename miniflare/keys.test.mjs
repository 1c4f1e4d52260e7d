// API keys end to end: issued through the admin API, hashed in D1, accepted by
// /keys/test and an api-key collector, refused the moment they are revoked (collectors: at
// once in the isolate that revoked the key, within 10 s in others; src/store/api_keys.rs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { start, TEST_SECRETS } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start();
});
after(() => eh?.dispose());

const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };

async function call(path, { method = "GET", headers = {}, body } = {}) {
  const r = await eh.fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

async function issue(fields) {
  const r = await call("/admin/keys", { method: "POST", headers: admin, body: fields });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

const nowSecs = () => Math.floor(Date.now() / 1000);

test("the_admin_api_requires_the_admin_token", async () => {
  assert.equal((await call("/admin/keys")).body.error.code, "missing_admin_token");
  const wrong = await call("/admin/keys", { headers: { authorization: "Bearer nope" } });
  assert.deepEqual([wrong.status, wrong.body.error.code], [401, "invalid_admin_token"]);
  const put = await call("/admin/keys", { method: "PUT", headers: admin });
  assert.equal(put.status, 405);
});

test("an_issued_key_is_shown_once_and_stored_only_as_its_hash", async () => {
  const k = await issue({ name: "scraper", email: "ops@example.com", scopes: ["scrape"], ttl_days: 7 });
  assert.match(k.key, /^ehk_[A-Za-z0-9_-]{43}$/);
  assert.equal(k.not_after - k.not_before, 7 * 86400);
  assert.equal(k.status, "active");
  const rows = (await (await eh.db()).prepare("SELECT * FROM api_keys").all()).results;
  const row = rows.find((r) => r.id === k.id);
  assert.equal(row.hash, createHash("sha256").update(k.key).digest("hex"));
  assert.ok(!JSON.stringify(rows).includes(k.key), "plaintext key stored in D1");
  const listed = await call("/admin/keys", { headers: admin });
  const mine = listed.body.keys.find((x) => x.id === k.id);
  assert.equal(mine.name, "scraper");
  assert.equal(mine.key, undefined);
  assert.equal(mine.hash, undefined);
});

test("a_key_works_on_keys_test_and_a_collector_then_stops_the_moment_it_is_revoked", async () => {
  const k = await issue({ name: "feeder", scopes: ["scrape"] });
  const t1 = await call("/keys/test", { headers: { "x-apikey": k.key } });
  assert.deepEqual([t1.status, t1.body.valid, t1.body.name, t1.body.expires_at], [200, true, "feeder", k.not_after]);
  const t2 = await call("/keys/test", { headers: { authorization: `Bearer ${k.key}` } });
  assert.equal(t2.status, 200);

  const hook = (body) =>
    eh.fetch("/hooks/scraper", { method: "POST", headers: { "x-apikey": k.key, "content-type": "application/json" }, body });
  const accepted = await hook('{"scraped":1}');
  assert.equal(accepted.status, 202);
  await eh.until(async () => (await eh.lines("collectors/scraper/")).some((l) => l.scraped === 1), 15000, "scraped record");

  const used = (await call("/admin/keys", { headers: admin })).body.keys.find((x) => x.id === k.id);
  assert.ok(used.last_used_at >= k.created_at);

  const revoked = await call(`/admin/keys/${k.id}`, { method: "DELETE", headers: admin });
  assert.deepEqual([revoked.status, revoked.body.status], [200, "revoked"]);
  const t3 = await call("/keys/test", { headers: { "x-apikey": k.key } });
  assert.deepEqual([t3.status, t3.body.error.code], [401, "revoked_key"]);
  const refused = await hook('{"scraped":2}');
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.code, "revoked_key");
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(!(await eh.lines("collectors/scraper/")).some((l) => l.scraped === 2));
});

test("expired_pending_unknown_and_unscoped_keys_are_refused_with_their_reason", async () => {
  const expired = await issue({ name: "old", scopes: ["scrape"], ttl_days: 1, not_before: nowSecs() - 2 * 86400 });
  const pending = await issue({ name: "later", scopes: ["scrape"], not_before: nowSecs() + 3600 });
  const unscoped = await issue({ name: "reader", scopes: ["read"] });
  const cases = [
    [{ "x-apikey": expired.key }, 401, "expired_key"],
    [{ "x-apikey": pending.key }, 401, "key_not_yet_valid"],
    [{ "x-apikey": "ehk_" + "A".repeat(43) }, 401, "unknown_key"],
    [{ "x-apikey": "not-even-a-key" }, 401, "unknown_key"],
    [{}, 400, "missing_header"],
  ];
  for (const [headers, status, code] of cases) {
    const r = await call("/keys/test", { headers });
    assert.deepEqual([r.status, r.body.error.code], [status, code], JSON.stringify(headers));
  }
  const r = await eh.fetch("/hooks/scraper", {
    method: "POST",
    headers: { "x-apikey": unscoped.key, "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(r.status, 403);
  assert.equal((await r.json()).error.code, "insufficient_scope");
});

test("key_requests_are_validated", async () => {
  const tooLong = await call("/admin/keys", { method: "POST", headers: admin, body: { name: "x", ttl_days: 366 } });
  assert.deepEqual([tooLong.status, tooLong.body.error.code], [422, "invalid_request"]);
  const noName = await call("/admin/keys", { method: "POST", headers: admin, body: { scopes: [] } });
  assert.equal(noName.status, 422);
  const notJson = await eh.fetch("/admin/keys", { method: "POST", headers: admin, body: "{" });
  assert.equal(notJson.status, 400);
  const unknown = await call("/admin/keys/key_nope", { method: "DELETE", headers: admin });
  assert.deepEqual([unknown.status, unknown.body.error.code], [404, "unknown_key"]);
});

test("a_failing_database_answers_503_never_401", async () => {
  // No migrations: every api_keys query fails, as when D1 is down.
  const broken = await start({ migrate: false });
  try {
    const key = "ehk_" + "B".repeat(43);
    for (const [path, init] of [
      ["/keys/test", { headers: { "x-apikey": key } }],
      ["/hooks/scraper", { method: "POST", headers: { "x-apikey": key, "content-type": "application/json" }, body: "{}" }],
    ]) {
      const r = await broken.fetch(path, init);
      assert.equal(r.status, 503, path);
      assert.ok(Number(r.headers.get("retry-after")) > 0, path);
      assert.equal((await r.json()).error.code, "unavailable", path);
    }
  } finally {
    await broken.dispose();
  }
});
