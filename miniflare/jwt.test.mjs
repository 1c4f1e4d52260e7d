// JWT collectors in workerd, where signatures are checked by WebCrypto: the RFC vectors,
// tokens signed by the independent `jose` library, and the attacks of RFC 8725.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { SignJWT, exportJWK, generateKeyPair, importJWK } from "jose";
import { createHmac, createPublicKey } from "node:crypto";
import { start, testConfig, TEST_SECRETS, root } from "./harness.mjs";

const VECTORS = JSON.parse(readFileSync(path.join(root, "tests/vectors/jwt.json"), "utf8")).cases;
const PORTAL = "http://edgehook.test/hooks/portal";
const LIVE = "http://edgehook.test/hooks/live";
const live = {};
const RSA_ONLY = "http://edgehook.test/hooks/rsa-only";
let secrets;
let eh;

before(async () => {
  // Fresh key pairs made by jose; the worker gets only their public JWKs.
  secrets = { ...TEST_SECRETS };
  for (const alg of ["RS256", "ES256", "EdDSA"]) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { crv: alg === "EdDSA" ? "Ed25519" : undefined });
    live[alg] = privateKey;
    secrets[`LIVE_${alg.toUpperCase()}`] = JSON.stringify({ ...(await exportJWK(publicKey)), kid: `live-${alg}` });
  }
  const config = testConfig();
  config.collectors.push({
    name: "live",
    auth: { scheme: "jwt", keys: ["LIVE_RS256", "LIVE_ES256", "LIVE_EDDSA", "JWT_HS256"] },
  });
  config.collectors.push({ name: "rsa-only", auth: { scheme: "jwt", keys: ["LIVE_RS256"] } });
  eh = await start({ config, secrets });
});
after(() => eh?.dispose());

function post(collector, token, body = '{"ok":true}') {
  return eh.fetch(`/hooks/${collector}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body,
  });
}

async function code(resp) {
  return [resp.status, resp.status === 202 ? "accepted" : (await resp.json()).error.code];
}

function tamperSignature(token) {
  const [h, p, s] = token.split(".");
  const mid = Math.floor(s.length / 2);
  const flipped = s[mid] === "A" ? "B" : "A";
  return `${h}.${p}.${s.slice(0, mid)}${flipped}${s.slice(mid + 1)}`;
}

test("rfc_vectors_verify_through_webcrypto", async () => {
  // The RFC tokens' claims are long expired (7515) or not JSON at all (8037): reaching
  // those checks proves the signature verified; a flipped signature byte must not.
  for (const v of VECTORS) {
    const expected = v.name.startsWith("rfc8037") ? "malformed_token" : "expired_token";
    assert.deepEqual(await code(await post("portal", v.token)), [401, expected], v.name);
    assert.deepEqual(await code(await post("portal", tamperSignature(v.token))), [401, "invalid_signature"], v.name);
  }
});

test("tokens_signed_by_jose_are_accepted_end_to_end", async () => {
  const hs256 = await importJWK(VECTORS.find((v) => v.alg === "HS256").key, "HS256");
  const keys = { ...live, HS256: hs256 };
  for (const [alg, key] of Object.entries(keys)) {
    const header = alg === "HS256" ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid: `live-${alg}` };
    const token = await new SignJWT({ sub: `user-${alg}` })
      .setProtectedHeader(header)
      .setIssuer(LIVE)
      .setAudience(LIVE)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(key);
    const r = await post("live", token, JSON.stringify({ alg }));
    assert.deepEqual(await code(r), [202, "accepted"], alg);
  }
  await eh.until(async () => (await eh.lines("collectors/live/")).length === 4, 15000, "four jose records");
  const algs = (await eh.lines("collectors/live/")).map((l) => l.alg).sort();
  assert.deepEqual(algs, ["ES256", "EdDSA", "HS256", "RS256"]);
});

const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

test("attacks_are_refused_and_leave_nothing", async () => {
  const claims = { iss: LIVE, aud: LIVE, iat: now(), exp: now() + 600 };
  // Key confusion: HMAC the token with the collector's own RSA public key (PEM and DER).
  const rsaPublic = createPublicKey({ key: JSON.parse(secrets.LIVE_RS256), format: "jwk" });
  const confused = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ ...claims, iss: RSA_ONLY, aud: RSA_ONLY })}`;
  for (const keyBytes of [rsaPublic.export({ type: "spki", format: "pem" }), rsaPublic.export({ type: "spki", format: "der" })]) {
    const sig = createHmac("sha256", keyBytes).update(confused).digest("base64url");
    assert.deepEqual(await code(await post("rsa-only", `${confused}.${sig}`)), [401, "algorithm_not_allowed"]);
  }
  const sign = (c, h = { alg: "ES256", kid: "live-ES256" }) =>
    new SignJWT(c).setProtectedHeader(h).sign(live.ES256);
  const cases = [
    ["alg none", `${b64({ alg: "none" })}.${b64(claims)}.`, "algorithm_not_allowed"],
    ["expired", await sign({ ...claims, iat: now() - 700, exp: now() - 100 }), "expired_token"],
    ["iat in the future", await sign({ ...claims, iat: now() + 300, exp: now() + 600 }), "issued_in_future"],
    ["lifetime too long", await sign({ ...claims, exp: now() + 366 * 86400 }), "lifetime_too_long"],
    ["wrong audience", await sign({ ...claims, aud: PORTAL }), "invalid_audience"],
    ["wrong issuer", await sign({ ...claims, iss: "https://evil.example" }), "invalid_issuer"],
    ["unknown kid", await sign(claims, { alg: "ES256", kid: "retired" }), "unknown_key"],
    ["tampered", tamperSignature(await sign(claims)), "invalid_signature"],
    ["not a JWT", "garbage", "malformed_token"],
  ];
  for (const [what, token, expected] of cases) {
    assert.deepEqual(await code(await post("live", token, JSON.stringify({ attack: what }))), [401, expected], what);
  }
  await new Promise((r) => setTimeout(r, 2000));
  assert.ok(!(await eh.lines("collectors/live/")).some((l) => l.attack), "an attack was stored");
  assert.deepEqual(await eh.objects("collectors/rsa-only/"), []);
});

