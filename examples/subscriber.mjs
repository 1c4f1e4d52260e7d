#!/usr/bin/env node
// An edgehook subscriber in plain Node (no dependencies): verifies each delivery's HMAC,
// answers synchronously or later with a PATCH, as docs/SUBSCRIBERS.md describes.
//
//   SUBSCRIBER_API_KEY=<api_key> SUBSCRIBER_JWT_KEY=<jwt_key> SUBSCRIBER_JWT_SECRET=<jwt_secret> \
//   MODE=sync|async PORT=9000 node examples/subscriber.mjs
//
// The three values are what POST /admin/subscriptions answered (once). During a secret
// rotation, SUBSCRIBER_API_KEY may hold several keys separated by commas.
import { createServer } from "node:http";
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import { fileURLToPath } from "node:url";

/** True when `Authorization: HMAC-SHA256 <hex>` is the HMAC of `raw` under one of `keys`. */
export function verifyHmac(authorization, raw, keys) {
  const m = /^HMAC-SHA256\s+([0-9a-fA-F]{64})$/i.exec((authorization || "").trim());
  if (!m) return false;
  const given = Buffer.from(m[1].toLowerCase(), "hex");
  // Check every key so the time taken does not say which one matched.
  let ok = false;
  for (const key of keys) {
    const expected = createHmac("sha256", key).update(raw).digest();
    ok = timingSafeEqual(expected, given) || ok;
  }
  return ok;
}

const b64url = (b) => Buffer.from(b).toString("base64url");

/** The service-account JWT for PATCH: HS256, iss = jwt_key, exp = iat + 300, fresh jti. */
export function serviceAccountToken(jwtKey, jwtSecret, now = Math.floor(Date.now() / 1000)) {
  const header = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const claims = b64url(JSON.stringify({ iss: jwtKey, iat: now, exp: now + 300, jti: randomUUID() }));
  const sig = createHmac("sha256", jwtSecret).update(`${header}.${claims}`).digest("base64url");
  return `${header}.${claims}.${sig}`;
}

/** Your scanner goes here. This one matches rule "example-rule" when the event says `flag: true`. */
export async function scan(event) {
  return { version: "1.0.0", matchedRules: event.flag === true ? ["example-rule"] : [] };
}

/** Sends a result later, to the URL the delivery carried. */
export async function patchResult(resultUrl, results, { jwtKey, jwtSecret }) {
  const r = await fetch(resultUrl, {
    method: "PATCH",
    headers: { authorization: `JWT ${serviceAccountToken(jwtKey, jwtSecret)}`, "content-type": "application/json" },
    body: JSON.stringify({ results }),
  });
  if (!r.ok) throw new Error(`PATCH ${resultUrl}: ${r.status} ${await r.text()}`);
  return r;
}

/**
 * The subscriber as an HTTP server. `mode`: "sync" answers `200 {version, matchedRules}`
 * at once (AMO's synchronous scanners); "async" answers `202` and PATCHes the result to
 * `scanner_result_url` when the scan is done. `onPatched` is called after each PATCH.
 */
export function createSubscriber({ apiKeys, jwtKey, jwtSecret, mode = "sync", onPatched = () => {}, log = console.log }) {
  return createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const raw = Buffer.concat(chunks);
      const reply = (status, body) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.method !== "POST") return reply(405, { error: "POST only" });
      // Verify before parsing: an unsigned body is not even looked at.
      // During a rotation the previous key's signature travels in its own header.
      const signed = [req.headers.authorization, req.headers["x-edgehook-previous-authorization"]];
      if (!signed.some((h) => verifyHmac(h, raw, apiKeys))) return reply(401, { error: "bad signature" });
      let event;
      try {
        event = JSON.parse(raw);
      } catch {
        return reply(400, { error: "not JSON" });
      }
      // AShirt's test message, sent by POST /admin/subscriptions/{id}/test.
      if (event.type === "test") return reply(200, { action: "processed" });
      log(`delivery ${req.headers["webhook-id"] ?? ""} for ${event.scanner_result_url}`);
      if (mode === "sync") return reply(200, await scan(event));
      reply(202, { action: "deferred" });
      try {
        const results = await scan(event);
        await patchResult(event.scanner_result_url, results, { jwtKey, jwtSecret });
        onPatched(null, event.scanner_result_url);
      } catch (e) {
        log(`could not send the result: ${e.message}`);
        onPatched(e, event.scanner_result_url);
      }
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const need = (n) => process.env[n] || (console.error(`set ${n}`), process.exit(2));
  const server = createSubscriber({
    apiKeys: need("SUBSCRIBER_API_KEY").split(",").map((s) => s.trim()),
    jwtKey: need("SUBSCRIBER_JWT_KEY"),
    jwtSecret: need("SUBSCRIBER_JWT_SECRET"),
    mode: process.env.MODE || "sync",
  });
  const port = Number(process.env.PORT || 9000);
  server.listen(port, () => console.log(`subscriber (${process.env.MODE || "sync"}) on :${port}`));
}
