// Flow control per subscription (issue 22 section 1): one Durable Object per subscription
// holds its rate limit, its deliveries in flight, its circuit breaker, the pauses its
// subscriber asks for and its auto-disable, across every consumer invocation. Real HTTP
// subscribers on 127.0.0.1; the DELIVERIES consumer runs concurrently as miniflare drives it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, testConfig, subscriberServer, adminCall, subscribeTo, publishEvent, resultUntil, ADMIN_HEADERS as ADMIN } from "./harness.mjs";

let eh;
const servers = [];
const subscriber = (respond) => subscriberServer(servers, respond);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  const config = testConfig({
    // Many short retries: a delivery waiting on its endpoint uses none of them.
    dispatch: { retry_schedule_secs: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], timeout_ms: 2000, allow_private_hosts: ["127.0.0.1"] },
  });
  eh = await start({ config, environment: "dev" });
});
after(async () => {
  for (const s of servers) s.close();
  await eh?.dispose();
});

const call = (...a) => adminCall(eh, ...a);
const subscribe = (...a) => subscribeTo(eh, ...a);
const publish = (...a) => publishEvent(eh, ...a);
const untilStatus = (...a) => resultUntil(eh, ...a);

function respondJson(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

test("flow_settings_are_checked_stored_and_patched", async () => {
  const s = await subscriber((_, __, res) => respondJson(res, 200, {}));
  for (const [extra, message] of [
    [{ rate_limit: {} }, /per_second and\/or per_minute/],
    [{ rate_limit: { per_second: 0 } }, /per_second must be 1 to 1000/],
    [{ max_in_flight: 0 }, /max_in_flight/],
    [{ breaker: { failures: 0 } }, /breaker.failures/],
    [{ disable_after_hours: -1 }, /disable_after_hours/],
  ]) {
    const r = await call("POST", "/admin/subscriptions", { name: "bad-flow", url: s.url, events: ["x.y"], ...extra });
    assert.equal(r.status, 422, JSON.stringify(extra));
    assert.equal(r.body.error.code, "invalid_request");
    assert.match(r.body.error.message, message);
  }
  assert.ok(!(await call("GET", "/admin/subscriptions")).body.subscriptions.some((x) => x.name === "bad-flow"), "nothing stored");
  const sub = await subscribe("flowing", s.url, ["x.y"], { rate_limit: { per_minute: 100 }, max_in_flight: 4 });
  assert.deepEqual(
    [sub.rate_limit, sub.max_in_flight, sub.breaker, sub.disable_after_hours, sub.holding],
    [{ per_minute: 100 }, 4, { failures: 5, probe_secs: 30 }, 120, false],
  );
  const patched = await call("PATCH", `/admin/subscriptions/${sub.id}`, { rate_limit: null, breaker: { failures: 3, probe_secs: 10 } });
  assert.equal(patched.status, 200);
  assert.deepEqual([patched.body.rate_limit, patched.body.max_in_flight, patched.body.breaker], [undefined, 4, { failures: 3, probe_secs: 10 }]);
  const shown = (await call("GET", `/admin/subscriptions/${sub.id}`)).body;
  assert.deepEqual(shown.endpoint, { breaker: "closed", open_until_ms: null, paused_until_ms: null, consecutive_failures: 0, failing_since_ms: null, in_flight: 0, ordering_keys: 0, ordering_waiting: 0 });
  const refused = await call("PATCH", `/admin/subscriptions/${sub.id}`, { max_in_flight: 0, name: "renamed" });
  assert.equal(refused.status, 422);
  assert.equal((await call("GET", `/admin/subscriptions/${sub.id}`)).body.name, "flowing", "a refused PATCH changes nothing");
});

test("the_rate_limit_holds_across_concurrent_publishers", async () => {
  const s = await subscriber((_, __, res) => respondJson(res, 200, {}));
  await subscribe("limited", s.url, ["rate.test"], { rate_limit: { per_second: 3 } });
  // Four publishers at once, three events each.
  const batches = await Promise.all([0, 1, 2, 3].map((p) => Promise.all([0, 1, 2].map((i) => publish("rate.test", { p, i })))));
  const ids = batches.flat(2).map((r) => r.id);
  assert.equal(ids.length, 12);
  for (const id of ids) await untilStatus(id, ["delivered"]);
  const times = s.requests.map((r) => r.at).sort((a, b) => a - b);
  assert.equal(times.length, 12, "each delivered once");
  // No 900 ms holds more than 3 arrivals (the 100 ms spare absorbs network jitter), so
  // twelve take at least three seconds.
  for (let i = 3; i < times.length; i++) assert.ok(times[i] - times[i - 3] >= 900, `arrivals ${i - 3}..${i} within ${times[i] - times[i - 3]} ms`);
  assert.ok(times.at(-1) - times[0] >= 2700, `${times.at(-1) - times[0]} ms`);
});

test("max_in_flight_bounds_concurrent_deliveries", async () => {
  let now = 0;
  let most = 0;
  const s = await subscriber(async (_, __, res) => {
    now++;
    most = Math.max(most, now);
    await sleep(300);
    now--;
    respondJson(res, 200, {});
  });
  await subscribe("narrow", s.url, ["narrow.test"], { max_in_flight: 2 });
  const results = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => publish("narrow.test", { i })));
  for (const [{ id }] of results) await untilStatus(id, ["delivered"]);
  assert.equal(s.requests.length, 6);
  assert.equal(most, 2, `at most 2 at once, saw ${most}`);
});

