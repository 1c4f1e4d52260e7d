// Operator surface: /openapi.json is served and every route it documents exists in the
// built worker; one JSON log line per request; counters per collector at /admin/stats,
// written off the response path; subscription counts from `results`; /admin/batches.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { start, root, testConfig, TEST_SECRETS } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start();
});
after(() => eh?.dispose());

const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
const body = '{"hello":"operator"}';

async function get(p, headers = admin) {
  const r = await eh.fetch(p, { headers });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

/** The JSON log lines of the worker with `request_id` (one per request). */
const requestLogs = () =>
  eh.logs
    .map((l) => {
      try {
        return JSON.parse(l.slice(l.indexOf("{")));
      } catch {
        return null;
      }
    })
    .filter((l) => l && l.request_id);

test("openapi_json_is_served_with_this_deployments_url", async () => {
  const r = await get("/openapi.json", {});
  assert.equal(r.status, 200);
  assert.equal(r.body.openapi, "3.1.0");
  assert.deepEqual(r.body.servers, [{ url: "http://edgehook.test" }]);
  const onDisk = JSON.parse(readFileSync(path.join(root, "docs/openapi.json"), "utf8"));
  assert.deepEqual(Object.keys(r.body.paths), Object.keys(onDisk.paths));
});

test("every_documented_route_exists_in_the_built_worker", async () => {
  const doc = JSON.parse(readFileSync(path.join(root, "docs/openapi.json"), "utf8"));
  const sample = { collector: "open", rest: "a/b", id: "key_nonexistent" };
  let checked = 0;
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) {
      const url = p.replace(/\{(\w+)\}/g, (_, n) => sample[n] ?? "x");
      const init = { method: method.toUpperCase(), headers: { ...admin, "content-type": "application/json" }, redirect: "manual" };
      if (!["GET", "HEAD", "DELETE"].includes(init.method)) init.body = '{"name":"route-check"}';
      const r = await eh.fetch(url, init);
      const text = await r.text();
      let code = null;
      try {
        code = JSON.parse(text).error?.code ?? null;
      } catch {}
      assert.notEqual(code, "not_found", `${method.toUpperCase()} ${url} is documented but not routed`);
      // A collector answers GET only with a provider's handshake and OPTIONS only as a CORS
      // preflight (docs/PROVIDERS.md, docs/CONFIG.md); "open" has neither, so both are a
      // routed 405 naming POST, which handshakes.test.mjs and cors.test.mjs go beyond.
      if (p.startsWith("/hooks/") && ["get", "options"].includes(method)) {
        assert.equal(code, "method_not_allowed", `${method.toUpperCase()} ${url}: ${text}`);
        assert.match(text, /use POST/);
      } else {
        assert.notEqual(r.status, 405, `${method.toUpperCase()} ${url}: ${text}`);
      }
      checked++;
    }
  }
  assert.ok(checked >= 12, `only ${checked} operations checked`);
});

