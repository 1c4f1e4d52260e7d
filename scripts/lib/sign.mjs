// Request signing for every edgehook auth scheme, with Node's own crypto (and jose for
// JWTs). Each signer takes the raw body exactly as it will be sent and returns the
// headers to add. Used by scripts/sign.mjs, scripts/jwt.mjs and the miniflare tests.
import { createHash, createHmac, randomUUID } from "node:crypto";
import { SignJWT, importJWK, importPKCS8, exportJWK, generateKeyPair, generateSecret, exportSPKI } from "jose";

export const SCHEMES = ["hmac", "github", "standard-webhooks", "stripe", "ashirt", "jwt", "api-key", "none"];

const nowSecs = () => Math.floor(Date.now() / 1000);

/** Mozilla AMO: `Authorization: HMAC-SHA256 <hex HMAC-SHA256(secret, body)>`. */
export function signHmac(secret, body) {
  return { authorization: `HMAC-SHA256 ${createHmac("sha256", secret).update(body).digest("hex")}` };
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex>`. */
export function signGithub(secret, body) {
  return { "x-hub-signature-256": `sha256=${createHmac("sha256", secret).update(body).digest("hex")}` };
}

/**
 * Standard Webhooks: the key is the base64 after `whsec_` (a secret without the prefix is
 * base64 too); signs `id.timestamp.body`.
 */
export function signStandardWebhooks(secret, body, { id = `msg_${randomUUID()}`, timestamp = nowSecs() } = {}) {
  const key = Buffer.from(secret.startsWith("whsec_") ? secret.slice(6) : secret, "base64");
  const sig = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(body).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": `v1,${sig}` };
}

/** Stripe: the secret is used as-is (`whsec_` included); signs `t.body`. */
export function signStripe(secret, body, { timestamp = nowSecs() } = {}) {
  const sig = createHmac("sha256", secret).update(`${timestamp}.`).update(body).digest("hex");
  return { "stripe-signature": `t=${timestamp},v1=${sig}` };
}

/**
 * AShirt request signing: `Authorization: <accessKey>:<base64 HMAC-SHA256(secret key,
 * METHOD\nURI\nDATE\n + raw sha256(body))>`, where the secret key is base64 and URI is the
 * path plus `?query` exactly as sent.
 */
export function signAshirt(accessKey, secretB64, { method = "POST", uri, body, date = new Date().toUTCString() }) {
  const mac = createHmac("sha256", Buffer.from(secretB64, "base64"));
  mac.update(`${method}\n${uri}\n${date}\n`);
  mac.update(createHash("sha256").update(body).digest());
  return { date, authorization: `${accessKey}:${mac.digest("base64")}` };
}

/** The algorithm a key's type implies (edgehook binds each key to one). */
export function algOf(jwk) {
  switch (jwk.kty) {
    case "RSA": return "RS256";
    case "EC": return "ES256";
    case "OKP": return "EdDSA";
    case "oct": return "HS256";
    default: throw new Error(`unsupported key type ${jwk.kty}`);
  }
}

/** Parses a signing key: a JWK (JSON text or object) or a PKCS#8 PEM private key. */
export async function signingKey(key, alg) {
  if (typeof key === "string" && key.includes("-----BEGIN")) {
    if (!alg) throw new Error("a PEM key needs --alg (RS256, ES256 or EdDSA)");
    return { key: await importPKCS8(key, alg), alg, kid: undefined };
  }
  const jwk = typeof key === "string" ? JSON.parse(key) : key;
  const a = alg || jwk.alg || algOf(jwk);
  return { key: await importJWK(jwk, a), alg: a, kid: jwk.kid };
}

/**
 * A JWT for a `jwt` collector: `iss` and `aud` default to the collector URL
 * (`<public_url>/hooks/<name>`), `iat` now, `exp` after `ttl` seconds.
 */
export async function mintJwt({ key, alg, iss, aud, sub, ttl = 3600, claims = {}, kid, now = nowSecs() }) {
  const k = await signingKey(key, alg);
  const header = { alg: k.alg, typ: "JWT" };
  if (kid ?? k.kid) header.kid = kid ?? k.kid;
  let jwt = new SignJWT({ ...claims }).setProtectedHeader(header).setIssuedAt(now).setExpirationTime(now + ttl);
  if (iss) jwt = jwt.setIssuer(iss);
  if (aud) jwt = jwt.setAudience(aud);
  if (sub) jwt = jwt.setSubject(sub);
  return jwt.sign(k.key);
}

/**
 * The token a subscriber PATCHes its result with (AMO service accounts): HS256 with the
 * service account's `jwt_secret`, `iss` = its `jwt_key`, `exp` = `iat` + 300 s at most,
 * a fresh `jti` (each token is accepted once).
 */
export async function serviceAccountJwt({ jwtKey, jwtSecret, ttl = 300, now = nowSecs() }) {
  return new SignJWT({})
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(jwtKey)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.min(ttl, 300))
    .setJti(randomUUID())
    .sign(new TextEncoder().encode(jwtSecret));
}

/** A new key pair for a `jwt` collector: the private JWK to sign with, and the public key for the secret. */
export async function generateJwtKey(alg) {
  if (alg === "HS256") {
    const secret = await generateSecret("HS256", { extractable: true });
    const jwk = { ...(await exportJWK(secret)), alg: "HS256", kid: randomUUID().slice(0, 8) };
    return { private: jwk, public: jwk };
  }
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === "EdDSA" ? "Ed25519" : undefined });
  const kid = randomUUID().slice(0, 8);
  return {
    private: { ...(await exportJWK(privateKey)), alg, kid },
    public: { ...(await exportJWK(publicKey)), alg, kid },
    publicPem: await exportSPKI(publicKey),
  };
}

/** `<origin>/hooks/<name>` for any URL of a collector: the default JWT iss and aud. */
export function collectorUrl(url) {
  const u = new URL(url);
  const [, hooks, name] = u.pathname.split("/");
  if (hooks !== "hooks" || !name) throw new Error(`${url} is not a /hooks/<collector> URL`);
  return `${u.origin}/hooks/${name}`;
}

/**
 * The headers for `scheme`, given the options the scheme needs: `secret` (hmac, github,
 * standard-webhooks, stripe, ashirt's base64 secret key), `accessKey` (ashirt), `key`
 * (jwt signing key), `apiKey` (api-key), `url` and `method` (ashirt's URI, jwt's iss/aud).
 */
export async function sign(scheme, { body, url, method = "POST", secret, accessKey, key, alg, apiKey, iss, aud, sub, ttl, claims, id, timestamp }) {
  const need = (v, name) => {
    if (!v) throw new Error(`scheme ${scheme} needs ${name}`);
    return v;
  };
  switch (scheme) {
    case "hmac": return signHmac(need(secret, "--secret"), body);
    case "github": return signGithub(need(secret, "--secret"), body);
    case "standard-webhooks": return signStandardWebhooks(need(secret, "--secret"), body, { id, timestamp });
    case "stripe": return signStripe(need(secret, "--secret"), body, { timestamp });
    case "ashirt": {
      const u = new URL(need(url, "--url"));
      return signAshirt(need(accessKey, "--access-key"), need(secret, "--secret"), { method, uri: u.pathname + u.search, body });
    }
    case "jwt": {
      const base = collectorUrl(need(url, "--url"));
      const token = await mintJwt({ key: need(key, "--key"), alg, iss: iss ?? base, aud: aud ?? base, sub, ttl, claims });
      return { authorization: `Bearer ${token}` };
    }
    case "api-key": return { "x-apikey": need(apiKey ?? secret, "--api-key") };
    case "none": return {};
    default: throw new Error(`unknown scheme ${scheme}; one of ${SCHEMES.join(", ")}`);
  }
}

/** A copy-paste curl command line for the signed request. */
export function curlCommand(url, headers, body, method = "POST") {
  const q = (s) => `'${String(s).replaceAll("'", `'\\''`)}'`;
  const parts = ["curl -sS", method === "POST" ? "" : `-X ${method}`, q(url), "-H 'content-type: application/json'"];
  for (const [k, v] of Object.entries(headers)) parts.push(`-H ${q(`${k}: ${v}`)}`);
  parts.push(`--data-binary ${q(body)}`);
  return parts.filter(Boolean).join(" \\\n  ");
}
