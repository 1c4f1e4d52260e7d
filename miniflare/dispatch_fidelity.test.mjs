// Dispatch's fidelity to its seeds (issue 22 section 5): AShirt's error and parse-failure
// answers, the test message's error branch, fan-out of one event to several subscriptions,
// what PATCH and DELETE of a subscription do to deliveries, and AMO's review of flagged
// results. Real HTTP subscribers on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { start, testConfig, subscriberServer, adminCall, subscribeTo, publishEvent, resultUntil, ADMIN_HEADERS as ADMIN } from "./harness.mjs";

let eh;
const servers = [];

before(async () => {
  const config = testConfig({
    dispatch: { retry_schedule_secs: [1, 1, 1], timeout_ms: 1000, allow_private_hosts: ["127.0.0.1"] },
  });
  eh = await start({ config, environment: "dev" });
});
after(async () => {
  for (const s of servers) s.close();
  await eh?.dispose();
});

const subscriber = (respond) => subscriberServer(servers, respond);

function json(res, status, body) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function text(res, status, body) {
  res.writeHead(status, { "content-type": "text/plain" });
  res.end(body);
}

const call = (...a) => adminCall(eh, ...a);
const subscribe = (...a) => subscribeTo(eh, ...a);
const publish = (...a) => publishEvent(eh, ...a);
const untilStatus = (...a) => resultUntil(eh, ...a);

const outcomes = (r) => r.attempts.map((a) => [a.status_code, a.outcome]);

test("an_ashirt_error_action_is_retried_and_an_unparseable_2xx_fails_as_a_parse_failure", async () => {
  const flaky = await subscriber((_, n, res) =>
    n === 1
      ? json(res, 200, { action: "error", content: "scanner exploded" })
      : json(res, 200, { action: "processed", content: { verdict: "clean" } }),
  );
  await subscribe("flaky-worker", flaky.url, ["evidence.created"]);
  const [{ id }] = await publish("evidence.created", { evidenceUuid: "e1" });
  const done = await untilStatus(id, ["completed", "failed"]);
  assert.equal(done.status, "completed");
  assert.deepEqual(outcomes(done), [[200, "retry"], [200, "completed"]]);
  assert.equal(done.attempts[0].error, 'the subscriber answered 200 with action "error": scanner exploded');
  assert.deepEqual(done.results, { verdict: "clean" });

  const plain = await subscriber((_, __, res) => text(res, 200, "ok"));
  await subscribe("plain-text", plain.url, ["evidence.tagged"]);
  const unknown = await subscriber((_, __, res) => json(res, 200, { action: "finished" }));
  await subscribe("unknown-action", unknown.url, ["evidence.tagged"]);
  const ack = await subscriber((_, __, res) => json(res, 200, { received: true }));
  await subscribe("acknowledger", ack.url, ["evidence.tagged"]);
  const results = await publish("evidence.tagged", { evidenceUuid: "e2" });
  assert.equal(results.length, 3);
  const byName = {};
  for (const r of results) {
    const sub = (await call("GET", `/admin/subscriptions/${r.subscription}`)).body;
    byName[sub.name] = await untilStatus(r.id, ["failed", "delivered"]);
  }
  for (const name of ["plain-text", "unknown-action"]) {
    const r = byName[name];
    assert.equal(r.status, "failed", name);
    assert.deepEqual(outcomes(r), [[200, "failed"]], `${name}: not retried`);
    assert.match(r.last_error, /^parsing failed: the subscriber answered 200 with /, name);
  }
  assert.match(byName["unknown-action"].last_error, /unknown action "finished"/);
  assert.equal(byName.acknowledger.status, "delivered");
});

test("the_test_message_reports_the_subscribers_error_its_unparseable_answer_and_its_5xx", async () => {
  const cases = [
    [(res) => json(res, 200, { status: "error", message: "disk full" }), "the subscriber reported an error: disk full"],
    [(res) => json(res, 200, { status: "error" }), "the subscriber reported an error"],
    [(res) => text(res, 200, "fine"), "parsing failed: the subscriber answered 200 with a body that is not a JSON object"],
    [(res) => text(res, 503, "down"), "the subscriber answered 503"],
    [(res) => json(res, 200, { status: "ok", message: "all good" }), null],
    [(res) => { res.writeHead(204); res.end(); }, null],
  ];
  for (const [i, [respond, error]] of cases.entries()) {
    const s = await subscriber((_, __, res) => respond(res));
    const sub = await subscribe(`tested-${i}`, s.url, ["test.only"]);
    const t = await call("POST", `/admin/subscriptions/${sub.id}/test`);
    assert.equal(t.status, 200);
    assert.equal(s.requests[0].body, '{"type":"test"}');
    assert.equal(t.body.outcome, error === null ? "ok" : "error", `case ${i}`);
    assert.equal(t.body.error, error, `case ${i}`);
  }
});

