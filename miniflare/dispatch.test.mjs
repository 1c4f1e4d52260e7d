// Dispatch in workerd: subscriptions, signed deliveries to real HTTP servers on
// 127.0.0.1, retries on a shortened schedule, async PATCH results with service-account
// JWTs minted by `jose`, rules and actions, the URL guard, secrets sealed at rest.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { Webhook } from "standardwebhooks";
import { createExpressApp } from "addons-scanner-utils";
import { start, testConfig, hugeAnswerServer, TEST_SECRETS, subscriberServer } from "./harness.mjs";

const SCHEDULE = [1, 2];
const ADMIN = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
let eh;
const servers = [];

before(async () => {
  const config = testConfig({
    dispatch: { retry_schedule_secs: SCHEDULE, timeout_ms: 1000, allow_private_hosts: ["127.0.0.1"] },
  });
  eh = await start({ config, environment: "dev" });
});
after(async () => {
  for (const s of servers) s.close();
  await eh?.dispose();
});

const subscriber = (respond) => subscriberServer(servers, respond);

function reply(res, status, body) {
  res.writeHead(status, body === undefined ? {} : { "content-type": "application/json" });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

async function call(method, pathname, body, headers = ADMIN) {
  const resp = await eh.fetch(pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

async function subscribe(name, url, events, extra = {}) {
  const r = await call("POST", "/admin/subscriptions", { name, url, events, ...extra });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function resultOf(id) {
  const r = await call("GET", `/results/${id}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function untilStatus(id, statuses, ms = 20000) {
  return eh.until(async () => {
    const r = await resultOf(id);
    return statuses.includes(r.status) ? r : null;
  }, ms, `result ${id} to become ${statuses}`);
}

function serviceToken(account, claims = {}, { iat = Math.floor(Date.now() / 1000), exp = iat + 60 } = {}) {
  return new SignJWT({ jti: randomUUID(), ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(account.jwt_key)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(account.jwt_secret));
}

function patchResult(resultUrl, token, results) {
  return eh.fetch(new URL(resultUrl).pathname, {
    method: "PATCH",
    headers: { authorization: `JWT ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ results }),
  });
}

test("an_amo_scanner_built_with_addons_scanner_utils_gets_the_event_and_patches_its_result", async () => {
  for (const [name, action] of [["bad-rule", "flag"], ["miner", "notify"]]) {
    assert.equal((await call("PUT", `/admin/rules/${name}`, { action, enabled: true })).status, 200);
  }
  const rules = await call("GET", "/admin/rules");
  assert.deepEqual(rules.body.rules.map((r) => [r.name, r.action, r.enabled]), [["bad-rule", "flag", true], ["miner", "notify", true]]);

  // Whoever subscribes to rule.matched hears about the notify rule.
  const watcher = await subscriber((_, __, res) => reply(res, 200, { ok: true }));
  await subscribe("watcher", watcher.url, ["rule.matched"]);

  // The scanner: AMO's own library verifies the HMAC; it answers 202 and PATCHes later.
  const apiKey = "amo-scanner-api-key-0123456789";
  process.env.EDGEHOOK_TEST_SCANNER_KEY = apiKey;
  const received = [];
  let account;
  let patched;
  const app = createExpressApp({ apiKeyEnvVarName: "EDGEHOOK_TEST_SCANNER_KEY" })((req, res) => {
    received.push(req.body);
    res.status(202).json({ message: "Scan started" });
    patched = (async () => {
      const token = await serviceToken(account);
      return patchResult(req.body.scanner_result_url, token, { version: "1.0.0", matchedRules: ["bad-rule", "miner"] });
    })();
  });
  const srv = await new Promise((r) => { const s = app.listen(0, "127.0.0.1", () => r(s)); });
  servers.push(srv);
  const created = await subscribe("scanner", `http://127.0.0.1:${srv.address().port}/`, ["addon.uploaded"], { api_key: apiKey });
  account = created.service_account;
  assert.equal(created.api_key, apiKey);
  assert.match(created.webhook_secret, /^whsec_/);

  // Publish with an API key holding the publish scope.
  const key = await call("POST", "/admin/keys", { name: "amo", scopes: ["publish"] });
  const publisher = { "x-apikey": key.body.key, "content-type": "application/json" };
  const event = await call("POST", "/events/addon.uploaded", { download_url: "https://example.com/a.xpi", version_id: 42 }, publisher);
  assert.equal(event.status, 202, JSON.stringify(event.body));
  assert.equal(event.body.results.length, 1);
  const [{ id, result_url }] = event.body.results;
  assert.equal(result_url, `http://edgehook.test/results/${id}`);

  const done = await untilStatus(id, ["completed"]);
  assert.equal((await patched).status, 200);
  assert.deepEqual(received, [{ download_url: "https://example.com/a.xpi", version_id: 42, scanner_result_url: result_url }]);
  assert.deepEqual(done.results, { version: "1.0.0", matchedRules: ["bad-rule", "miner"] });
  assert.deepEqual(done.matched_rules, ["bad-rule", "miner"]);
  assert.equal(done.flagged, true, "the flag rule ran");
  assert.deepEqual(done.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, 202, "deferred"]]);

  // The notify rule published rule.matched to the watcher.
  await eh.until(() => watcher.requests.length > 0, 15000, "rule.matched delivery");
  const notice = JSON.parse(watcher.requests[0].body);
  assert.equal(notice.rule, "miner");
  assert.equal(notice.result_id, id);

  // Refused PATCHes change nothing: a replayed jti, an expired token, a token that lives
  // too long, and a token of another subscription.
  const before = await resultOf(id);
  const token = await serviceToken(account);
  assert.equal((await patchResult(result_url, token, { version: "1.0.1", matchedRules: [] })).status, 200);
  const replay = await patchResult(result_url, token, { version: "evil", matchedRules: [] });
  assert.deepEqual([replay.status, (await replay.json()).error.code], [401, "replayed_token"]);
  const old = Math.floor(Date.now() / 1000) - 600;
  const expired = await patchResult(result_url, await serviceToken(account, {}, { iat: old, exp: old + 60 }), { version: "evil" });
  assert.deepEqual([expired.status, (await expired.json()).error.code], [401, "expired_token"]);
  const now = Math.floor(Date.now() / 1000);
  const long = await patchResult(result_url, await serviceToken(account, {}, { iat: now, exp: now + 301 }), { version: "evil" });
  assert.deepEqual([long.status, (await long.json()).error.code], [401, "lifetime_too_long"]);
  const other = await subscribe("other", watcher.url, ["something.else"]);
  const foreign = await patchResult(result_url, await serviceToken(other.service_account), { version: "evil" });
  assert.deepEqual([foreign.status, (await foreign.json()).error.code], [403, "not_result_owner"]);
  const wrongKey = await patchResult(result_url, await serviceToken({ ...account, jwt_secret: "guess" }), { version: "evil" });
  assert.deepEqual([wrongKey.status, (await wrongKey.json()).error.code], [401, "invalid_signature"]);
  // A `crit` extension edgehook does not implement (RFC 7515 4.1.11), on a good token.
  const crit = await new SignJWT({ jti: randomUUID() })
    .setProtectedHeader({ alg: "HS256", typ: "JWT", crit: ["urn:example:ext"], "urn:example:ext": 1 })
    .setIssuer(account.jwt_key)
    .setIssuedAt()
    .setExpirationTime("1m")
    .sign(new TextEncoder().encode(account.jwt_secret), { crit: { "urn:example:ext": true } });
  const critical = await patchResult(result_url, crit, { version: "evil" });
  assert.deepEqual([critical.status, (await critical.json()).error.code], [401, "unsupported_critical_header"]);
  const after = await resultOf(id);
  assert.deepEqual(after.results, { version: "1.0.1", matchedRules: [] });
  assert.equal(after.status, before.status);
});