test("the_breaker_opens_holds_probes_and_closes", async () => {
  let healthy = false;
  const s = await subscriber((_, __, res) => (healthy ? respondJson(res, 200, {}) : respondJson(res, 500, { error: "down" })));
  const observer = await subscriber((_, __, res) => respondJson(res, 200, {}));
  const sub = await subscribe("breakable", s.url, ["breaker.test"], { breaker: { failures: 2, probe_secs: 3 } });
  await subscribe("ops-recovered", observer.url, ["endpoint.recovered"]);
  const [{ id: first }] = await publish("breaker.test", { n: 1 });
  const open = await eh.until(async () => {
    const e = (await call("GET", `/admin/subscriptions/${sub.id}`)).body.endpoint;
    return e.breaker === "open" ? e : null;
  }, 15000, "the breaker to open");
  assert.equal(open.consecutive_failures, 2);
  const sentWhenOpened = s.requests.length;
  assert.equal(sentWhenOpened, 2);
  // Held while open: a new event is not attempted, and nothing is lost.
  const [{ id: second }] = await publish("breaker.test", { n: 2 });
  await sleep(1000);
  assert.equal(s.requests.length, sentWhenOpened, "nothing is sent while the breaker is open");
  assert.equal((await call("GET", `/results/${second}`)).body.status, "pending");
  assert.equal((await call("GET", `/results/${second}`)).body.attempts.length, 0, "a held delivery uses no attempt");
  // After probe_secs one probe goes; it fails and the breaker opens again.
  await eh.until(async () => s.requests.length === sentWhenOpened + 1, 6000, "the first probe");
  await sleep(500);
  assert.equal(s.requests.length, sentWhenOpened + 1, "one probe at a time");
  healthy = true;
  const done = await untilStatus(first, ["delivered"], 20000);
  await untilStatus(second, ["delivered"], 20000);
  assert.deepEqual(done.attempts.map((a) => a.outcome).slice(-1), ["delivered"]);
  const closed = (await call("GET", `/admin/subscriptions/${sub.id}`)).body.endpoint;
  assert.deepEqual([closed.breaker, closed.consecutive_failures], ["closed", 0]);
  // The recovery is announced to subscribers of endpoint.recovered.
  await eh.until(async () => observer.requests.length > 0, 10000, "endpoint.recovered");
  const event = JSON.parse(observer.requests[0].body);
  assert.deepEqual([event.subscription, event.name], [sub.id, "breakable"]);
});