test("one_event_fans_out_to_every_subscription_of_its_type_each_signed_and_settled_on_its_own", async () => {
  const good = await subscriber((_, __, res) => json(res, 200, { version: "1.0.0", matchedRules: [] }));
  const shaky = await subscriber((_, n, res) => (n === 1 ? text(res, 503, "busy") : json(res, 202, { message: "later" })));
  const other = await subscriber((_, __, res) => json(res, 200, {}));
  const a = await subscribe("fan-a", good.url, ["addon.published"]);
  const b = await subscribe("fan-b", shaky.url, ["addon.published", "addon.deleted"]);
  await subscribe("fan-other", other.url, ["addon.deleted"]);
  const results = await publish("addon.published", { addon: 7 });
  assert.deepEqual(results.map((r) => r.subscription).sort(), [a.id, b.id].sort());
  assert.notEqual(results[0].id, results[1].id);
  const of = (sub) => results.find((r) => r.subscription === sub.id);
  const ra = await untilStatus(of(a).id, ["completed"]);
  const rb = await untilStatus(of(b).id, ["deferred"]);
  assert.deepEqual(outcomes(ra), [[200, "completed"]]);
  assert.deepEqual(outcomes(rb), [[503, "retry"], [202, "deferred"]]);
  assert.equal(other.requests.length, 0, "a subscription of another type gets nothing");
  // Each got the same event, with its own result URL, signed with its own key.
  for (const [s, sub, r] of [[good, a, of(a)], [shaky, b, of(b)]]) {
    const d = s.requests.at(-1);
    const body = JSON.parse(d.body);
    assert.equal(body.addon, 7);
    assert.equal(body.scanner_result_url, r.result_url);
    assert.equal(d.headers["webhook-id"], r.id);
    assert.equal(d.headers.authorization, `HMAC-SHA256 ${createHmac("sha256", sub.api_key).update(d.body).digest("hex")}`);
  }
});