// AShirt's request signing (shared/reference/003, generateAuthorizationHeaderValue):
// base64 HMAC-SHA256 over "METHOD\nURI\nDATE\n" + SHA-256(body), under the secret key's
// base64-decoded bytes.
function ashirtPatch(resultUrl, { accessKey, secretKey, date = new Date().toUTCString() }, results) {
  const path = new URL(resultUrl).pathname;
  const body = JSON.stringify({ results });
  const head = Buffer.from(`PATCH\n${path}\n${date}\n`);
  const digest = createHash("sha256").update(body).digest();
  const mac = createHmac("sha256", Buffer.from(secretKey, "base64")).update(Buffer.concat([head, digest])).digest("base64");
  const send = () =>
    eh.fetch(path, { method: "PATCH", headers: { authorization: `${accessKey}:${mac}`, date, "content-type": "application/json" }, body });
  return { send };
}

test("a_deferred_ashirt_worker_patches_its_result_with_ashirt_request_signing", async () => {
  // The worker defers (AShirt: 202 / {"action":"deferred"}) and reports back later, signing
  // the PATCH with the subscription's service account as AShirt credentials.
  let account;
  let patched;
  const worker = await subscriber((entry, _, res) => {
    reply(res, 202, { action: "deferred" });
    const { scanner_result_url } = JSON.parse(entry.body);
    const credentials = { accessKey: account.jwt_key, secretKey: account.ashirt_secret_key };
    patched = ashirtPatch(scanner_result_url, credentials, { action: "processed", tags: ["reviewed"] }).send();
  });
  const created = await subscribe("ashirt-worker", worker.url, ["evidence.created"]);
  account = created.service_account;
  assert.equal(Buffer.from(account.ashirt_secret_key, "base64").toString(), account.jwt_secret);
  const event = await call("POST", "/events/evidence.created", { evidence: "e-1" });
  const [{ id, result_url }] = event.body.results;
  const done = await untilStatus(id, ["completed"]);
  assert.equal((await patched).status, 200);
  assert.deepEqual(done.results, { action: "processed", tags: ["reviewed"] });
  assert.deepEqual(done.attempts.map((a) => a.outcome), ["deferred"]);

  // Refused: the same signed request again, a wrong secret, an unknown access key, a
  // stale Date, and another subscription's account; none changes the result.
  const good = { accessKey: account.jwt_key, secretKey: account.ashirt_secret_key };
  const once = ashirtPatch(result_url, good, { action: "processed", tags: ["again"] });
  assert.equal((await once.send()).status, 200);
  const replay = await once.send();
  assert.deepEqual([replay.status, (await replay.json()).error.code], [401, "replayed_token"]);
  const refusals = [
    [{ ...good, secretKey: Buffer.from("guess").toString("base64") }, 401, "invalid_signature"],
    [{ ...good, accessKey: "sa_nobody" }, 401, "invalid_signature"],
    [{ ...good, date: new Date(Date.now() - 2 * 3600 * 1000).toUTCString() }, 401, "timestamp_out_of_tolerance"],
  ];
  const other = (await subscribe("ashirt-other", worker.url, ["evidence.other"])).service_account;
  refusals.push([{ accessKey: other.jwt_key, secretKey: other.ashirt_secret_key }, 403, "not_result_owner"]);
  for (const [credentials, status, code] of refusals) {
    const resp = await ashirtPatch(result_url, credentials, { action: "processed", tags: ["evil"] }).send();
    assert.deepEqual([resp.status, (await resp.json()).error.code], [status, code], JSON.stringify(credentials));
  }
  assert.deepEqual((await resultOf(id)).results, { action: "processed", tags: ["again"] });
});

