// Collector steps in workerd: Psoxy's claims check and pseudonymization end to end, a
// plugin Worker behind a service binding, filters and redaction.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { SignJWT, importJWK } from "jose";
import { start, testConfig, hugeAnswerServer, TEST_SECRETS } from "./harness.mjs";

const PSOXY = "http://edgehook.test/hooks/psoxy";
let eh;
let hs256;

before(async () => {
  eh = await start();
  hs256 = await importJWK(JSON.parse(TEST_SECRETS.JWT_HS256), "HS256");
});
after(() => eh?.dispose());

/** What edgehook must produce: p~ + base64url(HMAC-SHA256(salt, value)). */
function pseudonym(value) {
  return "p~" + createHmac("sha256", TEST_SECRETS.PSEUDONYM_SALT).update(value).digest("base64url");
}

function token(sub) {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(PSOXY)
    .setAudience(PSOXY)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(hs256);
}

async function postJson(pathname, body, headers = {}) {
  return eh.fetch(pathname, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function errorCode(resp) {
  return [resp.status, (await resp.json()).error?.code];
}

/** Consumes the queue and returns every line whose record matches `pred`. */
async function linesWhere(pred, count = 1, prefix = "collectors/") {
  return eh.until(async () => {
    const found = (await eh.lines(prefix)).filter(pred);
    return found.length >= count ? found : null;
  }, 15000, `${count} matching line(s) under ${prefix}`);
}

/** Every byte edgehook wrote to R2, as text. */
async function everythingInR2() {
  return (await eh.objects("")).map((o) => `${o.key}\n${o.text}`).join("\n");
}

test("psoxy_claims_must_match_query_path_and_payload_and_emails_become_pseudonyms", async () => {
  const sub = "u-42";
  const jwt = await token(sub);
  const auth = { authorization: `Bearer ${jwt}` };
  const body = (userId) => ({
    user_id: userId,
    employeeEmail: "alice@corp.example",
    managerEmail: "bob@corp.example",
    hours: 7,
  });

  // A mismatch in any one place: 403, nothing stored.
  const mismatches = [
    [`/hooks/psoxy/users/u-43?userId=${sub}`, body(sub)],
    [`/hooks/psoxy/users/${sub}?userId=u-43`, body(sub)],
    [`/hooks/psoxy/users/${sub}?userId=${sub}`, body("u-43")],
    [`/hooks/psoxy/users/${sub}`, body(sub)],
  ];
  for (const [pathname, payload] of mismatches) {
    assert.deepEqual(await errorCode(await postJson(pathname, payload, auth)), [403, "claim_mismatch"], pathname);
  }

  const ok = await postJson(`/hooks/psoxy/users/${sub}?userId=${sub}&email=alice%40corp.example`, body(sub), auth);
  assert.equal(ok.status, 202);
  const { id } = await ok.json();
  const [line] = await linesWhere((l) => l.id === id, 1, "collectors/psoxy/");
  // The path parameter is pseudonymized like the query parameter holding the same id.
  assert.equal(line.path, `/users/${pseudonym(sub)}`);
  assert.deepEqual(line.payload, {
    user_id: sub,
    employeeEmail: pseudonym("alice@corp.example"),
    managerEmail: pseudonym("bob@corp.example"),
    hours: 7,
  });
  assert.deepEqual(line.queryParameters, { userId: sub, email: pseudonym("alice@corp.example") });
  assert.ok(!JSON.stringify(line).includes(`/users/${sub}`));
  // Only the accepted record was stored.
  assert.equal((await eh.lines("collectors/psoxy/")).length, 1);

  // A second collector sharing the salt links the same person.
  const hr = await postJson("/hooks/hr", { staff: [{ email: "alice@corp.example", grade: 3 }] });
  assert.equal(hr.status, 202);
  const hrId = (await hr.json()).id;
  await linesWhere((l) => l.staff?.[0]?.grade === 3, 1, "collectors/hr/");
  const [hrLine] = await eh.lines("collectors/hr/");
  assert.equal(hrLine.staff[0].email, line.payload.employeeEmail);
  assert.ok(hrId);

  // No raw email anywhere in R2 or in any log line.
  const stored = await everythingInR2();
  for (const raw of ["alice@corp.example", "bob@corp.example", "alice%40corp.example"]) {
    assert.ok(!stored.includes(raw), `${raw} found in R2`);
    assert.ok(!eh.logs.some((l) => l.includes(raw)), `${raw} found in the logs`);
  }
  assert.ok(eh.logs.some((l) => l.includes('"collector":"psoxy"')), "the worker's log lines were captured");
});

test("plugin_worker_rewrites_rejects_and_times_out_per_on_error", async () => {
  // processed: the record is replaced by the plugin's content.
  const rewritten = await postJson("/hooks/scanned", { action: "rewrite", n: 1 });
  assert.equal(rewritten.status, 202);
  const rewrittenId = (await rewritten.json()).id;

  // rejected (406): 422, nothing stored.
  assert.deepEqual(await errorCode(await postJson("/hooks/scanned", { action: "reject", n: 2 })), [422, "rejected_by_plugin"]);

  // timeout with on_error = reject: 503 + Retry-After, nothing stored; the sender retries.
  const slow = await postJson("/hooks/scanned", { action: "slow", n: 3 });
  assert.equal(slow.status, 503);
  assert.ok(Number(slow.headers.get("retry-after")) > 0);
  assert.equal((await slow.json()).error.code, "plugin_unavailable");

  // error answer with on_error = reject: same.
  assert.deepEqual(await errorCode(await postJson("/hooks/scanned", { action: "fail", n: 4 })), [503, "plugin_unavailable"]);

  // timeout with on_error = pass: stored unchanged.
  const passed = await postJson("/hooks/scanned-pass", { action: "slow", n: 5 });
  assert.equal(passed.status, 202);

  // deferred (202): stored unchanged.
  assert.equal((await postJson("/hooks/scanned", { action: "other", n: 6 })).status, 202);

  const scanned = await linesWhere(() => true, 2, "collectors/scanned/");
  const byN = Object.fromEntries(scanned.map((l) => [l.n, l]));
  assert.deepEqual(byN[1], { action: "rewrite", n: 1, rewritten: true, by: "scanned", type: "record" });
  assert.deepEqual(byN[6], { action: "other", n: 6 });
  assert.deepEqual(Object.keys(byN).sort(), ["1", "6"]);
  const [pass] = await linesWhere(() => true, 1, "collectors/scanned-pass/");
  assert.deepEqual(pass, { action: "slow", n: 5 });
  assert.ok(rewrittenId);
});

test("filter_rejects_or_drops_and_redact_removes_matches", async () => {
  assert.deepEqual(await errorCode(await postJson("/hooks/sieve", { hello: 1 })), [422, "filtered"]);
  const dropped = await postJson("/hooks/sieve", { type: "user.created" });
  assert.equal(dropped.status, 202);
  assert.equal((await dropped.json()).status, "dropped");
  const kept = await postJson("/hooks/sieve", {
    type: "order.paid",
    card: "4111111111111111",
    items: [{ sku: "a", secret: "s1" }, { sku: "b", secret: "s2" }],
  });
  assert.equal(kept.status, 202);
  const lines = await linesWhere(() => true, 1, "collectors/sieve/");
  assert.deepEqual(lines, [{ type: "order.paid", items: [{ sku: "a" }, { sku: "b" }] }]);
  assert.ok(!(await everythingInR2()).includes("4111111111111111"));
});

test("a_plugin_answer_is_read_up_to_its_bound_and_the_rest_cancelled", async () => {
  // A 4 KiB collector reads at most 2 x 4 KiB + 64 KiB = 73 728 bytes of a plugin's answer.
  const MIB64 = 64 * 1024 * 1024;
  const huge = await hugeAnswerServer(200, MIB64, '{"action":"processed","content":{"n":1,"pad":"', '"}}');
  const fits = await hugeAnswerServer(200, 70 * 1024, '{"action":"processed","content":{"n":2,"pad":"', '"}}');
  const ehPlugin = await start({
    config: testConfig({
      collectors: [
        { name: "huge", max_body_bytes: 4096, auth: { scheme: "none" }, steps: [{ kind: "plugin", url: huge.url, timeout_ms: 20000 }] },
        { name: "fits", max_body_bytes: 4096, auth: { scheme: "none" }, steps: [{ kind: "plugin", url: fits.url, timeout_ms: 20000 }] },
      ],
    }),
  });
  try {
    const post = (name) => ehPlugin.fetch(`/hooks/${name}`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"n":0}' });
    const started = Date.now();
    const refused = await post("huge");
    const took = Date.now() - started;
    const body = await refused.json();
    assert.deepEqual([refused.status, body.error.code], [503, "plugin_unavailable"]);
    await ehPlugin.until(() => huge.answers[0].hungUp, 5000, "edgehook to hang up on the plugin");
    assert.ok(huge.answers[0].written < 16 * 1024 * 1024, `the plugin wrote ${huge.answers[0].written} bytes`);
    console.log(`64 MiB plugin answer: refused in ${took} ms; the plugin wrote ${huge.answers[0].written} bytes before edgehook hung up`);

    // An answer under the bound, larger than a subscriber's 64 KiB, replaces the record.
    const accepted = await post("fits");
    assert.equal(accepted.status, 202, JSON.stringify(await accepted.clone().json()));
    await accepted.arrayBuffer();
    const [line] = await ehPlugin.until(async () => {
      const lines = await ehPlugin.lines("collectors/fits/");
      return lines.length ? lines : null;
    }, 15000, "the processed record in R2");
    assert.equal(line.n, 2);
    assert.equal(line.pad.length, 70 * 1024 - 46 - 3);
  } finally {
    huge.close();
    fits.close();
    await ehPlugin.dispose();
  }
});

/** A GitHub push to `repo` with (message, author email) commits. */
function push(repo, commits, ref = "refs/heads/main") {
  return {
    ref,
    repository: { full_name: repo },
    commits: commits.map(([message, email]) => ({ message, author: { email } })),
  };
}

test("gitproxy_block_lists_refuse_or_drop_pushes_and_store_only_clean_ones", async () => {
  const ok = await postJson("/hooks/policy", push("acme/site", [["fix: typo", "alice@corp.example"], ["docs", "bob@partner.example"]]));
  assert.equal(ok.status, 202);
  const refused = [
    [push("acme/payroll", [["fix", "alice@corp.example"]]), "repository"],
    [push("acme/site", [["fix", "alice@corp.example"], ["rotate PASSWORD", "alice@corp.example"]]), "blocked: payload $.commits[*].message"],
    [push("acme/site", [["Do Not Merge yet", "alice@corp.example"]]), "blocked: payload $.commits[*].message"],
    [push("acme/site", [["customer ssn: 123-45-6789", "alice@corp.example"]]), "blocked: payload $.commits[*].message"],
    [push("acme/site", [["fix", "alice@corp.example"], ["fix", "mallory@evil.example"]]), "blocked: payload $.commits[*].author.email"],
    [push("acme/site", [["fix", "root@corp.example"]]), "blocked: payload $.commits[*].author.email"],
  ];
  for (const [body, why] of refused) {
    const resp = await postJson("/hooks/policy", body);
    const { error } = await resp.json();
    assert.deepEqual([resp.status, error.code], [422, "filtered"], JSON.stringify(body));
    assert.ok(error.message.includes(why), error.message);
  }
  const dropped = await postJson("/hooks/policy", push("acme/docs", [["wip", "alice@corp.example"]], "refs/heads/wip/x"));
  assert.deepEqual([dropped.status, (await dropped.json()).status], [202, "dropped"]);
  const lines = await linesWhere(() => true, 1, "collectors/policy/");
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0].commits.map((c) => c.message), ["fix: typo", "docs"]);
});

