// Requests signed by independent libraries from npm (and AShirt's documented recipe) are
// accepted end to end and land in R2; a wrong signature for each is refused, nothing kept.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
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

// AShirt's generateAuthorizationHeaderValue (shared/reference/003), verbatim in spirit.
function ashirtAuthorization({ method, path, date, body, accessKey, secretKey }) {
  const head = Buffer.from(`${method}\n${path}\n${date}\n`);
  const digest = createHash("sha256").update(body).digest();
  const mac = createHmac("sha256", secretKey).update(Buffer.concat([head, digest])).digest("base64");
  return `${accessKey}:${mac}`;
}

const signers = {
  async gh(body, good) {
    return { "x-hub-signature-256": await octokitSign(good ? TEST_SECRETS.GH_SECRET : "wrong", body) };
  },
  async sw(body, good) {
    const id = `msg_${Math.random().toString(36).slice(2)}`;
    const wh = new Webhook(good ? TEST_SECRETS.SW_SECRET : "whsec_" + Buffer.from("wrong-key").toString("base64"));
    const now = new Date();
    return { "webhook-id": id, "webhook-timestamp": String(Math.floor(now / 1000)), "webhook-signature": wh.sign(id, now, body) };
  },
  async stripe(body, good) {
    const stripe = new Stripe("sk_test_unused");
    const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret: good ? TEST_SECRETS.STRIPE_SECRET : "whsec_wrong" });
    return { "stripe-signature": header };
  },
  async ashirt(body, good) {
    const date = new Date().toUTCString();
    const secretKey = Buffer.from(good ? TEST_SECRETS.ASHIRT_SECRET : "d3Jvbmc=", "base64");
    const authorization = ashirtAuthorization({ method: "POST", path: "/hooks/ashirt/evidence?op=1", date, body, accessKey: "P4qRS5sa346iHWZBB53qzzNm", secretKey });
    return { authorization, date };
  },
};

test("independently_signed_requests_are_accepted_and_land_in_r2", async () => {
  for (const [collector, sign] of Object.entries(signers)) {
    const body = JSON.stringify({ via: collector, n: 1 });
    const path = collector === "ashirt" ? "/hooks/ashirt/evidence?op=1" : `/hooks/${collector}`;
    const r = await eh.fetch(path, { method: "POST", headers: { ...json, ...(await sign(body, true)) }, body });
    assert.equal(r.status, 202, `${collector}: ${await r.clone().text()}`);
  }
  for (const collector of Object.keys(signers)) {
    await eh.until(async () => (await eh.lines(`collectors/${collector}/`)).some((l) => l.via === collector), 15000, collector);
  }
});

test("wrong_signatures_are_refused_and_nothing_is_stored", async () => {
  for (const [collector, sign] of Object.entries(signers)) {
    const body = JSON.stringify({ via: collector, forged: true });
    const path = collector === "ashirt" ? "/hooks/ashirt/evidence?op=1" : `/hooks/${collector}`;
    const r = await eh.fetch(path, { method: "POST", headers: { ...json, ...(await sign(body, false)) }, body });
    assert.equal(r.status, 401, collector);
    assert.equal((await r.json()).error.code, "invalid_signature", collector);
  }
  await new Promise((r) => setTimeout(r, 2000));
  for (const collector of Object.keys(signers)) {
    assert.ok(!(await eh.lines(`collectors/${collector}/`)).some((l) => l.forged), collector);
  }
});

test("stale_timestamps_are_refused", async () => {
  const body = '{"stale":true}';
  const wh = new Webhook(TEST_SECRETS.SW_SECRET);
  const old = new Date(Date.now() - 10 * 60 * 1000);
  const headers = { ...json, "webhook-id": "msg_old", "webhook-timestamp": String(Math.floor(old / 1000)), "webhook-signature": wh.sign("msg_old", old, body) };
  const r = await eh.fetch("/hooks/sw", { method: "POST", headers, body });
  assert.deepEqual([r.status, (await r.json()).error.code], [401, "timestamp_out_of_tolerance"]);
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
