// Cloudflare Access sign-in for the admin API and the audit log (issue 23 §3): tokens
// minted by the test (jose, RS256) against a local JWKS served as a team's
// /cdn-cgi/access/certs; roles by email and group; the bearer token still works; every
// change tried is audited with who, what, when and from where; and in headless Chromium a
// viewer cannot revoke a key while an admin can, with screenshots under test-output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { start, root, testConfig, TEST_SECRETS } from "./harness.mjs";

const executablePath = process.env.CHROMIUM_BIN || execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
const AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";

let eh, browser, base, team, teamUrl, signing, other, certsServed = 0;
before(async () => {
  signing = await generateKeyPair("RS256");
  other = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  team = http.createServer((req, res) => {
    if (req.url !== "/cdn-cgi/access/certs") { res.writeHead(404); res.end(); return; }
    certsServed += 1;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [jwk], public_cert: { kid: "k1", cert: "-" }, public_certs: [] }));
  });
  await new Promise((r) => team.listen(0, "127.0.0.1", r));
  teamUrl = `http://127.0.0.1:${team.address().port}`;
  const config = testConfig({
    dispatch: { allow_private_hosts: ["127.0.0.1"] },
    admin: {
      access: { team_domain: teamUrl, audience: AUD },
      roles: { admin: ["alice@example.com"], viewer: ["group:auditors"] },
    },
  });
  eh = await start({ config, environment: "dev" });
  base = String(await eh.mf.ready).replace(/\/$/, "");
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
});
after(async () => {
  team?.close();
  await browser?.close();
  await eh?.dispose();
});