test("patching_a_subscription_changes_where_what_and_whether_it_is_delivered", async () => {
  const first = await subscriber((_, __, res) => json(res, 200, {}));
  const second = await subscriber((_, __, res) => json(res, 200, {}));
  const sub = await subscribe("moving", first.url, ["order.created"], { headers: { "X-Team": "red" } });
  const [{ id: id1 }] = await publish("order.created", { n: 1 });
  await untilStatus(id1, ["delivered"]);
  assert.equal(first.requests.length, 1);

  const patched = await call("PATCH", `/admin/subscriptions/${sub.id}`, {
    url: second.url,
    events: ["order.paid"],
    headers: { "X-Team": "blue" },
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
  assert.deepEqual(patched.body.events, ["order.paid"]);
  assert.deepEqual(await publish("order.created", { n: 2 }), [], "the old event type reaches it no more");
  const [{ id: id2 }] = await publish("order.paid", { n: 3 });
  await untilStatus(id2, ["delivered"]);
  assert.equal(first.requests.length, 1, "the old URL gets nothing");
  assert.equal(second.requests.length, 1);
  assert.equal(second.requests[0].headers["x-team"], "blue", "headers are replaced");
  assert.equal(JSON.parse(second.requests[0].body).n, 3);

  const off = await call("PATCH", `/admin/subscriptions/${sub.id}`, { enabled: false });
  assert.equal(off.body.enabled, false);
  assert.deepEqual(await publish("order.paid", { n: 4 }), [], "a disabled subscription gets no new events");
  const on = await call("PATCH", `/admin/subscriptions/${sub.id}`, { enabled: true });
  assert.deepEqual([on.body.enabled, on.body.disabled_reason], [true, null]);
  const [{ id: id5 }] = await publish("order.paid", { n: 5 });
  await untilStatus(id5, ["delivered"]);
  assert.equal(second.requests.length, 2);
});

test("a_delivery_retrying_when_its_subscription_is_deleted_fails_as_deleted_and_its_result_is_kept", async () => {
  let deleted = null;
  const down = await subscriber((_, n, res) => {
    // Delete the subscription while its first attempt is being answered.
    if (n === 1) deleted = call("DELETE", `/admin/subscriptions/${sub.id}`);
    text(res, 503, "down");
  });
  const sub = await subscribe("doomed", down.url, ["doom.near"]);
  const [{ id }] = await publish("doom.near", { n: 1 });
  const failed = await untilStatus(id, ["failed"]);
  assert.equal((await deleted).status, 200);
  assert.deepEqual(outcomes(failed), [[503, "retry"], [null, "failed"]]);
  assert.equal(failed.last_error, "the subscription was deleted");
  assert.equal(down.requests.length, 1, "nothing is sent after the delete");
  assert.equal((await call("GET", `/admin/subscriptions/${sub.id}`)).status, 404);
  assert.deepEqual(await publish("doom.near", { n: 2 }), []);
});

test("flagged_results_are_queued_for_review_approved_or_cleared_with_who_and_when", async () => {
  assert.equal((await call("PUT", "/admin/rules/eval-remote", { action: "flag", enabled: true })).status, 200);
  const scanner = await subscriber((entry, __, res) => {
    const { addon } = JSON.parse(entry.body);
    json(res, 200, { version: "1.0.0", matchedRules: addon === "clean" ? [] : ["eval-remote"] });
  });
  await subscribe("amo-scanner", scanner.url, ["addon.scanned"]);
  const ids = [];
  for (const addon of ["bad-1", "bad-2", "clean"]) {
    const [{ id }] = await publish("addon.scanned", { addon });
    await untilStatus(id, ["completed"]);
    ids.push(id);
  }
  const [bad1, bad2, clean] = ids;
  const queue = await call("GET", "/admin/results?flagged=true&reviewed=false");
  assert.equal(queue.status, 200);
  const queued = queue.body.results.map((r) => r.id);
  assert.ok(queued.includes(bad1) && queued.includes(bad2) && !queued.includes(clean), JSON.stringify(queued));
  assert.ok(queue.body.results.every((r) => r.flagged && r.review === null));

  for (const [body, code] of [
    [{ decision: "maybe", reason: "x" }, "invalid_request"],
    [{ decision: "approve", reason: "" }, "invalid_request"],
    [{ decision: "approve" }, "invalid_request"],
    [{ decision: "approve", reason: "x", reviewer: "a\nb" }, "invalid_request"],
  ]) {
    const r = await call("POST", `/admin/results/${bad1}/review`, body);
    assert.deepEqual([r.status, r.body.error.code], [422, code], JSON.stringify(body));
  }
  assert.equal((await call("GET", `/results/${bad1}`)).body.review, null, "a refused review records nothing");
  const unauthenticated = await call("POST", `/admin/results/${bad1}/review`, { decision: "approve", reason: "x" }, { "content-type": "application/json" });
  assert.equal(unauthenticated.status, 401);

  const before = Math.floor(Date.now() / 1000);
  const approved = await call("POST", `/admin/results/${bad1}/review`, { decision: "approve", reason: "eval of remote code", reviewer: "ana" });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.flagged, true, "an approved flag stays");
  assert.deepEqual({ ...approved.body.review, at: undefined }, { decision: "approve", reason: "eval of remote code", by: "ana", at: undefined });
  assert.ok(approved.body.review.at >= before - 1);
  const again = await call("POST", `/admin/results/${bad1}/review`, { decision: "clear", reason: "changed my mind" });
  assert.deepEqual([again.status, again.body.error.code], [409, "already_reviewed"]);

  const cleared = await call("POST", `/admin/results/${bad2}/review`, { decision: "clear", reason: "false positive: minified lib" });
  assert.equal(cleared.status, 200);
  assert.equal(cleared.body.flagged, false, "a cleared flag is lifted");
  assert.equal(cleared.body.review.by, "admin token");

  const unflagged = await call("POST", `/admin/results/${clean}/review`, { decision: "approve", reason: "x" });
  assert.deepEqual([unflagged.status, unflagged.body.error.code], [409, "not_flagged"]);
  const unknown = await call("POST", "/admin/results/res_nope/review", { decision: "approve", reason: "x" });
  assert.deepEqual([unknown.status, unknown.body.error.code], [404, "unknown_result"]);

  const left = (await call("GET", "/admin/results?flagged=true&reviewed=false")).body.results.map((r) => r.id);
  assert.ok(!left.includes(bad1) && !left.includes(bad2), "reviewed results leave the queue");
  const reviewed = (await call("GET", "/admin/results?reviewed=true")).body.results.map((r) => r.id);
  assert.ok(reviewed.includes(bad1) && reviewed.includes(bad2));
  assert.equal((await call("GET", "/admin/results?flagged=yes")).status, 400);
  assert.equal((await call("GET", "/admin/results?status=x")).status, 400);
});
