// The operator and sender scripts against the running worker: scripts/sign.mjs signs
// correctly for every scheme (sent by itself, as printed headers and as a printed curl
// command), scripts/jwt.mjs mints tokens a jwt collector accepts, scripts/admin.mjs
// issues, lists and revokes keys and registers a subscription with SPEC's body.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { jwtVerify, decodeJwt } from "jose";
import { start, root, testConfig, TEST_SECRETS } from "./harness.mjs";

const run = promisify(execFile);
const node = process.execPath;
const script = (name) => path.join(root, "scripts", name);
const JWT_HS256 = JSON.parse(readFileSync(path.join(root, "tests/vectors/jwt.json"), "utf8")).cases.find((c) => c.alg === "HS256").key;

let eh, base;
before(async () => {
  eh = await start();
  base = String(await eh.mf.ready).replace(/\/$/, "");
});
after(() => eh?.dispose());

/** Runs a script; resolves {code, stdout, stderr} whatever its exit code. */
async function sh(file, args, env = {}) {
  try {
    const r = await run(node, [script(file), ...args], { env: { ...process.env, ...env } });
    return { code: 0, ...r };
  } catch (e) {
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

// One case per scheme: the collector of the test config and the options it needs.
const CASES = {
  hmac: ["amo", ["--secret", TEST_SECRETS.AMO_KEY]],
  github: ["gh", ["--secret", TEST_SECRETS.GH_SECRET]],
  "standard-webhooks": ["sw", ["--secret", TEST_SECRETS.SW_SECRET]],
  stripe: ["stripe", ["--secret", TEST_SECRETS.STRIPE_SECRET]],
  ashirt: ["ashirt/sub/path?x=1&y=2", ["--access-key", "P4qRS5sa346iHWZBB53qzzNm", "--secret", TEST_SECRETS.ASHIRT_SECRET]],
  // The test config's public_url is http://edgehook.test, not the listening address.
  jwt: ["portal", ["--key", JSON.stringify(JWT_HS256), "--iss", "http://edgehook.test/hooks/portal", "--aud", "http://edgehook.test/hooks/portal", "--sub", "alice"]],
  none: ["open", []],
};

for (const [scheme, [collector, opts]] of Object.entries(CASES)) {
  test(`sign_mjs_sends_a_${scheme}_request_the_worker_accepts`, async () => {
    const url = `${base}/hooks/${collector}`;
    const body = JSON.stringify({ scheme, n: 1 });
    const sent = await sh("sign.mjs", [scheme, "--url", url, "--body", body, ...opts, "--send"]);
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    assert.match(sent.stdout, /^202 \{"id":"[0-9A-Z]{26}","status":"accepted"\}/);

    // Printed headers, sent by someone else.
    const printed = await sh("sign.mjs", [scheme, "--url", url, "--body", body, ...opts]);
    const headers = Object.fromEntries(
      printed.stdout.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]),
    );
    const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
    assert.equal(r.status, 202, await r.text());

    // A wrong secret is refused, so the 202s above are not the worker waving through.
    if (scheme !== "none") {
      const wrong = opts.map((o, i) => (opts[i - 1] === "--secret" ? Buffer.from("wrong-secret-value").toString("base64") : o));
      const forged = scheme === "jwt"
        ? opts.map((o, i) => (opts[i - 1] === "--key" ? JSON.stringify({ kty: "oct", k: Buffer.alloc(32, 7).toString("base64url") }) : o))
        : wrong;
      const bad = await sh("sign.mjs", [scheme, "--url", url, "--body", body, ...forged, "--send"]);
      assert.equal(bad.code, 1, bad.stdout);
      assert.match(bad.stdout, /^401 /);
    }
  });
}

test("sign_mjs_prints_a_curl_command_that_works_when_pasted", async () => {
  const url = `${base}/hooks/sw`;
  const body = `{"quote":"it's \\"quoted\\""}`;
  const printed = await sh("sign.mjs", ["standard-webhooks", "--url", url, "--body", body, "--curl"], { EDGEHOOK_SECRET: TEST_SECRETS.SW_SECRET });
  assert.equal(printed.code, 0, printed.stderr);
  const { stdout } = await run("bash", ["-c", printed.stdout]);
  assert.match(stdout, /"status":"accepted"/);
});

test("sign_mjs_api_key_scheme_sends_an_issued_key", async () => {
  const env = { EDGEHOOK_URL: base, EDGEHOOK_ADMIN_TOKEN: TEST_SECRETS.ADMIN_TOKEN };
  const issued = JSON.parse((await sh("admin.mjs", ["keys", "issue", "--name", "sender", "--scopes", "scrape"], env)).stdout);
  const sent = await sh("sign.mjs", ["api-key", "--url", `${base}/hooks/scraper`, "--api-key", issued.key, "--body", "{}", "--send"]);
  assert.match(sent.stdout, /^202 /);
});

test("admin_mjs_issues_lists_and_revokes_keys", async () => {
  const env = { EDGEHOOK_URL: base, EDGEHOOK_ADMIN_TOKEN: TEST_SECRETS.ADMIN_TOKEN };
  const issued = await sh("admin.mjs", ["keys", "issue", "--name", "ops", "--email", "ops@example.com", "--scopes", "scrape, publish", "--ttl-days", "7"], env);
  assert.equal(issued.code, 0, issued.stdout);
  const k = JSON.parse(issued.stdout);
  assert.deepEqual([k.name, k.email, k.scopes, k.not_after - k.not_before], ["ops", "ops@example.com", ["scrape", "publish"], 7 * 86400]);
  const listed = JSON.parse((await sh("admin.mjs", ["keys", "list"], env)).stdout);
  assert.ok(listed.keys.some((x) => x.id === k.id && x.status === "active"));
  const revoked = await sh("admin.mjs", ["keys", "revoke", k.id], env);
  assert.equal(JSON.parse(revoked.stdout).status, "revoked");
  const t = await fetch(`${base}/keys/test`, { headers: { "x-apikey": k.key } });
  assert.equal(t.status, 401);
  const denied = await sh("admin.mjs", ["keys", "list"], { ...env, EDGEHOOK_ADMIN_TOKEN: "wrong" });
  assert.equal(denied.code, 1);
  assert.match(denied.stdout, /invalid_admin_token/);
  const stats = JSON.parse((await sh("admin.mjs", ["stats", "--hours", "1"], env)).stdout);
  assert.equal(stats.hours, 1);
  const batches = await sh("admin.mjs", ["batches", "--collector", "amo", "--limit", "5"], env);
  assert.equal(batches.code, 0, batches.stdout);
});

