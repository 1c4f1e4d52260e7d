// examples/subscriber.mjs against deliveries built exactly as SPEC.md's dispatch sends
// them (HMAC-SHA256 Authorization, Standard Webhooks headers, scanner_result_url), and a
// results endpoint that checks the PATCH token by SPEC's rules.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { jwtVerify } from "jose";
import { createSubscriber } from "../examples/subscriber.mjs";
import { signHmac, signStandardWebhooks } from "../scripts/lib/sign.mjs";

const account = { jwtKey: "svc_01TEST", jwtSecret: "the-service-account-secret-32-bytes!" };
const apiKey = "subscriber-hmac-key";
let results, resultsUrl, patches;
const seenJti = new Set();

before(async () => {
  patches = [];
  // A stand-in for PATCH /results/{id}: HS256, iss = jwt_key, exp <= iat + 300, jti once.
  results = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", async () => {
      const [scheme, token] = (req.headers.authorization || "").split(" ");
      try {
        assert.ok(scheme === "JWT" || scheme === "Bearer");
        const { payload, protectedHeader } = await jwtVerify(token, new TextEncoder().encode(account.jwtSecret), { issuer: account.jwtKey, algorithms: ["HS256"] });
        assert.equal(protectedHeader.alg, "HS256");
        assert.ok(payload.exp - payload.iat <= 300);
        assert.ok(payload.jti && !seenJti.has(payload.jti));
        seenJti.add(payload.jti);
      } catch (e) {
        res.writeHead(401).end(JSON.stringify({ error: { code: "invalid_token", message: e.message } }));
        return;
      }
      patches.push({ method: req.method, url: req.url, body: JSON.parse(data) });
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise((r) => results.listen(0, "127.0.0.1", r));
  resultsUrl = `http://127.0.0.1:${results.address().port}/results`;
});
after(() => results.close());

async function withSubscriber(mode, fn) {
  let patched;
  const done = new Promise((r) => (patched = r));
  const sub = createSubscriber({ apiKeys: ["old-key", apiKey], ...account, mode, onPatched: (e) => patched(e), log: () => {} });
  await new Promise((r) => sub.listen(0, "127.0.0.1", r));
  try {
    await fn(`http://127.0.0.1:${sub.address().port}/`, done);
  } finally {
    sub.close();
  }
}

/** A delivery as edgehook's dispatch sends it. */
function deliver(url, event, key = apiKey) {
  const body = JSON.stringify(event);
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...signHmac(key, body), ...signStandardWebhooks("whsec_" + Buffer.from(key).toString("base64"), body) },
    body,
  });
}

test("sync_subscriber_answers_matched_rules_at_once", async () => {
  await withSubscriber("sync", async (url) => {
    const r = await deliver(url, { download_url: "https://x/a.xpi", flag: true, scanner_result_url: `${resultsUrl}/r1` });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { version: "1.0.0", matchedRules: ["example-rule"] });
  });
});

test("subscriber_refuses_a_bad_signature_and_answers_the_test_message", async () => {
  await withSubscriber("sync", async (url) => {
    assert.equal((await deliver(url, { scanner_result_url: "x" }, "not-the-key")).status, 401);
    const unsigned = await fetch(url, { method: "POST", body: "{}" });
    assert.equal(unsigned.status, 401);
    const t = await deliver(url, { type: "test" });
    assert.deepEqual([t.status, await t.json()], [200, { action: "processed" }]);
  });
});

test("async_subscriber_answers_202_then_patches_with_a_service_account_jwt", async () => {
  await withSubscriber("async", async (url, done) => {
    const r = await deliver(url, { flag: false, scanner_result_url: `${resultsUrl}/r2` });
    assert.equal(r.status, 202);
    assert.equal(await done, null);
    const p = patches.find((x) => x.url === "/results/r2");
    assert.deepEqual(p, { method: "PATCH", url: "/results/r2", body: { results: { version: "1.0.0", matchedRules: [] } } });
  });
});
