// Collector steps in workerd: Psoxy's claims check and pseudonymization end to end, a
// plugin Worker behind a service binding, filters and redaction.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
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
  assert.equal(line.path, `/users/${sub}`);
  assert.deepEqual(line.payload, {
    user_id: sub,
    employeeEmail: pseudonym("alice@corp.example"),
    managerEmail: pseudonym("bob@corp.example"),
    hours: 7,
  });
  assert.deepEqual(line.queryParameters, { userId: sub, email: pseudonym("alice@corp.example") });
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
