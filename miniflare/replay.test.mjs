// Replay (issue 22 section 2, POST /admin/replay): a collector's archived records of a
// range published again as events, through POST /events' publish path, in steps of
// dispatch.replay_chunk records driven by DELIVERIES messages; replay.completed to its
// subscribers and the Slack-compatible hook; idempotent per replay id; resumed by the
// cron from its saved cursor. Real HTTP subscribers on 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, testConfig, subscriberServer, adminCall, subscribeTo, QUEUES } from "./harness.mjs";

// Few records per step, so a handful of batches takes many steps.
const CHUNK = 7;
let eh, slack;
const servers = [];
const subscriber = () =>
  subscriberServer(servers, (_, __, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end("{}");
  });

before(async () => {
  slack = await subscriber();
  const base = testConfig();
  const config = testConfig({
    collectors: [...base.collectors, { name: "orders", auth: { scheme: "none" } }],
    dispatch: {
      retry_schedule_secs: [1, 1],
      timeout_ms: 2000,
      allow_private_hosts: ["127.0.0.1"],
      alerts_slack_url: slack.url,
      replay_chunk: CHUNK,
    },
  });
  eh = await start({ config, environment: "dev" });
});
after(async () => {
  for (const s of servers) s.close();
  await eh?.dispose();
});

const call = (...a) => adminCall(eh, ...a);
const now = () => Math.floor(Date.now() / 1000);
let seq = 0;

// Ingests `lines` (strings) for `collector` as one queue batch: one object in R2 (gzip
// for `packed`), recorded in `batches` → its key.
async function ingest(collector, lines) {
  const at = Date.now();
  const tag = String(++seq).padStart(4, "0");
  const ids = lines.map((_, i) => `01KREPAY${tag}${String(i).padStart(14, "0")}`);
  const messages = lines.map((line, i) => ({ id: `m-${tag}-${i}`, body: { v: 1, id: ids[i], collector, received_at: at, line } }));
  const done = await eh.deliver(QUEUES.ingest, messages);
  assert.deepEqual(done.retryMessages, []);
  const db = await eh.db();
  const claimed = await db.prepare("SELECT object_key FROM written_records WHERE record_id = ?1").bind(ids[0]).first();
  const batch = await db.prepare("SELECT records FROM batches WHERE key = ?1").bind(claimed.object_key).first();
  assert.equal(batch.records, lines.length);
  return claimed.object_key;
}

const replayUntil = (id, statuses, ms = 60000) =>
  eh.until(async () => {
    const r = await call("GET", `/admin/replay/${id}`);
    return statuses.includes(r.body.status) ? r.body : null;
  }, ms, `replay ${id} to become ${statuses}`);

// The records a subscriber received, by their `n`, for replays' events (not replay.completed).
const received = (s) => s.requests.map((r) => JSON.parse(r.body)).filter((b) => b.n !== undefined);

let packedRange;
const packedKeys = [];
let subA, subB, subDone, a, b, done;