test("a_subscriber_failing_twice_then_answering_ends_completed_after_three_attempts_on_schedule", async () => {
  const flaky = await subscriber(async (_, n, res) => {
    if (n === 1) return reply(res, 503, { error: "busy" });
    if (n === 2) return setTimeout(() => reply(res, 200, { late: true }), 3000); // past the 1 s timeout
    return reply(res, 200, { version: "2.0", matchedRules: [] });
  });
  const sub = await subscribe("flaky", flaky.url, ["order.created"]);
  const event = await call("POST", "/events/order.created", { order: 7 });
  const [{ id }] = event.body.results;
  const done = await untilStatus(id, ["completed", "failed"], 30000);
  assert.equal(done.status, "completed");
  const attempts = done.attempts;
  assert.deepEqual(attempts.map((a) => [a.attempt, a.status_code, a.outcome, a.retry_in_secs]), [
    [1, 503, "retry", SCHEDULE[0]],
    [2, null, "retry", SCHEDULE[1]],
    [3, 200, "completed", null],
  ]);
  assert.match(attempts[1].error, /no answer within 1000 ms/);
  assert.ok(attempts[1].attempted_at - attempts[0].attempted_at >= SCHEDULE[0]);
  assert.ok(attempts[2].attempted_at - attempts[1].attempted_at >= SCHEDULE[1]);
  assert.equal(flaky.requests.length, 3);

  // Every delivery carried the same webhook-id and verifiable signatures.
  const wh = new Webhook(sub.webhook_secret);
  for (const r of flaky.requests) {
    assert.equal(r.headers["webhook-id"], id);
    assert.equal(r.headers.authorization, `HMAC-SHA256 ${createHmac("sha256", sub.api_key).update(r.body).digest("hex")}`);
    assert.deepEqual(wh.verify(r.body, r.headers), { order: 7, scanner_result_url: `http://edgehook.test/results/${id}` });
  }
});