test("retry_after_pauses_the_whole_endpoint", async () => {
  let pausedAt = null;
  const s = await subscriber((_, n, res) => {
    if (n === 1) {
      pausedAt = Date.now();
      return respondJson(res, 429, { error: "slow down" }, { "retry-after": "3" });
    }
    respondJson(res, 200, {});
  });
  const sub = await subscribe("pausing", s.url, ["pause.test"]);
  const [{ id: first }] = await publish("pause.test", { n: 1 });
  await eh.until(async () => pausedAt !== null, 10000, "the 429");
  const paused = await eh.until(async () => {
    const e = (await call("GET", `/admin/subscriptions/${sub.id}`)).body.endpoint;
    return e.paused_until_ms ? e : null;
  }, 5000, "the endpoint to pause");
  assert.ok(paused.paused_until_ms >= pausedAt + 2900, JSON.stringify(paused));
  const [{ id: second }] = await publish("pause.test", { n: 2 });
  await untilStatus(second, ["delivered"], 20000);
  await untilStatus(first, ["delivered"], 20000);
  assert.equal(s.requests.length, 3);
  for (const r of s.requests.slice(1)) assert.ok(r.at - pausedAt >= 2900, `sent ${r.at - pausedAt} ms after the 429`);
});

test("a_failure_streak_disables_holds_and_re_enabling_delivers_what_was_held", async () => {
  let healthy = false;
  const s = await subscriber((_, __, res) => (healthy ? respondJson(res, 200, {}) : respondJson(res, 500, { error: "down" })));
  const observer = await subscriber((_, __, res) => respondJson(res, 200, {}));
  await subscribe("ops-disabled", observer.url, ["endpoint.disabled"]);
  // 0.0005 h = 1.8 s of failures disables it; the breaker stays out of the way.
  const sub = await subscribe("streaky", s.url, ["streak.test"], { disable_after_hours: 0.0005, breaker: { failures: 1000, probe_secs: 1 } });
  const [{ id: first }] = await publish("streak.test", { n: 1 });
  const disabled = await eh.until(async () => {
    const b = (await call("GET", `/admin/subscriptions/${sub.id}`)).body;
    return b.holding ? b : null;
  }, 20000, "the subscription to be disabled");
  assert.equal(disabled.enabled, false);
  assert.match(disabled.disabled_reason, /^failing since \d+ \(Unix seconds\) for 0.0005 hours/);
  await untilStatus(first, ["held"], 10000);
  const sent = s.requests.length;
  // A new event while disabled is held too, not dropped and not sent.
  const [held] = await publish("streak.test", { n: 2 });
  assert.equal(held.held, true);
  await sleep(1500);
  assert.equal((await call("GET", `/results/${held.id}`)).body.status, "held");
  assert.equal(s.requests.length, sent, "nothing is sent while disabled");
  await eh.until(async () => observer.requests.length > 0, 10000, "endpoint.disabled");
  const event = JSON.parse(observer.requests[0].body);
  assert.equal(event.subscription, sub.id);
  assert.equal(event.reason, disabled.disabled_reason);

  healthy = true;
  const on = await call("PATCH", `/admin/subscriptions/${sub.id}`, { enabled: true });
  assert.deepEqual([on.body.enabled, on.body.holding, on.body.disabled_reason], [true, false, null]);
  const a = await untilStatus(first, ["delivered"], 20000);
  await untilStatus(held.id, ["delivered"], 20000);
  assert.equal(a.attempts.at(-1).outcome, "delivered");
  assert.deepEqual(s.requests.slice(-2).map((r) => JSON.parse(r.body).n).sort(), [1, 2], "both sent after re-enabling");
});