test("malformed_signatures_are_invalid_signature_never_unavailable", async () => {
  // WebCrypto throws on an Ed25519 signature that is not 64 bytes; that once answered
  // 503 with the runtime's error text and a Retry-After.
  const claims = { iss: LIVE, aud: LIVE, iat: now(), exp: now() + 600 };
  for (const alg of ["EdDSA", "ES256", "RS256"]) {
    const token = await new SignJWT(claims).setProtectedHeader({ alg, kid: `live-${alg}` }).sign(live[alg]);
    const [h, p] = token.split(".");
    for (const n of [0, 1, 10, 63, 65, 255, 257]) {
      const sig = Buffer.alloc(n, 7).toString("base64url");
      const r = await post("live", `${h}.${p}.${sig}`, JSON.stringify({ attack: `${alg} ${n}` }));
      const answer = await r.json();
      assert.deepEqual([r.status, answer.error.code], [401, "invalid_signature"], `${alg} ${n} bytes`);
      assert.equal(r.headers.get("retry-after"), null, `${alg} ${n} bytes`);
    }
  }
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!(await eh.lines("collectors/live/")).some((l) => l.attack), "an attack was stored");
});

test("tokens_naming_critical_extensions_are_refused", async () => {
  // RFC 7515 4.1.11: a `crit` extension the recipient does not implement makes the JWS
  // invalid. edgehook implements none, so any `crit` is refused, even with a good signature.
  const claims = { iss: LIVE, aud: LIVE, iat: now(), exp: now() + 600 };
  const signed = (crit, extra = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "EdDSA", kid: "live-EdDSA", crit, ...extra })
      .sign(live.EdDSA, { crit: Object.fromEntries(crit.map((c) => [c, true])) });
  const hs256 = VECTORS.find((v) => v.alg === "HS256").key;
  const header = b64({ alg: "HS256", b64: false, crit: ["b64"] });
  const unencoded = `${header}.${b64(claims)}`;
  const mac = createHmac("sha256", Buffer.from(hs256.k, "base64url")).update(unencoded).digest("base64url");
  const cases = [
    ["an unknown extension", await signed(["urn:example:ext"], { "urn:example:ext": 1 })],
    ["two extensions", await signed(["urn:example:a", "urn:example:b"], { "urn:example:a": 1, "urn:example:b": 2 })],
    ["RFC 7797 unencoded payload (b64)", `${unencoded}.${mac}`],
  ];
  for (const [what, token] of cases) {
    assert.deepEqual(await code(await post("live", token, JSON.stringify({ attack: what }))), [401, "unsupported_critical_header"], what);
  }
  // Without `crit`, the same key and claims are accepted.
  const plain = await new SignJWT(claims).setProtectedHeader({ alg: "EdDSA", kid: "live-EdDSA" }).sign(live.EdDSA);
  assert.deepEqual(await code(await post("live", plain, JSON.stringify({ plain: true }))), [202, "accepted"]);
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok(!(await eh.lines("collectors/live/")).some((l) => l.attack), "an attack was stored");
});