test("a_replay_publishes_each_archived_record_of_its_range_once_with_replay_completed", async () => {
  a = await subscriber();
  b = await subscriber();
  done = await subscriber();
  subA = await subscribeTo(eh, "replay-a", a.url, ["order.replayed"]);
  subB = await subscribeTo(eh, "replay-b", b.url, ["order.replayed", "other.type"]);
  subDone = await subscribeTo(eh, "replay-done", done.url, ["replay.completed"]);

  // Three gzip batches (5, 8 and 4 lines; one line is not an object) in the range, and one
  // archived two hours earlier, outside it.
  const from = now() - 5;
  let n = 0;
  const batchOf = (count) => Array.from({ length: count }, () => JSON.stringify({ n: n++, kind: "order" }));
  packedKeys.push(await ingest("packed", batchOf(5)));
  const second = batchOf(7);
  second.splice(3, 0, "[1,2,3]");
  packedKeys.push(await ingest("packed", second));
  packedKeys.push(await ingest("packed", batchOf(4)));
  const old = await ingest("packed", [JSON.stringify({ n: 999, kind: "old" })]);
  const db = await eh.db();
  await db.prepare("UPDATE batches SET created_at = created_at - 7200 WHERE key = ?1").bind(old).run();
  for (const k of packedKeys) assert.match(k, /\.ndjson\.gz$/);
  const to = now() + 1;
  packedRange = { from, to };

  const r = await call("POST", "/admin/replay", { collector: "packed", from, to, event_type: "order.replayed" });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  assert.match(r.body.id, /^rpl_[0-9A-Z]{26}$/);
  assert.equal(r.body.status, "running");
  assert.deepEqual(r.body.subscriptions.sort(), [subA.id, subB.id].sort());
  assert.equal(r.body.created_by, "admin token");

  const end = await replayUntil(r.body.id, ["completed"]);
  assert.equal(end.published, 16);
  assert.equal(end.skipped, 1, "the line that is not a JSON object");
  assert.equal(end.deliveries, 32);
  assert.equal(end.batches, 3);
  assert.ok(end.steps >= Math.ceil(17 / CHUNK), `${end.steps} steps`);
  assert.ok(packedKeys.includes(end.cursor.key), "the cursor ends in the range's last batch");

  // Every record once to each subscriber, none from outside the range.
  for (const s of [a, b]) {
    await eh.until(async () => received(s).length >= 16, 30000, "16 deliveries");
    await new Promise((res) => setTimeout(res, 500));
    const ns = received(s).map((x) => x.n).sort((x, y) => x - y);
    assert.deepEqual(ns, Array.from({ length: 16 }, (_, i) => i));
    assert.ok(received(s).every((x) => x.kind === "order" && typeof x.scanner_result_url === "string"));
  }
  // They are ordinary results: GET /results shows one, its event id derived per record.
  const first = JSON.parse(a.requests[0].body);
  const result = await call("GET", new URL(first.scanner_result_url).pathname);
  assert.equal(result.status, 200);
  assert.equal(result.body.event_type, "order.replayed");
  assert.equal(result.body.status, "delivered");

  // replay.completed, once, to its subscriber and to the Slack hook.
  await eh.until(async () => done.requests.length >= 1, 15000, "replay.completed");
  const completed = JSON.parse(done.requests[0].body);
  assert.deepEqual(
    [completed.replay, completed.collector, completed.from, completed.to, completed.event_type, completed.published, completed.skipped, completed.deliveries, completed.batches],
    [r.body.id, "packed", from, to, "order.replayed", 16, 1, 32, 3],
  );
  await eh.until(async () => slack.requests.some((q) => JSON.parse(q.body).text.includes(r.body.id)), 10000, "the Slack alert");
  const text = slack.requests.map((q) => JSON.parse(q.body).text).find((t) => t.includes(r.body.id));
  assert.match(text, /^edgehook replay\.completed: replay rpl_\w+ of `packed` as `order\.replayed`: 16 records published \(32 deliveries\), 1 skipped/);

  // Listed, with progress; the change is in the audit log.
  const listed = await call("GET", "/admin/replays");
  assert.equal(listed.body.replays[0].id, r.body.id);
  const audit = await call("GET", "/admin/audit?limit=20");
  assert.ok(audit.body.entries.some((e) => e.method === "POST" && e.path === "/admin/replay" && e.status === 202));
});