// Made-up credentials with real shapes, from the unit tests' corpus.
const SECRETS = JSON.parse(readFileSync(new URL("../tests/vectors/secrets.json", import.meta.url), "utf8"));
const secretOf = (detector) => SECRETS.secrets.find((c) => c.detector === detector).text;

test("scan_secrets_rejects_redacts_or_flags_and_never_stores_a_secret", async () => {
  // reject: 422 naming detector and place, not the secret; nothing stored.
  const aws = secretOf("aws-access-key-id");
  const resp = await postJson("/hooks/leaky", { note: "ok", logs: ["fine", aws] });
  const { error } = await resp.json();
  assert.deepEqual([resp.status, error.code], [422, "secret_detected"]);
  assert.equal(error.message, 'aws-access-key-id found at $["logs"][1]');
  assert.ok(!error.message.includes(aws.split("= ")[1]));
  // The allow list and clean bodies pass.
  assert.equal((await postJson("/hooks/leaky", { example: "AKIAIOSFODNN7EXAMPLE", n: 1 })).status, 202);

  // redact: each secret replaced in place, in the payload and the recorded query.
  const gh = secretOf("github-token");
  const pem = secretOf("private-key");
  const jwt = secretOf("jwt").split("Bearer ")[1];
  const redact = await postJson(`/hooks/leaky-redact?token=${jwt}&page=2`, { commit: { diff: `+${gh}\n` }, key: pem, n: 2 });
  assert.equal(redact.status, 202);
  // flag: stored as sent, plus the list of findings.
  const slack = secretOf("slack-webhook-url");
  assert.equal((await postJson("/hooks/leaky-flag", { alert: slack, n: 3 })).status, 202);

  const [redacted] = await linesWhere(() => true, 1, "collectors/leaky-redact/");
  assert.deepEqual(redacted.payload, {
    commit: { diff: "+export GITHUB_TOKEN=[REDACTED:github-token]\n" },
    key: "[REDACTED:private-key]\n",
    n: 2,
  });
  assert.deepEqual(redacted.queryParameters, { token: "[REDACTED:jwt]", page: "2" });
  const [flagged] = await linesWhere(() => true, 1, "collectors/leaky-flag/");
  assert.deepEqual(flagged, { alert: slack, n: 3, _secrets: [{ detector: "slack-webhook-url", path: '$["alert"]' }] });
  const [clean] = await linesWhere(() => true, 1, "collectors/leaky/");
  assert.deepEqual(clean, { example: "AKIAIOSFODNN7EXAMPLE", n: 1 });

  const stored = await everythingInR2();
  for (const secret of [aws.split("= ")[1], gh.split("=")[1], jwt, pem.split("\n")[1]]) {
    assert.ok(!stored.includes(secret), "a secret reached R2");
  }
});

