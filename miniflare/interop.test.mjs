// Requests signed by independent libraries from npm (and AShirt's documented recipe) are
// accepted end to end and land in R2; a wrong signature for each is refused, nothing kept.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, createPrivateKey, sign as edSign } from "node:crypto";
import { Webhook } from "standardwebhooks";
import { sign as octokitSign } from "@octokit/webhooks-methods";
import Stripe from "stripe";
import { start, TEST_SECRETS } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start();
});
after(() => eh?.dispose());

const json = { "content-type": "application/json" };
const stripe = new Stripe("sk_test_unused");
const ASHIRT_PATH = "/hooks/ashirt/evidence?op=1";

// AShirt's generateAuthorizationHeaderValue (shared/reference/003), verbatim in spirit.
function ashirtAuthorization({ method, path, date, body, accessKey, secretKey }) {
  const head = Buffer.from(`${method}\n${path}\n${date}\n`);
  const digest = createHash("sha256").update(body).digest();
  const mac = createHmac("sha256", secretKey).update(Buffer.concat([head, digest])).digest("base64");
  return `${accessKey}:${mac}`;
}

// The RFC 8032 section 7.1 TEST 1 key; its public half is SW_PUBLIC_KEY.
const ED25519 = createPrivateKey({
  format: "jwk",
  key: {
    kty: "OKP",
    crv: "Ed25519",
    d: Buffer.from("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "hex").toString("base64url"),
    x: Buffer.from("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "hex").toString("base64url"),
  },
});

/** Standard Webhooks `v1a` headers: Ed25519 over `id.timestamp.body` (no npm signer exists). */
function v1aHeaders(body, signedBody = body) {
  const id = `msg_${Math.random().toString(36).slice(2)}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = edSign(null, Buffer.from(`${id}.${ts}.${signedBody}`), ED25519).toString("base64");
  return { "webhook-id": id, "webhook-timestamp": ts, "webhook-signature": `v1a,${sig}` };
}

// Each signer returns the headers for `body`: signed with the collector's secret when
// `good`, else with another; `at` is the signing time (default now).
const signers = {
  async gh(body, good) {
    return { "x-hub-signature-256": await octokitSign(good ? TEST_SECRETS.GH_SECRET : "wrong", body) };
  },
  async sw(body, good, at = new Date()) {
    const id = `msg_${Math.random().toString(36).slice(2)}`;
    const wh = new Webhook(good ? TEST_SECRETS.SW_SECRET : "whsec_" + Buffer.from("wrong-key").toString("base64"));
    return { "webhook-id": id, "webhook-timestamp": String(Math.floor(at / 1000)), "webhook-signature": wh.sign(id, at, body) };
  },
  async stripe(body, good, at = new Date()) {
    const header = stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret: good ? TEST_SECRETS.STRIPE_SECRET : "whsec_wrong",
      timestamp: Math.floor(at / 1000),
    });
    return { "stripe-signature": header };
  },
  async ashirt(body, good, at = new Date()) {
    const date = at.toUTCString();
    const secretKey = Buffer.from(good ? TEST_SECRETS.ASHIRT_SECRET : "d3Jvbmc=", "base64");
    const authorization = ashirtAuthorization({ method: "POST", path: ASHIRT_PATH, date, body, accessKey: "P4qRS5sa346iHWZBB53qzzNm", secretKey });
    return { authorization, date };
  },
};

const pathOf = (collector) => (collector === "ashirt" ? ASHIRT_PATH : `/hooks/${collector}`);

async function post(collector, body, headers) {
  const r = await eh.fetch(pathOf(collector), { method: "POST", headers: { ...json, ...headers }, body });
  return { status: r.status, body: await r.json() };
}

/** Waits until a line with `field: value` is in R2 under the collector. */
function landed(collector, field, value) {
  return eh.until(async () => (await eh.lines(`collectors/${collector}/`)).some((l) => l[field] === value), 15000, `${collector} ${field}`);
}

test("independently_signed_requests_are_accepted_and_land_in_r2", async () => {
  for (const [collector, sign] of Object.entries(signers)) {
    const body = JSON.stringify({ via: collector, n: 1 });
    const r = await post(collector, body, await sign(body, true));
    assert.equal(r.status, 202, `${collector}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.status, "accepted");
  }
  for (const collector of Object.keys(signers)) await landed(collector, "via", collector);
});

