// Destinations beyond HTTP (issue 22 section 4): a subscription delivers to a Cloudflare
// Queue, an R2 prefix or a service binding the operator lists in dispatch.destinations,
// with the same results, attempts and retries as a URL. The hook-service worker of the
// harness is both the service behind HOOK_SERVICE and the consumer of EVENTS_OUT; every
// delivery's signature is checked with the standardwebhooks npm package.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { start, testConfig, adminCall, subscribeTo, publishEvent, resultUntil, DESTINATIONS } from "./harness.mjs";

// Three attempts a second apart, so retries and exhaustion show within a test.
const config = testConfig({
  dispatch: { retry_schedule_secs: [1, 1], timeout_ms: 3000, destinations: DESTINATIONS },
});

let eh;
before(async () => {
  eh = await start({ config });
});
after(() => eh?.dispose());

const call = (...a) => adminCall(eh, ...a);
const subscribe = (name, destination, events) => subscribeTo(eh, name, undefined, events, { destination });

/** The hook-service worker's receipts matching `pick`, once there are `n` of them. */
async function receivedUntil(pick, n = 1, instance = eh) {
  return instance.until(async () => {
    const got = (await instance.hookServiceReceived()).filter(pick);
    return got.length >= n && got;
  }, 15000, `${n} receipt(s) at the hook service`);
}

const bucket = () => eh.mf.getR2Bucket("DELIVERY_BUCKET", "edgehook");

test("an_event_reaches_a_queue_an_r2_prefix_and_a_service_binding_signed", async () => {
  const queue = await subscribe("to-queue", { kind: "queue", binding: "EVENTS_OUT" }, ["order.paid"]);
  const r2 = await subscribe("to-r2", { kind: "r2", binding: "DELIVERY_BUCKET", prefix: "deliveries/billing/" }, ["order.paid"]);
  const service = await subscribe("to-service", { kind: "service", binding: "HOOK_SERVICE", path: "/in?tenant=a" }, ["order.paid"]);
  assert.equal(queue.url, null);
  assert.deepEqual(queue.destination, { kind: "queue", binding: "EVENTS_OUT" });
  const shown = await call("GET", `/admin/subscriptions/${r2.id}`);
  assert.deepEqual(shown.body.destination, { kind: "r2", binding: "DELIVERY_BUCKET", prefix: "deliveries/billing/" });

  const results = await publishEvent(eh, "order.paid", { order: "o-1", amount: 42 });
  assert.equal(results.length, 3);
  const resultOf = (sub) => results.find((r) => r.subscription === sub.id).id;
  const done = {};
  for (const sub of [queue, r2, service]) done[sub.name] = await resultUntil(eh, resultOf(sub), ["delivered", "failed"]);
  for (const [name, r] of Object.entries(done)) assert.equal(r.status, "delivered", `${name}: ${JSON.stringify(r)}`);
  assert.deepEqual(done["to-queue"].attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, null, "delivered"]]);
  assert.deepEqual(done["to-r2"].attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, null, "delivered"]]);
  assert.deepEqual(done["to-service"].attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, 204, "delivered"]]);

  // Each body is the payload with scanner_result_url, exactly as its signature covers it.
  const check = (sub, resultId, body, headers) => {
    new Webhook(sub.webhook_secret).verify(body, headers);
    assert.equal(headers["webhook-id"], resultId);
    const payload = JSON.parse(body);
    assert.equal(payload.order, "o-1");
    assert.equal(payload.scanner_result_url, `http://edgehook.test/results/${resultId}`);
  };

  // Queue: one message {headers, body}.
  const [msg] = await receivedUntil((r) => r.via === "queue" && r.body.headers["webhook-id"] === resultOf(queue));
  assert.equal(msg.queue, "edgehook-events-out");
  check(queue, resultOf(queue), msg.body.body, msg.body.headers);

  // R2: one NDJSON object under the prefix, partitioned by the event's hour, named by the delivery.
  const listed = await (await bucket()).list({ prefix: "deliveries/billing/" });
  assert.equal(listed.objects.length, 1);
  const key = listed.objects[0].key;
  assert.match(key, new RegExp(`^deliveries/billing/dt=\\d{4}-\\d{2}-\\d{2}/hr=\\d{2}/${resultOf(r2)}\\.ndjson$`));
  const object = await (await bucket()).get(key);
  assert.equal(object.httpMetadata.contentType, "application/x-ndjson");
  const lines = (await object.text()).split("\n").filter(Boolean);
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  check(r2, resultOf(r2), line.body, line.headers);

  // Service: the same POST a URL gets, at the path given.
  const [req] = await receivedUntil((r) => r.via === "service" && r.headers["webhook-id"] === resultOf(service));
  assert.equal(req.method, "POST");
  assert.equal(req.url, "https://service.invalid/in?tenant=a");
  assert.equal(req.headers["content-type"], "application/json");
  check(service, resultOf(service), req.body, req.headers);

  // The inspector records the target where a URL's attempt records the URL.
  for (const [sub, target] of [
    [queue, "queue:EVENTS_OUT"],
    [r2, "r2:DELIVERY_BUCKET/deliveries/billing/"],
    [service, "service:HOOK_SERVICE/in?tenant=a"],
  ]) {
    const d = await call("GET", `/admin/deliveries/${resultOf(sub)}`);
    assert.equal(d.body.attempts[0].exchange.url, target);
    assert.equal(Object.fromEntries(d.body.attempts[0].exchange.request_headers)["webhook-signature"], "[masked]");
  }
});