test("the_admin_page_is_served_with_a_strict_policy", async () => {
  const r = await eh.fetch("/admin/");
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/html/);
  const csp = r.headers.get("content-security-policy");
  assert.match(csp, /default-src 'none'.*connect-src 'self'/);
  // No inline code runs: script and style come from this origin's files only.
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|unsafe-hashes/);
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /style-src 'self';/);
  const html = await r.text();
  assert.match(html, /<title>edgehook admin<\/title>/);
  assert.doesNotMatch(html, /<script>|<style>|\sstyle=|\son[a-z]+=/, "the page holds no inline script, style or handler");
  assert.match(html, /<script src="\/admin\/page.js"><\/script>/);
  for (const [file, type, text] of [["page.js", /^text\/javascript/, /function signIn\(/], ["common.js", /^text\/javascript/, /function el\(/], ["page.css", /^text\/css/, /#key-ttl/]]) {
    const asset = await eh.fetch(`/admin/${file}`);
    assert.equal(asset.status, 200, file);
    assert.match(asset.headers.get("content-type"), type);
    assert.equal(asset.headers.get("x-content-type-options"), "nosniff");
    assert.match(await asset.text(), text);
  }
  const redirect = await eh.fetch("/admin", { redirect: "manual" });
  assert.deepEqual([redirect.status, redirect.headers.get("location")], [308, "/admin/"]);
  await redirect.arrayBuffer();
  const post = await eh.fetch("/admin/", { method: "POST" });
  assert.equal(post.status, 405);
  await post.arrayBuffer();
});

test("each_request_logs_one_json_line_with_id_route_collector_outcome_status_duration", async () => {
  const before = requestLogs().length;
  const ok = await eh.postSigned("amo", body);
  const { id } = await ok.json();
  const bad = await eh.postSigned("amo", body, "wrong-key");
  await bad.arrayBuffer();
  await eh.until(() => requestLogs().length >= before + 2, 5000, "two log lines");
  const [accepted, refused] = requestLogs().slice(before);
  for (const l of [accepted, refused]) {
    assert.equal(typeof l.request_id, "string");
    assert.equal(l.route, "/hooks/{collector}");
    assert.equal(l.collector, "amo");
    assert.equal(l.method, "POST");
    assert.equal(typeof l.duration_ms, "number");
  }
  assert.deepEqual([accepted.outcome, accepted.status], ["accepted", 202]);
  assert.deepEqual([refused.outcome, refused.status], ["invalid_signature", 401]);
  // No secret, signature or payload value in any log line.
  const all = eh.logs.join("\n");
  for (const secret of [TEST_SECRETS.AMO_KEY, "operator", TEST_SECRETS.ADMIN_TOKEN]) assert.ok(!all.includes(secret), secret);
  assert.ok(id);
});

test("counters_are_written_after_the_response_and_read_at_admin_stats", async () => {
  const db = await eh.db();
  const countRows = async (scope = "collector") => (await db.prepare("SELECT COALESCE(SUM(count),0) AS n FROM counters WHERE scope = ?1 AND subject = 'gh'").bind(scope).first()).n;
  const sig = (await import("../scripts/lib/sign.mjs")).signGithub;
  for (let i = 0; i < 3; i++) {
    const r = await eh.fetch("/hooks/gh", { method: "POST", headers: { "content-type": "application/json", ...sig(TEST_SECRETS.GH_SECRET, body) }, body });
    assert.equal(r.status, 202);
    await r.arrayBuffer();
  }
  const refused = await eh.fetch("/hooks/gh", { method: "POST", headers: { "content-type": "text/plain" }, body });
  assert.equal(refused.status, 415);
  await refused.arrayBuffer();
  const unknown = await eh.postSigned("no-such-collector", body);
  await unknown.arrayBuffer();
  // The counts are still in the isolate: nothing was written on the response path.
  assert.equal(await countRows(), 0);

  const s = await get("/admin/stats");
  assert.equal(s.status, 200, JSON.stringify(s.body));
  assert.equal(s.body.hours, 24);
  const gh = s.body.collectors.find((c) => c.name === "gh");
  assert.deepEqual(
    [gh.accepted, gh.refused, gh.refused_by_code, gh.configured],
    [3, 1, { unsupported_media_type: 1 }, true],
  );
  // Every configured collector is listed; a name that is not a collector is not counted.
  assert.equal(s.body.collectors.length, testConfig().collectors.length);
  assert.equal(s.body.collectors.find((c) => c.name === "no-such-collector"), undefined);
  assert.equal(await countRows(), 4);
  // Each accepted webhook's latency is counted in its bucket (the charts' p50 and p95).
  assert.equal(await countRows("latency"), 3);
  // Flushing twice never double counts.
  const again = await get("/admin/stats");
  assert.equal(again.body.collectors.find((c) => c.name === "gh").accepted, 3);
});

test("a_filter_drop_counts_as_dropped_and_a_filter_reject_by_its_code", async () => {
  const post = async (b) => {
    const r = await eh.fetch("/hooks/sieve", { method: "POST", headers: { "content-type": "application/json" }, body: b });
    return [r.status, (await r.json()).status];
  };
  assert.deepEqual(await post('{"type":"ping"}'), [202, "dropped"]);
  assert.deepEqual(await post('{"type":"order.paid"}'), [202, "accepted"]);
  assert.deepEqual((await post("{}"))[0], 422);
  const sieve = (await get("/admin/stats")).body.collectors.find((c) => c.name === "sieve");
  assert.deepEqual([sieve.accepted, sieve.dropped, sieve.refused_by_code], [1, 1, { filtered: 1 }]);
  const line = requestLogs().find((l) => l.collector === "sieve" && l.outcome === "dropped");
  assert.equal(line.status, 202);
});

test("a_repeated_webhook_id_counts_as_duplicate", async () => {
  // "sw" checks ids before answering (`dedupe = "sync"`); for the default, where the
  // consumer counts the repeat, see dedupe.test.mjs.
  const { signStandardWebhooks } = await import("../scripts/lib/sign.mjs");
  const headers = { "content-type": "application/json", ...signStandardWebhooks(TEST_SECRETS.SW_SECRET, body, { id: "msg_dup_1" }) };
  const statuses = [];
  for (let i = 0; i < 2; i++) {
    const r = await eh.fetch("/hooks/sw", { method: "POST", headers, body });
    statuses.push([r.status, (await r.json()).status]);
  }
  assert.deepEqual(statuses, [[202, "accepted"], [200, "duplicate"]]);
  const sw = (await get("/admin/stats")).body.collectors.find((c) => c.name === "sw");
  assert.deepEqual([sw.accepted, sw.duplicate], [1, 1]);
});

test("admin_stats_validates_its_window_and_requires_the_admin_token", async () => {
  assert.equal((await get("/admin/stats", {})).status, 401);
  const bad = await get("/admin/stats?hours=0");
  assert.deepEqual([bad.status, bad.body.error.code], [400, "invalid_query"]);
  const typo = await get("/admin/stats?hour=2");
  assert.deepEqual([typo.status, typo.body.error.code], [400, "invalid_query"]);
  assert.equal((await get("/admin/stats?hours=720")).status, 200);
});

test("subscription_counts_come_from_the_results_table", async () => {
  const db = await eh.db();
  const now = Math.floor(Date.now() / 1000);
  await db.prepare("INSERT INTO subscriptions (id, name, url, api_key_enc, created_at, updated_at) VALUES ('sub_1','scanner','https://s.example','x',?1,?1)").bind(now).run();
  const statuses = ["completed", "completed", "deferred", "failed", "pending"];
  for (const [i, st] of statuses.entries()) {
    await db
      .prepare("INSERT INTO results (id, event_id, event_type, subscription_id, payload, status, created_at, updated_at) VALUES (?1,'ev','t','sub_1','{}',?2,?3,?3)")
      .bind(`res_${i}`, st, now)
      .run();
  }
  const s = await get("/admin/stats");
  const sub = s.body.subscriptions.find((x) => x.id === "sub_1");
  assert.deepEqual([sub.name, sub.delivered, sub.failed, sub.by_status.pending], ["scanner", 3, 1, 1]);
});

test("admin_batches_lists_written_objects_with_record_counts", async () => {
  const posted = [];
  for (let i = 0; i < 2; i++) {
    const r = await eh.fetch("/hooks/open/x", { method: "POST", headers: { "content-type": "application/json" }, body: `{"n":${i}}` });
    posted.push((await r.json()).id);
  }
  const listed = await eh.until(async () => {
    const r = await get("/admin/batches?collector=open");
    const total = r.body.batches.reduce((n, b) => n + b.records, 0);
    return total >= 2 && r;
  }, 15000, "batches of the open collector");
  assert.equal(listed.status, 200);
  const b = listed.body.batches[0];
  assert.equal(b.collector, "open");
  assert.match(b.key, /^collectors\/open\/dt=\d{4}-\d{2}-\d{2}\/hr=\d{2}\/[0-9a-f]+\.ndjson$/);
  const obj = await (await eh.bucket()).get(b.key);
  assert.equal((await obj.text()).trim().split("\n").length, b.records);
  assert.equal(Number.isInteger(b.bytes) && Number.isInteger(b.created_at), true);
  assert.deepEqual((await get("/admin/batches?collector=amo&limit=1")).body.batches.every((x) => x.collector === "amo"), true);
  for (const q of ["limit=0", "limit=501", "collector=a%20b", "before=soon", "colector=open"]) {
    const r = await get(`/admin/batches?${q}`);
    assert.deepEqual([r.status, r.body.error.code], [400, "invalid_query"], q);
  }
});

test("with_an_analytics_engine_binding_each_request_writes_one_data_point", async () => {
  const ae = await start({ analytics: true });
  try {
    const db = await ae.db();
    await db.prepare("CREATE TABLE ae_points (point TEXT NOT NULL)").run();
    const ok = await ae.postSigned("amo", body);
    assert.equal(ok.status, 202);
    await ok.arrayBuffer();
    const bad = await ae.postSigned("amo", body, "wrong-key");
    assert.equal(bad.status, 401);
    await bad.arrayBuffer();
    const points = await ae.until(async () => {
      const rows = (await db.prepare("SELECT point FROM ae_points").all()).results;
      return rows.length >= 2 && rows.map((r) => JSON.parse(r.point));
    }, 5000, "two data points");
    assert.deepEqual(points.map((p) => [p.indexes, p.blobs, p.doubles.slice(0, 2)]), [
      [["amo"], ["/hooks/{collector}", "amo", "accepted", "POST"], [1, 202]],
      [["amo"], ["/hooks/{collector}", "amo", "invalid_signature", "POST"], [1, 401]],
    ]);
  } finally {
    await ae.dispose();
  }
});

test("without_admin_token_every_admin_route_answers_403_admin_disabled", async () => {
  // Every operation the OpenAPI document secures with the admin token alone, and the
  // publisher routes when no API key is presented, answer 403 admin_disabled whatever
  // Authorization says; nothing else changes (the collectors still take webhooks).
  const spec = JSON.parse(readFileSync(path.join(root, "docs/openapi.json"), "utf8"));
  const { ADMIN_TOKEN, ...secrets } = TEST_SECRETS;
  const off = await start({ secrets });
  try {
    const calls = [];
    for (const [route, ops] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const schemes = (op.security ?? []).map((s) => Object.keys(s)[0]);
        if (schemes.includes("adminToken")) calls.push([method.toUpperCase(), route.replace(/\{[^}]+\}/g, "x1")]);
      }
    }
    assert.ok(calls.length >= 18, `${calls.length} admin operations`);
    for (const [method, route] of calls) {
      for (const authorization of [undefined, `Bearer ${ADMIN_TOKEN}`, "Bearer "]) {
        const headers = { "content-type": "application/json", ...(authorization ? { authorization } : {}) };
        const body = ["POST", "PUT", "PATCH"].includes(method) ? "{}" : undefined;
        const r = await off.fetch(route, { method, headers, body });
        const { error } = await r.json();
        assert.deepEqual([r.status, error.code], [403, "admin_disabled"], `${method} ${route} ${authorization}`);
        assert.match(error.message, /ADMIN_TOKEN/);
      }
    }
    assert.equal((await off.fetch("/hooks/open", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status, 202);
  } finally {
    await off.dispose();
  }
});