test("wrong_signatures_are_refused_and_nothing_is_stored", async () => {
  for (const [collector, sign] of Object.entries(signers)) {
    const body = JSON.stringify({ via: collector, forged: true });
    const r = await post(collector, body, await sign(body, false));
    assert.deepEqual([r.status, r.body.error.code], [401, "invalid_signature"], collector);
    // A good signature for one body does not carry over to another.
    const other = await post(collector, body, await sign(JSON.stringify({ via: collector }), true));
    assert.deepEqual([other.status, other.body.error.code], [401, "invalid_signature"], `${collector} (other body)`);
  }
  // A good request sent after the forged ones lands; the forged ones never do.
  for (const [collector, sign] of Object.entries(signers)) {
    const body = JSON.stringify({ via: collector, sentinel: collector });
    assert.equal((await post(collector, body, await sign(body, true))).status, 202, collector);
  }
  for (const collector of Object.keys(signers)) {
    await landed(collector, "sentinel", collector);
    assert.ok(!(await eh.lines(`collectors/${collector}/`)).some((l) => l.forged), collector);
  }
});

test("timestamps_outside_the_tolerance_are_refused_both_ways", async () => {
  const cases = [
    ["sw", 10 * 60 * 1000],
    ["stripe", 10 * 60 * 1000],
    ["ashirt", 2 * 60 * 60 * 1000],
  ];
  for (const [collector, offset] of cases) {
    for (const sign of [-1, 1]) {
      const body = JSON.stringify({ via: collector, stale: sign });
      const at = new Date(Date.now() + sign * offset);
      const r = await post(collector, body, await signers[collector](body, true, at));
      assert.deepEqual([r.status, r.body.error.code], [401, "timestamp_out_of_tolerance"], `${collector} ${sign}`);
    }
  }
});

test("missing_signature_headers_answer_400", async () => {
  for (const collector of Object.keys(signers)) {
    const r = await post(collector, '{"unsigned":true}', {});
    assert.deepEqual([r.status, r.body.error.code], [400, "missing_header"], collector);
  }
});

test("v1a_signatures_verify_through_webcrypto_only_where_public_keys_are_configured", async () => {
  const body = JSON.stringify({ via: "v1a" });
  const ok = await post("sw-ed", body, v1aHeaders(body));
  assert.equal(ok.status, 202, JSON.stringify(ok.body));
  // The same v1 secret still works next to the public key.
  const v1Body = JSON.stringify({ via: "v1-next-to-v1a" });
  assert.equal((await post("sw-ed", v1Body, await signers.sw(v1Body, true))).status, 202);
  // Signed over another body.
  const forged = await post("sw-ed", body, v1aHeaders(body, '{"via":"other"}'));
  assert.deepEqual([forged.status, forged.body.error.code], [401, "invalid_signature"]);
  // Without public_keys, a v1a entry is ignored, which leaves no signature to check.
  const ignored = await post("sw", body, v1aHeaders(body));
  assert.deepEqual([ignored.status, ignored.body.error.code], [401, "malformed_signature"]);
  await landed("sw-ed", "via", "v1a");
  await landed("sw-ed", "via", "v1-next-to-v1a");
  assert.ok(!(await eh.lines("collectors/sw/")).some((l) => l.via === "v1a"));
});

test("malformed_v1a_signatures_are_invalid_signature_never_unavailable", async () => {
  // An Ed25519 signature is 64 bytes; WebCrypto throws on other lengths, which once
  // answered 503 with the runtime's error text and a Retry-After.
  const body = JSON.stringify({ via: "v1a-malformed" });
  const good = v1aHeaders(body);
  for (const n of [1, 32, 63, 65, 66, 128]) {
    const sig = Buffer.alloc(n, 7).toString("base64");
    const r = await eh.fetch("/hooks/sw-ed", { method: "POST", headers: { ...json, ...good, "webhook-signature": `v1a,${sig}` }, body });
    const answer = await r.json();
    assert.deepEqual([r.status, answer.error.code], [401, "invalid_signature"], `${n} bytes`);
    assert.equal(r.headers.get("retry-after"), null, `${n} bytes`);
  }
  // A malformed entry next to a good one does not spoil it.
  const sig = good["webhook-signature"];
  const mixed = await post("sw-ed", body, { ...good, "webhook-signature": `v1a,${Buffer.alloc(66, 7).toString("base64")} ${sig}` });
  assert.equal(mixed.status, 202, JSON.stringify(mixed.body));
});

test("large_bodies_verify_through_webcrypto_hmac", async () => {
  // 64 KiB is above the 4 KiB threshold where the worker HMACs with crypto.subtle.
  const body = JSON.stringify({ via: "large", blob: "x".repeat(64 * 1024) });
  const good = await eh.fetch("/hooks/gh", { method: "POST", headers: { ...json, ...(await signers.gh(body, true)) }, body });
  assert.equal(good.status, 202);
  const bad = await eh.fetch("/hooks/gh", { method: "POST", headers: { ...json, ...(await signers.gh(body, false)) }, body });
  assert.deepEqual([bad.status, (await bad.json()).error.code], [401, "invalid_signature"]);
  await eh.until(async () => (await eh.lines("collectors/gh/")).some((l) => l.via === "large"), 15000, "large record");
});