test("a_service_answering_503_with_retry_after_is_retried_then_delivered", async () => {
  const sub = await subscribe("svc-flaky", { kind: "service", binding: "HOOK_SERVICE", path: "/fail-first/1" }, ["svc.flaky"]);
  const [r] = await publishEvent(eh, "svc.flaky", { n: 1 });
  const done = await resultUntil(eh, r.id, ["delivered", "failed"]);
  assert.equal(done.status, "delivered");
  // Retry-After: 2 outlasts the schedule's 1 s and is honoured.
  assert.deepEqual(done.attempts.map((a) => [a.attempt, a.status_code, a.outcome, a.retry_in_secs]), [
    [1, 503, "retry", 2],
    [2, 204, "delivered", null],
  ]);
  assert.ok(done.attempts[1].attempted_at - done.attempts[0].attempted_at >= 2);
  const got = await receivedUntil((x) => x.via === "service" && x.headers["webhook-id"] === r.id, 2);
  assert.equal(got.length, 2, "one request per attempt");
  for (const x of got) new Webhook(sub.webhook_secret).verify(x.body, x.headers);
});

test("a_service_failing_every_attempt_is_exhausted_like_a_url", async () => {
  await subscribe("svc-down", { kind: "service", binding: "HOOK_SERVICE", path: "/fail-always" }, ["svc.down"]);
  const [r] = await publishEvent(eh, "svc.down", { n: 1 });
  const done = await resultUntil(eh, r.id, ["failed", "delivered"]);
  assert.equal(done.status, "failed");
  assert.deepEqual(done.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [
    [1, 500, "retry"],
    [2, 500, "retry"],
    [3, 500, "failed"],
  ]);
});

test("a_queue_send_that_throws_is_retried_then_delivered_once", async () => {
  const flaky = await start({ config, failDestinationSends: 1 });
  try {
    const sub = await subscribeTo(flaky, "queue-flaky", undefined, ["q.flaky"], { destination: { kind: "queue", binding: "EVENTS_OUT" } });
    const [r] = await publishEvent(flaky, "q.flaky", { n: 1 });
    const done = await resultUntil(flaky, r.id, ["delivered", "failed"]);
    assert.equal(done.status, "delivered");
    assert.deepEqual(done.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [
      [1, null, "retry"],
      [2, null, "delivered"],
    ]);
    assert.match(done.attempts[0].error, /injected queue send failure/);
    const got = await receivedUntil((x) => x.via === "queue" && x.body.headers["webhook-id"] === r.id, 1, flaky);
    // Let a duplicate show if there were one.
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal((await flaky.hookServiceReceived()).filter((x) => x.via === "queue" && x.body.headers["webhook-id"] === r.id).length, 1);
    new Webhook(sub.webhook_secret).verify(got[0].body.body, got[0].body.headers);
  } finally {
    await flaky.dispose();
  }
});

test("the_test_message_goes_to_a_destination_too", async () => {
  const sub = await subscribe("queue-tested", { kind: "queue", binding: "EVENTS_OUT" }, ["q.tested"]);
  const t = await call("POST", `/admin/subscriptions/${sub.id}/test`);
  assert.equal(t.status, 200);
  assert.equal(t.body.outcome, "ok");
  assert.equal(t.body.status_code, null);
  const [msg] = await receivedUntil((x) => x.via === "queue" && x.body.body === '{"type":"test"}');
  new Webhook(sub.webhook_secret).verify(msg.body.body, msg.body.headers);
});