test("a_connection_reset_is_retried_and_recorded_as_a_network_error", async () => {
  const resetting = await subscriber((entry, n, res) => {
    if (n === 1) return res.socket.destroy(); // reset without an answer
    return reply(res, 200, { action: "processed", content: { clean: true } });
  });
  await subscribe("resetting", resetting.url, ["file.scanned"]);
  const [{ id }] = (await call("POST", "/events/file.scanned", { f: 1 })).body.results;
  const done = await untilStatus(id, ["completed", "failed"], 20000);
  assert.equal(done.status, "completed");
  assert.deepEqual(done.results, { clean: true });
  assert.deepEqual(done.attempts.map((a) => [a.attempt, a.status_code, a.outcome, a.retry_in_secs]), [
    [1, null, "retry", SCHEDULE[0]],
    [2, 200, "completed", null],
  ]);
  assert.match(done.attempts[0].error, /network error/);
});

test("the_cron_trigger_sends_an_overdue_delivery_whose_message_was_lost_and_purges_expired_rows", async () => {
  const box = await subscriber((_, __, res) => reply(res, 200, { version: "9", matchedRules: [] }));
  const sub = await subscribe("lost", box.url, ["lost.message"]);
  const db = await eh.db();
  // A result written by a publish whose queue message never arrived, due a while ago.
  const past = Math.floor(Date.now() / 1000) - 600;
  await db.prepare(`INSERT INTO results (id, event_id, event_type, subscription_id, payload, status, attempts,
      next_attempt_at, created_at, updated_at) VALUES ('res_lost', 'evt_lost', 'lost.message', ?, '{"n":1}', 'pending', 0, ?, ?, ?)`)
    .bind(sub.id, past, past, past).run();
  // Expired rows the same run purges.
  await db.prepare("INSERT INTO jwt_nonces (jti, issuer, expires_at) VALUES ('old', 'sa_x', ?)").bind(past).run();
  await db.prepare("INSERT INTO seen_ids (collector, webhook_id, record_id, expires_at, accepted_at) VALUES ('open', 'old', 'r', ?, ?)")
    .bind(past, past).run();
  const worker = await eh.mf.getWorker("edgehook");
  await worker.scheduled({ cron: "*/5 * * * *", scheduledTime: new Date() });
  const done = await untilStatus("res_lost", ["completed"]);
  assert.deepEqual(done.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, 200, "completed"]]);
  assert.equal(JSON.parse(box.requests[0].body).n, 1);
  assert.equal((await db.prepare("SELECT COUNT(*) AS n FROM jwt_nonces WHERE jti = 'old'").first()).n, 0);
  assert.equal((await db.prepare("SELECT COUNT(*) AS n FROM seen_ids WHERE webhook_id = 'old'").first()).n, 0);
});

test("410_fails_at_once_and_disables_the_subscription_other_4xx_fail_and_can_be_retried", async () => {
  const gone = await subscriber((_, __, res) => reply(res, 410, { error: "gone" }));
  const sub = await subscribe("gone", gone.url, ["user.deleted"]);
  const [{ id }] = (await call("POST", "/events/user.deleted", { user: 1 })).body.results;
  const failed = await untilStatus(id, ["failed"]);
  assert.equal(failed.attempts.length, 1);
  const shown = await call("GET", `/admin/subscriptions/${sub.id}`);
  assert.equal(shown.body.enabled, false);
  assert.match(shown.body.disabled_reason, /410/);
  // Disabled: a new event of its type reaches nobody.
  assert.deepEqual((await call("POST", "/events/user.deleted", { user: 2 })).body.results, []);

  const picky = await subscriber((_, n, res) => (n === 1 ? reply(res, 400, { error: "bad" }) : reply(res, 204)));
  await subscribe("picky", picky.url, ["user.updated"]);
  const [{ id: id2 }] = (await call("POST", "/events/user.updated", { user: 3 })).body.results;
  const refused = await untilStatus(id2, ["failed"]);
  assert.deepEqual(refused.attempts.map((a) => [a.status_code, a.outcome]), [[400, "failed"]]);
  const listed = await call("GET", "/admin/deliveries?status=failed");
  assert.ok(listed.body.deliveries.some((d) => d.id === id2 && d.subscription_name === "picky"));
  const again = await call("POST", `/admin/deliveries/${id2}/retry`);
  assert.equal(again.status, 202);
  const delivered = await untilStatus(id2, ["delivered"]);
  assert.deepEqual(delivered.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, 400, "failed"], [2, 204, "delivered"]]);
  assert.equal((await call("POST", `/admin/deliveries/${id2}/retry`)).status, 409);
});

