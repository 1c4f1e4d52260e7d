// Logs never hold a secret, a token, a signature, an API key or raw pseudonymized PII:
// run requests that carry all of those (accepted and refused), capture every line the
// worker logs, and search them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { randomUUID } from "node:crypto";
import { SignJWT, importJWK } from "jose";
import { Webhook } from "standardwebhooks";
import { start, testConfig, TEST_SECRETS, hmacHex } from "./harness.mjs";

let eh;
let server;
before(async () => {
  const config = testConfig({ dispatch: { allow_private_hosts: ["127.0.0.1"], timeout_ms: 2000 } });
  eh = await start({ config, environment: "dev" });
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(202);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
});
after(async () => {
  server?.close();
  await eh?.dispose();
});

test("no_secret_token_signature_key_or_raw_pii_reaches_the_logs", async () => {
  const secrets = new Set();
  const json = { "content-type": "application/json" };
  const admin = { ...json, authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };

  // HMAC: good and bad signatures.
  const body = '{"email":"carol@corp.example"}';
  const good = hmacHex(TEST_SECRETS.AMO_KEY, body);
  const bad = hmacHex("wrong", body);
  secrets.add(good).add(bad);
  assert.equal((await eh.postSigned("amo", body)).status, 202);
  assert.equal((await eh.fetch("/hooks/amo", { method: "POST", headers: { ...json, authorization: `HMAC-SHA256 ${bad}` }, body })).status, 401);

  // Standard Webhooks.
  const now = new Date();
  const sig = new Webhook(TEST_SECRETS.SW_SECRET).sign("msg_logs", now, body);
  secrets.add(sig.split(",")[1]);
  await eh.fetch("/hooks/sw", { method: "POST", body,
    headers: { ...json, "webhook-id": "msg_logs", "webhook-timestamp": String(Math.floor(now / 1000)), "webhook-signature": sig } });

  // JWT, with PII pseudonymized by the psoxy collector.
  const url = "http://edgehook.test/hooks/psoxy";
  const key = await importJWK(JSON.parse(TEST_SECRETS.JWT_HS256), "HS256");
  const token = await new SignJWT({ sub: "u-9" }).setProtectedHeader({ alg: "HS256" }).setIssuer(url).setAudience(url)
    .setIssuedAt().setExpirationTime("5m").sign(key);
  secrets.add(token).add(token.split(".")[2]);
  const pii = { user_id: "u-9", employeeEmail: "dave@corp.example", managerEmail: "erin@corp.example" };
  const r = await eh.fetch("/hooks/psoxy/users/u-9?userId=u-9&email=frank%40corp.example", { method: "POST",
    headers: { ...json, authorization: `Bearer ${token}` }, body: JSON.stringify(pii) });
  assert.equal(r.status, 202);
  // A refused one too (claim mismatch) and an invalid token.
  await eh.fetch("/hooks/psoxy/users/u-8?userId=u-9", { method: "POST", headers: { ...json, authorization: `Bearer ${token}` }, body: JSON.stringify(pii) });
  await eh.fetch("/hooks/psoxy/users/u-9?userId=u-9", { method: "POST", headers: { ...json, authorization: `Bearer ${token}x` }, body: JSON.stringify(pii) });

  // API keys: issued, used, refused.
  const issued = await (await eh.fetch("/admin/keys", { method: "POST", headers: admin, body: JSON.stringify({ name: "logs", scopes: ["scrape", "publish"] }) })).json();
  secrets.add(issued.key);
  await eh.fetch("/hooks/scraper", { method: "POST", headers: { ...json, "x-apikey": issued.key }, body: "{}" });
  await eh.fetch("/keys/test", { headers: { "x-apikey": issued.key + "x" } });

  // Dispatch: a subscription's secrets, a delivery's signatures, a PATCH token.
  const sub = await (await eh.fetch("/admin/subscriptions", { method: "POST", headers: admin,
    body: JSON.stringify({ name: "logs", url: `http://127.0.0.1:${server.address().port}/`, events: ["logs.test"] }) })).json();
  secrets.add(sub.api_key).add(sub.webhook_secret).add(sub.service_account.jwt_secret);
  const event = await (await eh.fetch("/events/logs.test", { method: "POST", headers: { ...json, "x-apikey": issued.key }, body: '{"n":1}' })).json();
  const resultId = event.results[0].id;
  await eh.until(async () => {
    const res = await (await eh.fetch(`/results/${resultId}`, { headers: admin })).json();
    return res.status === "deferred";
  }, 15000, "deferred delivery");
  const patchToken = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: "HS256" }).setIssuer(sub.service_account.jwt_key)
    .setIssuedAt().setExpirationTime("60s").sign(new TextEncoder().encode(sub.service_account.jwt_secret));
  secrets.add(patchToken);
  assert.equal((await eh.fetch(`/results/${resultId}`, { method: "PATCH", headers: { ...json, authorization: `JWT ${patchToken}` }, body: '{"results":{"version":"1"}}' })).status, 200);
  assert.equal((await eh.fetch(`/results/${resultId}`, { method: "PATCH", headers: { ...json, authorization: `JWT ${patchToken}` }, body: '{"results":{}}' })).status, 401);

  for (const [name, value] of Object.entries(TEST_SECRETS)) secrets.add(value);
  const raw = ["carol@corp.example", "dave@corp.example", "erin@corp.example", "frank@corp.example", "frank%40corp.example"];

  await new Promise((res) => setTimeout(res, 500)); // let the last lines arrive
  assert.ok(eh.logs.length > 20, `captured ${eh.logs.length} log lines`);
  for (const line of eh.logs) {
    for (const s of secrets) assert.ok(!line.includes(s), `a secret or token is in a log line: ${line.slice(0, 200)}`);
    for (const p of raw) assert.ok(!line.includes(p), `raw PII is in a log line: ${line.slice(0, 200)}`);
  }
  // Every request line is one JSON object with the fields operators rely on.
  const requests = eh.logs.filter((l) => l.startsWith("{") && l.includes('"request_id"')).map((l) => JSON.parse(l));
  assert.ok(requests.length >= 10);
  for (const l of requests) for (const k of ["request_id", "route", "outcome", "status", "duration_ms"]) assert.ok(k in l, `${k} in ${JSON.stringify(l)}`);
  console.log(`# logs: ${eh.logs.length} lines checked against ${secrets.size} secrets/tokens/signatures and ${raw.length} PII values`);
});