test("a_subscription_naming_a_binding_not_listed_or_of_another_kind_is_refused_and_nothing_stored", async () => {
  const db = await eh.db();
  const count = async () => (await db.prepare("SELECT count(*) AS n FROM subscriptions").first()).n;
  const before = await count();
  for (const [destination, code, extra] of [
    [{ kind: "queue", binding: "INGEST" }, "destination_not_allowed"],
    [{ kind: "queue", binding: "DELIVERIES" }, "destination_not_allowed"],
    [{ kind: "r2", binding: "ARCHIVE", prefix: "x/" }, "destination_not_allowed"],
    [{ kind: "service", binding: "SCANNER" }, "destination_not_allowed"],
    [{ kind: "r2", binding: "EVENTS_OUT" }, "destination_kind_mismatch"],
    [{ kind: "queue", binding: "HOOK_SERVICE" }, "destination_kind_mismatch"],
    [{ kind: "queue", binding: "EVENTS_OUT", prefix: "x/" }, "invalid_request"],
    [{ kind: "service", binding: "HOOK_SERVICE", path: "//elsewhere/" }, "invalid_request"],
    [{ kind: "r2", binding: "DELIVERY_BUCKET", prefix: "../up/" }, "invalid_request"],
    [{ kind: "kafka", binding: "EVENTS_OUT" }, "invalid_request"],
    [{ kind: "queue", binding: "EVENTS_OUT" }, "invalid_request", { url: "https://example.com/hook" }],
  ]) {
    const r = await call("POST", "/admin/subscriptions", { name: "refused", events: ["x.y"], destination, ...extra });
    assert.equal(r.status, 422, JSON.stringify([destination, r.body]));
    assert.equal(r.body.error.code, code, JSON.stringify(destination));
  }
  const neither = await call("POST", "/admin/subscriptions", { name: "refused", events: ["x.y"] });
  assert.equal(neither.status, 422);
  assert.equal(neither.body.error.code, "invalid_request");
  assert.equal(await count(), before, "nothing stored");
  assert.equal((await db.prepare("SELECT count(*) AS n FROM service_accounts WHERE subscription_id NOT IN (SELECT id FROM subscriptions)").first()).n, 0);
});

test("patch_moves_a_subscription_between_a_url_and_a_destination_and_refuses_unlisted_ones", async () => {
  const sub = await subscribeTo(eh, "mover", "https://example.com/hook", ["mover.x"]);
  assert.equal(sub.destination, null);
  const refused = await call("PATCH", `/admin/subscriptions/${sub.id}`, { destination: { kind: "queue", binding: "INGEST" } });
  assert.equal(refused.status, 422);
  assert.equal(refused.body.error.code, "destination_not_allowed");
  assert.equal((await call("GET", `/admin/subscriptions/${sub.id}`)).body.url, "https://example.com/hook", "unchanged");
  const both = await call("PATCH", `/admin/subscriptions/${sub.id}`, { url: "https://example.com/2", destination: { kind: "queue", binding: "EVENTS_OUT" } });
  assert.equal(both.status, 422);
  assert.equal(both.body.error.code, "invalid_request");

  const moved = await call("PATCH", `/admin/subscriptions/${sub.id}`, { destination: { kind: "queue", binding: "EVENTS_OUT" } });
  assert.equal(moved.status, 200);
  assert.equal(moved.body.url, null);
  assert.deepEqual(moved.body.destination, { kind: "queue", binding: "EVENTS_OUT" });
  const [r] = await publishEvent(eh, "mover.x", { n: 1 });
  assert.equal((await resultUntil(eh, r.id, ["delivered", "failed"])).status, "delivered");
  await receivedUntil((x) => x.via === "queue" && x.body.headers["webhook-id"] === r.id);

  const back = await call("PATCH", `/admin/subscriptions/${sub.id}`, { url: "https://example.com/back" });
  assert.equal(back.status, 200);
  assert.equal(back.body.url, "https://example.com/back");
  assert.equal(back.body.destination, null);
  const listed = (await call("GET", "/admin/subscriptions")).body.subscriptions.find((s) => s.id === sub.id);
  assert.equal(listed.url, "https://example.com/back");
  assert.equal(listed.destination, null);
});

test("a_binding_delisted_after_registration_fails_its_deliveries_at_once", async () => {
  const own = await start({ config });
  try {
    const sub = await subscribeTo(own, "delisted", undefined, ["d.x"], { destination: { kind: "queue", binding: "EVENTS_OUT" } });
    // The operator takes EVENTS_OUT off the list and redeploys; the subscription stays.
    const rest = Object.fromEntries(Object.entries(DESTINATIONS).filter(([name]) => name !== "EVENTS_OUT"));
    await own.reconfigure(testConfig({ dispatch: { retry_schedule_secs: [1, 1], timeout_ms: 3000, destinations: rest } }));
    assert.equal((await adminCall(own, "GET", `/admin/subscriptions/${sub.id}`)).body.destination.binding, "EVENTS_OUT");
    const [r] = await publishEvent(own, "d.x", { n: 1 });
    const done = await resultUntil(own, r.id, ["failed", "delivered"]);
    assert.equal(done.status, "failed");
    assert.deepEqual(done.attempts.map((a) => [a.attempt, a.status_code, a.outcome]), [[1, null, "failed"]]);
    assert.match(done.attempts[0].error, /^destination_not_allowed: /);
    assert.equal((await own.hookServiceReceived()).filter((x) => x.via === "queue").length, 0, "nothing sent");
  } finally {
    await own.dispose();
  }
});