test("validate_refuses_payloads_off_schema_with_place_and_keyword", async () => {
  assert.equal((await postJson("/hooks/schema", { id: "ord_1", amount: 3 })).status, 202);
  const cases = [
    ["/hooks/schema", { id: "ord_2", amount: -1 }, 'at /amount: keyword "minimum"'],
    ["/hooks/schema", { amount: 1 }, 'at /: keyword "required"'],
    ["/hooks/schema", [1], 'at /: keyword "type"'],
    // The schema held in a var (ORDER_SCHEMA), compiled when the config loaded.
    ["/hooks/schema-var", { items: [{ sku: "a", qty: 0 }] }, 'at /items/0/qty: keyword "minimum"'],
    ["/hooks/schema-var", { items: [{ qty: 1 }] }, 'at /items/0: keyword "required"'],
  ];
  for (const [pathname, body, want] of cases) {
    const resp = await postJson(pathname, body);
    const { error } = await resp.json();
    assert.deepEqual([resp.status, error.code], [422, "schema_mismatch"], JSON.stringify(body));
    assert.ok(error.message.startsWith(want), error.message);
  }
  assert.equal((await postJson("/hooks/schema-var", { items: [{ sku: "a", qty: 2 }] })).status, 202);
  const stored = await linesWhere(() => true, 1, "collectors/schema");
  assert.deepEqual(stored.map((l) => l.id ?? l.items?.[0]?.sku).sort(), ["a", "ord_1"]);
});