test("a_client_chosen_ray_id_or_collector_name_never_reaches_the_logs_verbatim", async () => {
  const json = { "content-type": "application/json" };
  const injected = 'x","outcome":"accepted","status":202,"collector":"amo';
  const ray = "8f1e2d3c4b5a6978-LHR";
  const requestLines = () => eh.logs.filter((l) => l.startsWith("{") && l.includes('"request_id"')).map((l) => JSON.parse(l));
  const before = requestLines().length;
  await (await eh.fetch("/healthz", { headers: { "cf-ray": injected } })).arrayBuffer();
  await (await eh.fetch("/healthz", { headers: { "cf-ray": ray } })).arrayBuffer();
  const name = `no-such-collector${"%22%0A".repeat(20)}${"n".repeat(7000)}`;
  const unknown = await eh.fetch(`/hooks/${name}`, { method: "POST", headers: json, body: "{}" });
  assert.equal(unknown.status, 404);
  await unknown.arrayBuffer();
  const lines = await eh.until(async () => {
    const l = requestLines().slice(before);
    return l.length >= 3 ? l : null;
  }, 5000, "three request log lines");
  const [forged, real, named] = lines;
  // A cf-ray without the ray form is replaced by a generated id; a real one is kept.
  assert.match(forged.request_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
  assert.equal(real.request_id, ray);
  assert.ok(!eh.logs.some((l) => l.includes(JSON.stringify(injected).slice(1, -1))), "injected text logged");
  // An unknown collector's name is logged cut to 64 bytes and escaped, never as the collector.
  assert.equal(named.collector, undefined);
  assert.equal(named.outcome, "unknown_collector");
  assert.ok(named.unknown_collector.startsWith("no-such-collector%2522%250A"), named.unknown_collector);
  assert.ok(named.unknown_collector.length < 3 * 64 + 2, `${named.unknown_collector.length} characters`);
  assert.ok(!eh.logs.some((l) => l.includes("n".repeat(100))), "the whole name was logged");
});