test("recover_resends_failed_deliveries_changed_since_a_time_with_a_fresh_schedule", async () => {
  let fixed = false;
  const s = await subscriber((_, __, res) => (fixed ? respondJson(res, 200, {}) : respondJson(res, 400, { error: "bad" })));
  const sub = await subscribe("recoverable", s.url, ["recover.test"]);
  const [{ id: old }] = await publish("recover.test", { n: 1 });
  await untilStatus(old, ["failed"]);
  await sleep(1100);
  const since = Math.floor(Date.now() / 1000);
  const [{ id: recent }] = await publish("recover.test", { n: 2 });
  await untilStatus(recent, ["failed"]);
  fixed = true;
  for (const bad of [{}, { since: -1 }, { since: since + 3600 }, { since: "yesterday" }]) {
    assert.equal((await call("POST", `/admin/subscriptions/${sub.id}/recover`, bad)).status, 422, JSON.stringify(bad));
  }
  assert.equal((await call("POST", "/admin/subscriptions/sub_nope/recover", { since })).status, 404);
  const r = await call("POST", `/admin/subscriptions/${sub.id}/recover`, { since });
  assert.equal(r.status, 202);
  assert.deepEqual(r.body, { recovered: 1, results: [recent] });
  const done = await untilStatus(recent, ["delivered"]);
  assert.deepEqual(done.attempts.map((a) => [a.status_code, a.outcome]), [[400, "failed"], [200, "delivered"]]);
  assert.equal((await call("GET", `/results/${old}`)).body.status, "failed", "older than since: left alone");
  const all = await call("POST", `/admin/subscriptions/${sub.id}/recover`, { since: 0 });
  assert.deepEqual(all.body, { recovered: 1, results: [old] });
  await untilStatus(old, ["delivered"]);
});

test("fifo_per_ordering_key_holds_under_failures_and_retries_and_a_failing_head_blocks_its_key_only", async () => {
  let aFailures = 0;
  const s = await subscriber((entry, __, res) => {
    const { customer, n } = JSON.parse(entry.body);
    entry.event = `${customer}${n}`;
    if (customer === "A" && n === 1 && aFailures < 2) {
      aFailures++;
      return respondJson(res, 500, { error: "not yet" });
    }
    entry.ok = true;
    respondJson(res, 200, {});
  });
  const sub = await subscribe("ordered", s.url, ["fifo.test"], { ordering: "key", ordering_key: "$.customer" });
  assert.deepEqual([sub.ordering, sub.ordering_key], ["key", "$.customer"]);
  const ids = {};
  for (const [customer, n] of [["A", 1], ["A", 2], ["B", 1], ["A", 3], ["B", 2]]) {
    const [r] = await publish("fifo.test", { customer, n });
    assert.equal(r.ordering_key, customer);
    ids[`${customer}${n}`] = r.id;
  }
  const waiting = await eh.until(async () => {
    const e = (await call("GET", `/admin/subscriptions/${sub.id}`)).body.endpoint;
    return e.ordering_waiting > 0 ? e : null;
  }, 10000, "deliveries waiting on their key");
  assert.ok(waiting.ordering_keys >= 1);
  for (const id of Object.values(ids)) await untilStatus(id, ["delivered"], 30000);
  const a = s.requests.filter((r) => r.event.startsWith("A")).map((r) => `${r.event}${r.ok ? "" : "!"}`);
  assert.deepEqual(a, ["A1!", "A1!", "A1", "A2", "A3"], "A's events in order, the next only after the head succeeded");
  const b = s.requests.filter((r) => r.event.startsWith("B")).map((r) => r.event);
  assert.deepEqual(b, ["B1", "B2"]);
  const at = (event) => s.requests.find((r) => r.event === event && r.ok).at;
  assert.ok(at("B1") < at("A1"), "B is not held up by A's failing head");
  const first = (await call("GET", `/results/${ids.A1}`)).body;
  assert.deepEqual(first.attempts.map((x) => x.outcome), ["retry", "retry", "delivered"]);
  assert.equal((await call("GET", `/results/${ids.A2}`)).body.attempts.length, 1, "waiting used no attempt");
  assert.ok(eh.logs.some((l) => l.includes('"waiting_ordering"')), "the wait is logged");
  // The key may come from a header of the publish request instead.
  const byHeader = await subscribe("ordered-by-header", s.url, ["fifo.header"], { ordering: "key", ordering_key: "header:X-Customer" });
  const r = await eh.fetch("/events/fifo.header", { method: "POST", headers: { ...ADMIN, "x-customer": "C" }, body: JSON.stringify({ customer: "C", n: 1 }) });
  const [published] = (await r.json()).results;
  assert.deepEqual([published.subscription, published.ordering_key], [byHeader.id, "C"]);
  await untilStatus(published.id, ["delivered"]);
});