test("a_bad_schema_or_list_secret_is_invalid_config_naming_the_step", async () => {
  const cases = [
    [
      { name: "s", auth: { scheme: "none" }, steps: [{ kind: "validate", schema: { type: "objekt" } }] },
      {},
      "collectors[0].steps[0].schema: not a usable JSON Schema",
    ],
    [
      { name: "s", auth: { scheme: "none" }, steps: [{ kind: "validate", schema_from: "ORDER_SCHEMA" }] },
      { ORDER_SCHEMA: "{not json" },
      "collectors[0].steps[0].schema_from: secret ORDER_SCHEMA does not hold JSON",
    ],
    [
      { name: "s", auth: { scheme: "none" }, steps: [{ kind: "filter", when: { payload: { "$.r": { not_in: { secret: "REPOS" } } } } }] },
      { REPOS: "acme/site" },
      'collectors[0].steps[0].when.payload."$.r".not_in.secret: secret REPOS must hold a JSON array',
    ],
  ];
  for (const [collector, secrets, want] of cases) {
    const bad = await start({ config: { public_url: "http://edgehook.test", collectors: [collector] }, secrets: { ...TEST_SECRETS, ...secrets } });
    try {
      const resp = await bad.fetch("/hooks/s", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      const { error } = await resp.json();
      assert.deepEqual([resp.status, error.code], [500, "invalid_config"]);
      assert.ok(error.message.startsWith(want), error.message);
    } finally {
      await bad.dispose();
    }
  }
});

test("plugin_url_form_calls_a_web_service_on_127_0_0_1_the_ashirt_way", async () => {
  // An AShirt-style web service (shared/reference/003): answers by the record's action.
  const seen = [];
  const srv = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const message = JSON.parse(body);
      seen.push({ method: req.method, url: req.url, headers: req.headers, message });
      const answer = (status, json) => {
        res.writeHead(status, json === undefined ? {} : { "content-type": "application/json" });
        res.end(json === undefined ? undefined : JSON.stringify(json));
      };
      switch (message.record.action) {
        // AShirt sends processed content as a string holding JSON.
        case "rewrite": return answer(200, { action: "processed", content: JSON.stringify({ ...message.record, tagged: true }) });
        case "reject": return answer(200, { action: "rejected", content: "not allowed" });
        case "defer": return answer(202);
        case "redirect": res.writeHead(302, { location: "http://127.0.0.1:1/" }); return res.end();
        case "slow": return setTimeout(() => answer(200, { action: "deferred" }), 1500);
        default: return answer(500, { action: "error", content: "boom" });
      }
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${srv.address().port}/process?team=red`;
  const base = testConfig();
  const plugin = { kind: "plugin", type: "web", version: 1, url, timeout_ms: 500, headers: { "X-Team": "red" }, secret_headers: { Authorization: "AMO_KEY" } };
  const config = {
    ...base,
    collectors: [
      ...base.collectors,
      { name: "web", auth: { scheme: "none" }, steps: [plugin] },
      { name: "web-pass", auth: { scheme: "none" }, steps: [{ ...plugin, on_error: "pass" }] },
    ],
  };
  const web = await start({ config });
  try {
    const post = (name, body) => web.fetch(`/hooks/${name}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    assert.equal((await post("web", { action: "rewrite", n: 1 })).status, 202);
    const rejected = await post("web", { action: "reject", n: 2 });
    const { error } = await rejected.json();
    assert.deepEqual([rejected.status, error.code], [422, "rejected_by_plugin"]);
    assert.match(error.message, /not allowed/);
    assert.equal((await post("web", { action: "defer", n: 3 })).status, 202);
    for (const action of ["fail", "slow", "redirect"]) {
      const r = await post("web", { action, n: 4 });
      assert.deepEqual([r.status, (await r.json()).error.code], [503, "plugin_unavailable"], action);
    }
    assert.equal((await post("web-pass", { action: "fail", n: 5 })).status, 202);

    // The service got the record POSTed with the configured and secret headers.
    const first = seen[0];
    assert.equal(first.method, "POST");
    assert.equal(first.url, "/process?team=red");
    assert.equal(first.headers["content-type"], "application/json");
    assert.equal(first.headers["x-team"], "red");
    assert.equal(first.headers.authorization, TEST_SECRETS.AMO_KEY);
    assert.deepEqual(first.message, { type: "record", collector: "web", record: { action: "rewrite", n: 1 } });

    const stored = await web.until(async () => {
      const lines = await web.lines("collectors/web");
      return lines.length >= 3 ? lines : null;
    }, 15000, "three stored records");
    const byN = Object.fromEntries(stored.map((l) => [l.n, l]));
    assert.deepEqual(byN[1], { action: "rewrite", n: 1, tagged: true });
    assert.deepEqual(byN[3], { action: "defer", n: 3 });
    assert.deepEqual(byN[5], { action: "fail", n: 5 });
    assert.deepEqual(Object.keys(byN).sort(), ["1", "3", "5"]);
  } finally {
    await web.dispose();
    srv.close();
  }
});