test("the_same_idempotency_key_or_id_answers_the_same_replay_and_publishes_nothing_more", async () => {
  const body = { collector: "packed", ...packedRange, event_type: "order.replayed", subscriptions: [subB.id] };
  const headers = { authorization: "Bearer test-admin-token", "content-type": "application/json", "idempotency-key": "nightly-b-1" };
  const first = await call("POST", "/admin/replay", body, headers);
  assert.equal(first.status, 202);
  assert.deepEqual(first.body.subscriptions, [subB.id]);
  await replayUntil(first.body.id, ["completed"]);
  // Only B got this replay's records: B twice in all, A still once.
  await eh.until(async () => received(b).length >= 32, 30000, "B's second 16");
  const again = await call("POST", "/admin/replay", body, headers);
  assert.equal(again.status, 202);
  assert.equal(again.body.id, first.body.id);
  assert.equal(again.body.status, "completed");
  // The same key for another replay is a conflict; nothing is stored.
  const other = await call("POST", "/admin/replay", { ...body, event_type: "other.type" }, headers);
  assert.deepEqual([other.status, other.body.error.code], [409, "replay_conflict"]);
  // A client-chosen id works the same way.
  const mine = await call("POST", "/admin/replay", { ...body, id: "mine-1" });
  assert.equal(mine.status, 202);
  assert.equal(mine.body.id, "mine-1");
  await replayUntil("mine-1", ["completed"]);
  assert.equal((await call("POST", "/admin/replay", { ...body, id: "mine-1" })).body.id, "mine-1");
  await eh.until(async () => received(b).length >= 48, 30000, "B's third 16");
  await new Promise((res) => setTimeout(res, 1500));
  assert.equal(received(b).length, 48);
  assert.equal(received(a).length, 16);
  const byN = new Map();
  for (const x of received(b)) byN.set(x.n, (byN.get(x.n) || 0) + 1);
  assert.ok([...byN.values()].every((c) => c === 3), "each record once per replay");
  assert.equal(done.requests.length, 3, "one replay.completed per replay");
});

test("a_replay_interrupted_mid_way_resumes_from_its_cursor_without_publishing_twice", async () => {
  const before = { a: received(a).length, b: received(b).length, done: done.requests.length };
  const r = await call("POST", "/admin/replay", { collector: "packed", ...packedRange, event_type: "order.replayed", id: "resume-1" });
  assert.equal(r.status, 202);
  // Two more messages for the same replay race its own steps (a message delivered twice).
  await Promise.all([
    eh.deliver(QUEUES.deliveries, [{ id: "dup-1", body: { v: 1, replay: "resume-1" } }]),
    eh.deliver(QUEUES.deliveries, [{ id: "dup-2", body: { v: 1, replay: "resume-1" } }]),
  ]);
  const first = await replayUntil("resume-1", ["completed"]);
  await eh.until(async () => received(a).length >= before.a + 16, 30000, "A's 16");

  // A crash that loses every step's progress: the replay is back at its start, running,
  // and untouched for 10 minutes. The cron resumes it; the steps find their results there
  // already (ids derived from replay and record) and publish nothing again.
  const db = await eh.db();
  await db.prepare(
    `UPDATE replays SET status = 'running', cursor_at = NULL, cursor_key = NULL, cursor_line = 0, batches = 0,
       published = 0, skipped = 0, deliveries = 0, completed_at = NULL, updated_at = updated_at - 600 WHERE id = 'resume-1'`,
  ).run();
  const stepsBefore = first.steps;
  const worker = await eh.mf.getWorker("edgehook");
  await worker.scheduled({ cron: "*/5 * * * *", scheduledTime: new Date() });
  assert.ok(eh.logs.some((l) => l.includes('"outcome":"replays_resumed"') && l.includes('"replays":1')));
  const end = await eh.until(async () => {
    const x = (await call("GET", "/admin/replay/resume-1")).body;
    return x.status === "completed" && x.steps > stepsBefore ? x : null;
  }, 60000, "the resumed replay to complete");
  assert.deepEqual([end.published, end.skipped, end.deliveries, end.batches], [16, 1, 32, 3]);
  await new Promise((res) => setTimeout(res, 2000));
  assert.equal(received(a).length, before.a + 16, "A: each record once");
  assert.equal(received(b).length, before.b + 16, "B: each record once");
  assert.equal(done.requests.length, before.done + 1, "replay.completed once");
  const rows = await db.prepare("SELECT COUNT(*) AS n FROM results WHERE event_type = 'order.replayed' AND subscription_id = ?1").bind(subA.id).first();
  assert.equal(rows.n, 32, "A's results: the first replay's 16 and resume-1's 16");
});