test("test_and_rotate_sign_with_the_right_keys", async () => {
  const box = await subscriber((_, __, res) => reply(res, 200, { status: "ok" }));
  const sub = await subscribe("box", box.url, ["box.opened"], { headers: { "X-Team": "red" } });
  const t = await call("POST", `/admin/subscriptions/${sub.id}/test`);
  assert.equal(t.status, 200);
  assert.equal(t.body.outcome, "ok");
  assert.equal(t.body.status_code, 200);
  assert.equal(box.requests[0].body, '{"type":"test"}');
  assert.equal(box.requests[0].headers["x-team"], "red");

  const rotated = await call("POST", `/admin/subscriptions/${sub.id}/rotate`);
  assert.equal(rotated.status, 200);
  assert.notEqual(rotated.body.api_key, sub.api_key);
  const [{ id }] = (await call("POST", "/events/box.opened", { n: 1 })).body.results;
  await untilStatus(id, ["delivered"]);
  const d = box.requests[1];
  assert.equal(d.headers.authorization, `HMAC-SHA256 ${createHmac("sha256", rotated.body.api_key).update(d.body).digest("hex")}`);
  assert.equal(d.headers["x-edgehook-previous-authorization"], `HMAC-SHA256 ${createHmac("sha256", sub.api_key).update(d.body).digest("hex")}`);
  // Standard Webhooks verifiers with either secret accept it during the grace period.
  new Webhook(rotated.body.webhook_secret).verify(d.body, d.headers);
  new Webhook(sub.webhook_secret).verify(d.body, d.headers);
});

test("no_subscription_secret_is_stored_in_clear", async () => {
  const box = await subscriber((_, __, res) => reply(res, 200));
  const sub = await subscribe("sealed", box.url, ["x.y"]);
  const db = await eh.db();
  let dump = "";
  for (const table of ["subscriptions", "service_accounts", "subscription_events", "results", "delivery_attempts"]) {
    dump += JSON.stringify((await db.prepare(`SELECT * FROM ${table}`).all()).results);
  }
  assert.ok(dump.includes(sub.id), "the dump holds the subscription");
  assert.ok(dump.includes(sub.service_account.jwt_key));
  for (const secret of [sub.api_key, sub.service_account.jwt_secret, sub.webhook_secret.slice(6)]) {
    assert.ok(!dump.includes(secret), "a secret is in D1 in clear");
  }
  const row = await db.prepare("SELECT api_key_enc FROM subscriptions WHERE id = ?").bind(sub.id).first();
  assert.match(row.api_key_enc, /^v1:/);
});

test("the_url_guard_refuses_private_hosts_outside_dev", async () => {
  const prod = await start({ config: testConfig() });
  try {
    for (const url of ["http://10.0.0.1/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/",
      "https://10.0.0.1/", "https://[::ffff:127.0.0.1]/", "https://169.254.169.254/latest", "https://[fd00::1]/",
      "https://100.64.0.1/", "https://[64:ff9b::a00:1]/", "https://[2002:a00:1::1]/", "ftp://example.com/"]) {
      const r = await prod.fetch("/admin/subscriptions", { method: "POST", headers: ADMIN,
        body: JSON.stringify({ name: "evil", url, events: ["a.b"] }) });
      assert.deepEqual([r.status, (await r.json()).error.code], [422, "url_refused"], url);
    }
    const ok = await prod.fetch("/admin/subscriptions", { method: "POST", headers: ADMIN,
      body: JSON.stringify({ name: "fine", url: "https://scanner.example.com/hook", events: ["a.b"] }) });
    assert.equal(ok.status, 201);
    const { results } = await (await prod.db()).prepare("SELECT name FROM subscriptions").all();
    assert.deepEqual(results, [{ name: "fine" }], "refused registrations stored nothing");
  } finally {
    await prod.dispose();
  }
  // Dev mode allows http, not private ranges (127.0.0.1 is allowed by this test config).
  const r = await call("POST", "/admin/subscriptions", { name: "evil", url: "http://10.0.0.1/", events: ["a.b"] });
  assert.deepEqual([r.status, r.body.error.code], [422, "url_refused"]);
});