test("admin_mjs_registers_a_subscription_with_specs_body", async () => {
  // A stand-in for the worker's /admin/subscriptions (dispatch is another branch).
  let seen;
  const server = createServer((req, res) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => {
      seen = { method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers["content-type"], body: JSON.parse(data) };
      res.writeHead(201, { "content-type": "application/json" }).end('{"id":"sub_1"}');
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  try {
    const env = { EDGEHOOK_URL: `http://127.0.0.1:${server.address().port}`, EDGEHOOK_ADMIN_TOKEN: "t0k" };
    const r = await sh("admin.mjs", ["subscribe", "--name", "scanner", "--url", "https://scanner.example/hook", "--events", "addon.uploaded,rule.matched", "--header", "X-Team: blue", "--api-key", "k1"], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(seen, {
      method: "POST",
      url: "/admin/subscriptions",
      auth: "Bearer t0k",
      type: "application/json",
      body: { name: "scanner", url: "https://scanner.example/hook", events: ["addon.uploaded", "rule.matched"], api_key: "k1", headers: { "X-Team": "blue" } },
    });
    // A destination beyond HTTP instead of a URL (docs/DISPATCH.md#destinations-beyond-http).
    const r2 = await sh("admin.mjs", ["subscribe", "--name", "archive", "--r2", "DELIVERY_BUCKET", "--prefix", "out/", "--events", "a.b"], env);
    assert.equal(r2.code, 0, r2.stderr);
    assert.deepEqual(seen.body, { name: "archive", destination: { kind: "r2", binding: "DELIVERY_BUCKET", prefix: "out/" }, events: ["a.b"] });
    const svc = await sh("admin.mjs", ["subscribe", "--name", "svc", "--service", "HOOK_SERVICE", "--path", "/in", "--events", "a.b"], env);
    assert.equal(svc.code, 0, svc.stderr);
    assert.deepEqual(seen.body.destination, { kind: "service", binding: "HOOK_SERVICE", path: "/in" });
    const both = await sh("admin.mjs", ["subscribe", "--name", "x", "--url", "https://a.example/", "--queue", "EVENTS_OUT", "--events", "a.b"], env);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /one of --url, --queue, --r2, --service/);
  } finally {
    server.close();
  }
});

test("jwt_mjs_generated_keys_mint_tokens_a_jwt_collector_accepts", async () => {
  const keys = {};
  for (const alg of ["ES256", "EdDSA", "RS256"]) {
    const g = await sh("jwt.mjs", ["generate", alg]);
    assert.equal(g.code, 0, g.stderr);
    keys[alg] = JSON.parse(g.stdout);
    assert.equal(keys[alg].private_jwk.alg, alg);
    assert.ok(keys[alg].private_jwk.d && !keys[alg].public_jwk.d, "public half only in public_jwk");
  }
  const own = await start({
    config: testConfig({ collectors: [{ name: "portal", auth: { scheme: "jwt", keys: ["K_ES", "K_ED", "K_RS"] } }] }),
    secrets: {
      K_ES: JSON.stringify(keys.ES256.public_jwk),
      K_ED: keys.EdDSA.public_pem,
      K_RS: JSON.stringify(keys.RS256.public_jwk),
    },
  });
  try {
    for (const alg of Object.keys(keys)) {
      const minted = await sh("jwt.mjs", ["mint", "--key", JSON.stringify(keys[alg].private_jwk), "--url", "http://edgehook.test/hooks/portal", "--sub", "bob", "--ttl", "600"]);
      assert.equal(minted.code, 0, minted.stderr);
      const token = minted.stdout.trim();
      const claims = decodeJwt(token);
      assert.deepEqual([claims.iss, claims.aud, claims.sub, claims.exp - claims.iat], ["http://edgehook.test/hooks/portal", "http://edgehook.test/hooks/portal", "bob", 600]);
      const r = await own.fetch("/hooks/portal", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: "{}" });
      assert.equal(r.status, 202, `${alg}: ${await r.text()}`);
    }
  } finally {
    await own.dispose();
  }
});

test("jwt_mjs_service_account_tokens_follow_specs_patch_rules", async () => {
  const a = await sh("jwt.mjs", ["service-account", "--jwt-key", "user:1234:5", "--jwt-secret", "s3cret-of-the-account"]);
  const b = await sh("jwt.mjs", ["service-account", "--jwt-key", "user:1234:5", "--jwt-secret", "s3cret-of-the-account"]);
  const { payload, protectedHeader } = await jwtVerify(a.stdout.trim(), new TextEncoder().encode("s3cret-of-the-account"), { issuer: "user:1234:5" });
  assert.equal(protectedHeader.alg, "HS256");
  assert.ok(payload.exp - payload.iat <= 300 && payload.exp > payload.iat);
  assert.ok(payload.jti);
  assert.notEqual(decodeJwt(b.stdout.trim()).jti, payload.jti, "each token has its own jti");
});