test("a_replay_of_hundreds_of_records_runs_through_many_chunks_on_the_same_path", async () => {
  const s = await subscriber();
  const sub = await subscribeTo(eh, "replay-bulk", s.url, ["bulk.replayed"]);
  const from = now() - 5;
  const TOTAL = 210;
  const PER_BATCH = 21;
  for (let i = 0; i < TOTAL; i += PER_BATCH) {
    await ingest("orders", Array.from({ length: PER_BATCH }, (_, j) => JSON.stringify({ n: i + j, bulk: true })));
  }
  const startedMs = Date.now();
  const r = await call("POST", "/admin/replay", { collector: "orders", from, to: now() + 1, event_type: "bulk.replayed" });
  assert.equal(r.status, 202);
  const end = await replayUntil(r.body.id, ["completed"], 180000);
  // For docs/PERFORMANCE.md: how long the steps took here (miniflare's queue batches wait 1 s).
  console.log(JSON.stringify({ replay_bench: { records: TOTAL, batches: TOTAL / PER_BATCH, chunk: CHUNK, steps: end.steps, ms: Date.now() - startedMs } }));
  assert.deepEqual([end.published, end.skipped, end.deliveries, end.batches], [TOTAL, 0, TOTAL, TOTAL / PER_BATCH]);
  assert.ok(end.steps >= TOTAL / CHUNK, `${end.steps} steps of at most ${CHUNK} records`);
  await eh.until(async () => s.requests.length >= TOTAL, 120000, `${TOTAL} deliveries`);
  await new Promise((res) => setTimeout(res, 1000));
  const ns = s.requests.map((q) => JSON.parse(q.body).n).sort((x, y) => x - y);
  assert.deepEqual(ns, Array.from({ length: TOTAL }, (_, i) => i), "each record exactly once");
  assert.ok(sub.id);
});

test("bad_replay_requests_get_a_stable_code_and_store_nothing", async () => {
  const t = now();
  const ok = { collector: "packed", from: t - 3600, to: t, event_type: "order.replayed" };
  const count = async () => (await (await eh.db()).prepare("SELECT COUNT(*) AS n FROM replays").first()).n;
  const n0 = await count();
  for (const [body, status, code] of [
    [{ ...ok, collector: "nope" }, 404, "unknown_collector"],
    [{ ...ok, from: t, to: t }, 422, "invalid_replay_range"],
    [{ ...ok, from: t, to: t - 60 }, 422, "invalid_replay_range"],
    [{ ...ok, to: t + 7200 }, 422, "invalid_replay_range"],
    [{ ...ok, from: t - 40 * 86400 }, 422, "invalid_replay_range"],
    [{ ...ok, subscriptions: ["sub_nope"] }, 404, "unknown_subscription"],
    [{ ...ok, subscriptions: [subDone.id] }, 422, "not_subscribed"],
    [{ ...ok, subscriptions: [] }, 422, "invalid_request"],
    [{ ...ok, event_type: "not a type" }, 422, "invalid_request"],
    [{ ...ok, event_type: "replay.completed" }, 422, "reserved_event_type"],
    [{ ...ok, event_type: "Endpoint.Failing" }, 422, "reserved_event_type"],
    [{ ...ok, id: "no/slashes" }, 422, "invalid_request"],
    [{ ...ok, extra: 1 }, 422, "invalid_request"],
    [{ collector: "packed" }, 422, "invalid_request"],
  ]) {
    const r = await call("POST", "/admin/replay", body);
    assert.deepEqual([r.status, r.body.error.code], [status, code], JSON.stringify(body));
    assert.ok(r.body.error.message.length > 10);
  }
  const bad = await eh.fetch("/admin/replay", { method: "POST", headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" }, body: "{" });
  assert.deepEqual([bad.status, (await bad.json()).error.code], [400, "invalid_json"]);
  const badKey = await call("POST", "/admin/replay", ok, { authorization: "Bearer test-admin-token", "content-type": "application/json", "idempotency-key": "a b" });
  assert.deepEqual([badKey.status, badKey.body.error.code], [400, "invalid_idempotency_key"]);
  const anonymous = await call("POST", "/admin/replay", ok, { "content-type": "application/json" });
  assert.equal(anonymous.status, 401);
  assert.equal(await count(), n0, "nothing stored");
  const unknown = await call("GET", "/admin/replay/rpl_nope");
  assert.deepEqual([unknown.status, unknown.body.error.code], [404, "unknown_replay"]);
  const badLimit = await call("GET", "/admin/replays?limit=0");
  assert.deepEqual([badLimit.status, badLimit.body.error.code], [400, "invalid_query"]);
});