test("an_event_nested_128_levels_is_delivered_whole_and_a_patch_repeating_a_member_is_refused", async () => {
  const deferring = await subscriber(async (_, __, res) => reply(res, 202));
  const sub = await subscribe("deep", deferring.url, ["deep.event"]);
  const payload = '{"a":'.repeat(127) + "1" + "}".repeat(127); // 127 levels, 128 with the event object
  const body = `{"deep":${payload}}`;
  const event = await eh.fetch("/events/deep.event", { method: "POST", headers: ADMIN, body });
  assert.equal(event.status, 202, await event.clone().text());
  const [{ id, result_url }] = (await event.json()).results;
  await untilStatus(id, ["deferred"]);
  assert.equal(deferring.requests.length, 1);
  const delivered = JSON.parse(deferring.requests[0].body);
  assert.equal(JSON.stringify(delivered.deep), payload);

  // A result PATCH is read as strictly: a repeated member is refused and nothing changes.
  const token = await serviceToken(sub.service_account);
  const patched = await eh.fetch(new URL(result_url).pathname, {
    method: "PATCH",
    headers: { authorization: `JWT ${token}`, "content-type": "application/json" },
    body: '{"results":{"matchedRules":["flag-me"],"matchedRules":[]}}',
  });
  assert.equal(patched.status, 400);
  assert.equal((await patched.json()).error.code, "duplicate_key");
  const after = await resultOf(id);
  assert.deepEqual([after.status, after.results ?? null], ["deferred", null]);
});

test("hop_by_hop_routing_and_signing_headers_are_refused_at_registration_and_patch", async () => {
  const box = await subscriber((_, __, res) => reply(res, 204));
  const reserved = ["Transfer-Encoding", "Connection", "Expect", "Host", "Keep-Alive", "TE", "Trailer", "Upgrade",
    "Proxy-Authorization", "Content-Length", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "CF-Connecting-IP",
    "Authorization", "webhook-id", "Content-Type"];
  for (const name of reserved) {
    const r = await call("POST", "/admin/subscriptions", { name: "hops", url: box.url, events: ["hop.x"], headers: { [name]: "100-continue" } });
    assert.deepEqual([r.status, r.body.error.code], [422, "invalid_header"], name);
    assert.ok(r.body.error.message.includes(name), `the message names ${name}: ${r.body.error.message}`);
  }
  const stored = await (await eh.db()).prepare("SELECT COUNT(*) AS n FROM subscriptions WHERE name = 'hops'").first();
  assert.equal(stored.n, 0, "nothing stored for a refused registration");

  const sub = await subscribe("hops", box.url, ["hop.x"], { headers: { "X-Team": "red" } });
  const patched = await call("PATCH", `/admin/subscriptions/${sub.id}`, { headers: { "X-Team": "red", Expect: "100-continue" } });
  assert.deepEqual([patched.status, patched.body.error.code], [422, "invalid_header"]);
  assert.match(patched.body.error.message, /Expect/);
  assert.deepEqual((await call("GET", `/admin/subscriptions/${sub.id}`)).body.headers, { "X-Team": "red" });
  // The test message goes out without delay and with the allowed header.
  const t = await call("POST", `/admin/subscriptions/${sub.id}/test`);
  assert.deepEqual([t.body.status_code, t.body.outcome], [204, "ok"]);
  assert.equal(box.requests[0].headers["x-team"], "red");
  assert.equal(box.requests[0].headers.expect, undefined);
});