/** An Access application token as Cloudflare mints one. */
function mint({ email = "alice@example.com", groups, aud = AUD, iss, key = signing.privateKey, kid = "k1", exp = "1h", iat } = {}) {
  const claims = { type: "app", identity_nonce: "n", country: "NL" };
  if (email !== null) claims.email = email;
  if (groups) claims.groups = groups;
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid }).setAudience(aud).setIssuer(iss ?? teamUrl)
    .setSubject("7335d417-61da-459d-899c-0a01c76a2f94").setIssuedAt(iat).setExpirationTime(exp);
  return jwt.sign(key);
}
const as = async (token, method, p, body) => {
  const headers = { "cf-access-jwt-assertion": await token, "cf-connecting-ip": "203.0.113.7" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await eh.fetch(p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};

test("an_access_identity_is_the_admin_with_the_role_admin_roles_gives_it", async () => {
  const alice = await as(mint(), "GET", "/admin/whoami");
  assert.equal(alice.status, 200);
  assert.deepEqual(alice.body, { who: "alice@example.com", role: "admin", via: "access" });
  const bob = await as(mint({ email: "bob@example.com", groups: ["auditors"] }), "GET", "/admin/whoami");
  assert.deepEqual(bob.body, { who: "bob@example.com", role: "viewer", via: "access" });

  const issued = await as(mint(), "POST", "/admin/keys", { name: "from-access", scopes: ["scrape"] });
  assert.equal(issued.status, 201);
  // A viewer reads but cannot revoke.
  assert.equal((await as(mint({ email: "bob@example.com", groups: ["auditors"] }), "GET", "/admin/keys")).status, 200);
  const revoke = await as(mint({ email: "bob@example.com", groups: ["auditors"] }), "DELETE", `/admin/keys/${issued.body.id}`);
  assert.deepEqual([revoke.status, revoke.body.error.code], [403, "read_only"]);
  const keys = await as(mint(), "GET", "/admin/keys");
  assert.equal(keys.body.keys.find((k) => k.id === issued.body.id).status, "active");
  // Signed in, but no role.
  const carol = await as(mint({ email: "carol@example.com" }), "GET", "/admin/keys");
  assert.deepEqual([carol.status, carol.body.error.code], [403, "no_admin_role"]);
  // The bearer token stays, for scripts and CI.
  const token = await eh.fetch("/admin/whoami", { headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` } });
  assert.deepEqual(await token.json(), { who: "admin token", role: "admin", via: "token" });
  // The certs were fetched once and kept.
  assert.equal(certsServed, 1);
});

test("access_tokens_are_refused_for_audience_issuer_expiry_key_and_algorithm", async () => {
  const now = Math.floor(Date.now() / 1000);
  const cases = [
    ["wrong audience", mint({ aud: "another-app" }), "invalid_audience"],
    ["wrong issuer", mint({ iss: "https://other.cloudflareaccess.com" }), "invalid_issuer"],
    ["expired", mint({ iat: now - 7200, exp: now - 3600 }), "expired_token"],
    ["another key", mint({ key: other.privateKey }), "invalid_signature"],
    ["unknown kid", mint({ kid: "k9" }), "unknown_key"],
    ["not a JWT", Promise.resolve("not.a.jwt"), "malformed_token"],
    ["no email (a service token)", mint({ email: null }), "invalid_access_token"],
    ["alg none", Promise.resolve(`${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(JSON.stringify({ email: "alice@example.com", aud: AUD, iss: teamUrl, exp: now + 60, iat: now })).toString("base64url")}.`), "algorithm_not_allowed"],
  ];
  for (const [what, token, detail] of cases) {
    const r = await as(token, "GET", "/admin/keys");
    assert.equal(r.status, 401, what);
    assert.equal(r.body.error.code, detail, what);
    assert.match(r.body.error.message, /Access token/, what);
  }
  // Without any credential the answer says how to sign in.
  const none = await eh.fetch("/admin/keys");
  const body = await none.json();
  assert.deepEqual([none.status, body.error.code], [401, "missing_admin_token"]);
  assert.match(body.error.message, /Cloudflare Access/);
});

test("every_admin_change_is_audited_with_who_what_when_and_from_where", async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const made = await as(mint(), "POST", "/admin/keys", { name: "audited" });
  assert.equal(made.status, 201);
  const refused = await as(mint({ email: "bob@example.com", groups: ["auditors"] }), "DELETE", `/admin/keys/${made.body.id}`);
  assert.equal(refused.status, 403);
  const byToken = await eh.fetch(`/admin/keys/${made.body.id}`, { method: "DELETE", headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` } });
  assert.equal(byToken.status, 200);
  await byToken.arrayBuffer();
  const log = await as(mint({ email: "bob@example.com", groups: ["auditors"] }), "GET", "/admin/audit?limit=3");
  assert.equal(log.status, 200);
  const [last, middle, first] = log.body.entries;
  assert.deepEqual([first.actor, first.role, first.via, first.method, first.path, first.route, first.status, first.ip],
    ["alice@example.com", "admin", "access", "POST", "/admin/keys", "/admin/keys", 201, "203.0.113.7"]);
  assert.deepEqual([middle.actor, middle.role, middle.method, middle.status], ["bob@example.com", "viewer", "DELETE", 403]);
  assert.equal(middle.route, "/admin/keys/{id}");
  // miniflare sets CF-Connecting-IP itself when a request has none.
  assert.deepEqual([last.actor, last.via, last.status, last.ip], ["admin token", "token", 200, "127.0.0.1"]);
  assert.ok(first.at >= since && last.id > first.id);
  // Reads are not changes: none of the GETs above is in the log.
  assert.ok(log.body.entries.every((e) => e.method !== "GET"));
  const page2 = await as(mint(), "GET", `/admin/audit?limit=1&before=${last.id}`);
  assert.equal(page2.body.entries[0].id, middle.id);
  const bad = await as(mint(), "GET", "/admin/audit?limit=0");
  assert.deepEqual([bad.status, bad.body.error.code], [400, "invalid_query"]);
});

test("in_the_browser_a_viewer_cannot_revoke_a_key_and_an_admin_can", async () => {
  const key = await as(mint(), "POST", "/admin/keys", { name: "browser-revoke" });
  const dir = path.join(root, "test-output");
  mkdirSync(dir, { recursive: true });
  for (const [who, token, role] of [["viewer", mint({ email: "bob@example.com", groups: ["auditors"] }), "viewer"], ["admin", mint(), "admin"]]) {
    // Cloudflare's edge adds the assertion to every request of a signed-in browser.
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, extraHTTPHeaders: { "cf-access-jwt-assertion": await token } });
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });
    page.on("dialog", (d) => d.accept());
    await page.goto(`${base}/admin/`);
    await page.locator("#app").waitFor({ state: "visible" });
    assert.ok((await page.locator("#login").isHidden()), "no token form behind Access");
    await page.locator("#who", { hasText: role }).waitFor();
    const row = page.locator(`#keys tr[data-key-id="${key.body.id}"]`);
    await row.locator("button", { hasText: "Revoke" }).click();
    if (who === "viewer") {
      await page.locator("#keys .error", { hasText: "read_only" }).waitFor();
      assert.equal((await as(mint(), "GET", "/admin/keys")).body.keys.find((k) => k.id === key.body.id).status, "active");
    } else {
      await row.locator('[data-field="status"]', { hasText: "revoked" }).waitFor();
      await page.click('[data-refresh="audit"]');
      await page.locator('#audit tr[data-actor="bob@example.com"] [data-field="status"]', { hasText: "403" }).first().waitFor();
      await page.locator('#audit tr[data-actor="alice@example.com"]', { hasText: `DELETE /admin/keys/${key.body.id}` }).waitFor();
    }
    await page.screenshot({ path: path.join(dir, `access-${who}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    await context.close();
  }
});
