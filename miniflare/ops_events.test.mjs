// Operational events (issue 22 section 3): endpoint.failing when an endpoint's failure
// ratio over its recent attempts crosses 50, 70 and 90 % (state in the subscription's
// Durable Object), message.attempt.exhausted when a delivery gives up after its last
// retry; both to the subscriptions that ask for them and to a Slack-compatible incoming
// webhook (dispatch.alerts_slack_url). Real HTTP subscribers on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, testConfig, subscriberServer, adminCall, subscribeTo, publishEvent, resultUntil } from "./harness.mjs";

let eh;
let slack;
const servers = [];
const subscriber = (respond) => subscriberServer(servers, respond);
const ok = (res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end("{}");
};

before(async () => {
  // Slack's incoming webhooks answer 200 "ok" in plain text.
  slack = await subscriber((_, __, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  });
  const config = testConfig({
    // Eight attempts a second apart.
    dispatch: {
      retry_schedule_secs: [1, 1, 1, 1, 1, 1, 1],
      timeout_ms: 2000,
      allow_private_hosts: ["127.0.0.1"],
      alerts_slack_url: slack.url,
    },
  });
  eh = await start({ config, environment: "dev" });
});
after(async () => {
  for (const s of servers) s.close();
  await eh?.dispose();
});

const call = (...a) => adminCall(eh, ...a);

test("failing_thresholds_and_exhausted_deliveries_reach_the_subscribers_asking_and_slack", async () => {
  // The first five requests succeed, every later one fails.
  const s = await subscriber((_, n, res) => {
    res.writeHead(n <= 5 ? 200 : 500, { "content-type": "application/json" });
    res.end(n <= 5 ? "{}" : '{"error":"down"}');
  });
  const failing = await subscriber((_, __, res) => ok(res));
  const exhausted = await subscriber((_, __, res) => ok(res));
  await subscribeTo(eh, "ops-failing", failing.url, ["endpoint.failing"]);
  await subscribeTo(eh, "ops-exhausted", exhausted.url, ["message.attempt.exhausted"]);
  // The breaker stays out of the way: every retry is attempted.
  const sub = await subscribeTo(eh, "flaky", s.url, ["ops.test"], { breaker: { failures: 1000, probe_secs: 1 } });
  const published = [];
  for (let i = 0; i < 8; i++) published.push(...(await publishEvent(eh, "ops.test", { i })));
  // Five delivered at once; three fail eight times each and give up: 29 requests, and the
  // ratio over the last 20 crosses 50 % at 5/10, 70 % at 12/17, 90 % at 18/20.
  const ends = await Promise.all(published.map((r) => resultUntil(eh, r.id, ["delivered", "failed"], 60000)));
  const gaveUp = ends.filter((r) => r.status === "failed");
  assert.equal(gaveUp.length, 3);
  for (const r of gaveUp) {
    assert.equal(r.attempts.length, 8);
    assert.match(r.last_error, /gave up after 8 attempts/);
  }
  assert.equal(s.requests.length, 29);
  assert.ok(s.requests.every((r) => JSON.parse(r.body).i !== undefined), "flaky asked for ops.test only");

  await eh.until(async () => failing.requests.length >= 3, 15000, "three endpoint.failing events");
  const events = failing.requests.map((r) => JSON.parse(r.body)).sort((a, b) => a.threshold - b.threshold);
  assert.deepEqual(
    events.map(({ subscription, name, threshold, failed, attempts }) => ({ subscription, name, threshold, failed, attempts })),
    [
      { subscription: sub.id, name: "flaky", threshold: 50, failed: 5, attempts: 10 },
      { subscription: sub.id, name: "flaky", threshold: 70, failed: 12, attempts: 17 },
      { subscription: sub.id, name: "flaky", threshold: 90, failed: 18, attempts: 20 },
    ],
  );
  assert.ok(events.every((e) => typeof e.scanner_result_url === "string"), "delivered like any event");

  await eh.until(async () => exhausted.requests.length >= 3, 15000, "three message.attempt.exhausted events");
  const gone = exhausted.requests.map((r) => JSON.parse(r.body));
  assert.deepEqual(gone.map((e) => e.result_id).sort(), gaveUp.map((r) => r.id).sort());
  for (const e of gone) {
    assert.deepEqual(
      [e.subscription, e.name, e.event_type, e.attempts, e.status_code],
      [sub.id, "flaky", "ops.test", 8, 500],
    );
    assert.equal(e.event_id, gaveUp.find((r) => r.id === e.result_id).event_id);
    assert.match(e.last_error, /^the subscriber answered 500.*gave up after 8 attempts$/);
  }
  // No more of either than that: each threshold once, each delivery once.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(failing.requests.length, 3);
  assert.equal(exhausted.requests.length, 3);

  // The same six, as one line of text each, to the incoming webhook.
  await eh.until(async () => slack.requests.length >= 6, 10000, "six Slack alerts");
  const texts = slack.requests.map((r) => {
    assert.equal(r.headers["content-type"], "application/json");
    return JSON.parse(r.body).text;
  });
  assert.equal(texts.length, 6);
  for (const [threshold, failed, attempts] of [[50, 5, 10], [70, 12, 17], [90, 18, 20]]) {
    assert.ok(
      texts.includes(`edgehook endpoint.failing: subscription \`flaky\` (${sub.id}) is failing: ${failed} of its last ${attempts} attempts failed (&gt;= ${threshold} %)`),
      JSON.stringify(texts),
    );
  }
  assert.equal(texts.filter((t) => t.startsWith("edgehook message.attempt.exhausted: delivery res_")).length, 3);
});

test("operational_events_cannot_be_published_and_go_only_to_who_asks", async () => {
  for (const type of ["endpoint.failing", "message.attempt.exhausted", "Endpoint.Failing"]) {
    const r = await call("POST", `/events/${type}`, { subscription: "sub_fake" });
    assert.deepEqual([r.status, r.body.error.code], [422, "reserved_event_type"], type);
  }
  // A subscriber of other events that keeps failing gives up without being told so itself.
  const s = await subscriber((_, __, res) => {
    res.writeHead(503, { "retry-after": "1" });
    res.end();
  });
  await subscribeTo(eh, "quiet", s.url, ["ops.other"], { breaker: { failures: 1000, probe_secs: 1 } });
  const [r] = await publishEvent(eh, "ops.other", { n: 1 });
  const end = await resultUntil(eh, r.id, ["failed"], 60000);
  assert.equal(end.attempts.length, 8);
  assert.ok(s.requests.every((q) => JSON.parse(q.body).n === 1), "only its own event");
});