test("a_publisher_cannot_publish_the_event_types_edgehook_emits_itself", async () => {
  const watcher = await subscriber((_, __, res) => reply(res, 204));
  await subscribe("reserved-watcher", watcher.url, ["rule.matched", "endpoint.disabled", "replay.completed"]);
  const key = await call("POST", "/admin/keys", { name: "reserved-publisher", scopes: ["publish"] });
  const publisher = { "x-apikey": key.body.key, "content-type": "application/json" };
  const db = await eh.db();
  const before = (await db.prepare("SELECT COUNT(*) AS n FROM results").first()).n;
  for (const type of ["rule.matched", "Rule.Matched", "endpoint.disabled", "endpoint.recovered", "endpoint.failing",
    "message.attempt.exhausted", "replay.completed"]) {
    for (const headers of [publisher, ADMIN]) {
      const r = await call("POST", `/events/${type}`, { rule: "forged", result_id: "res_x" }, headers);
      assert.deepEqual([r.status, r.body.error.code], [422, "reserved_event_type"], type);
      assert.ok(r.body.error.message.includes(type));
    }
  }
  assert.equal((await db.prepare("SELECT COUNT(*) AS n FROM results").first()).n, before, "nothing stored");
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(watcher.requests.length, 0, "no forged event reached the subscriber");
});

test("a_subscriber_answer_is_read_up_to_64_kib_and_the_rest_cancelled", async () => {
  // 64 MiB of a valid AMO result: a test and a delivery read 64 KiB of it, then hang up.
  const MIB64 = 64 * 1024 * 1024;
  const huge = await hugeAnswerServer(200, MIB64, '{"version":"1.0.0","matchedRules":["miner"],"pad":"');
  servers.push({ close: huge.close });
  const sub = await subscribe("huge", huge.url, ["huge.answer"]);
  const started = Date.now();
  const t = await call("POST", `/admin/subscriptions/${sub.id}/test`);
  const took = Date.now() - started;
  assert.equal(t.status, 200);
  assert.deepEqual([t.body.status_code, t.body.outcome, t.body.body_cut], [200, "error", true], JSON.stringify(t.body).slice(0, 300));
  assert.match(t.body.error, /over 65536 bytes/);
  await eh.until(() => huge.answers[0].hungUp, 5000, "edgehook to hang up on the test's answer");
  assert.ok(huge.answers[0].written < 16 * 1024 * 1024, `the subscriber wrote ${huge.answers[0].written} bytes`);
  console.log(`64 MiB test answer: ${t.body.duration_ms} ms in the worker, ${took} ms end to end; the subscriber wrote ${huge.answers[0].written} bytes before edgehook hung up`);

  // A delivery: failed at once (not retried), the status recorded, no rule run.
  const [{ id }] = (await call("POST", "/events/huge.answer", { n: 1 })).body.results;
  const failed = await untilStatus(id, ["failed", "completed", "delivered"]);
  assert.equal(failed.status, "failed");
  assert.deepEqual(failed.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, 200, "failed"]]);
  assert.match(failed.attempts[0].error, /over 65536 bytes/);
  assert.equal(failed.results, null);
  await eh.until(() => huge.answers[1]?.hungUp, 5000, "edgehook to hang up on the delivery's answer");
  assert.ok(huge.answers[1].written < 16 * 1024 * 1024, `the subscriber wrote ${huge.answers[1].written} bytes`);
  assert.equal(huge.answers.length, 2, "a cut answer is not retried");
});

test("an_answer_of_exactly_64_kib_is_read_whole", async () => {
  const box = await subscriber((_, __, res) => {
    const head = '{"version":"1.0.0","matchedRules":[],"pad":"';
    res.writeHead(200, { "content-type": "application/json" });
    res.end(head + "x".repeat(65536 - head.length - 2) + '"}');
  });
  const sub = await subscribe("edge", box.url, ["edge.answer"]);
  const [{ id }] = (await call("POST", "/events/edge.answer", { n: 1 })).body.results;
  const done = await untilStatus(id, ["completed", "failed", "delivered"]);
  assert.equal(done.status, "completed", JSON.stringify(done.attempts));
  assert.equal(done.results.pad.length, 65536 - 46);
  const t = await call("POST", `/admin/subscriptions/${sub.id}/test`);
  assert.deepEqual([t.body.outcome, t.body.body_cut], ["ok", false]);
});
