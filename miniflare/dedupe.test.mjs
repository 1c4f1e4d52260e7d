// Duplicate suppression in the ingest consumer (`dedupe = "async"`, the default): every
// webhook is answered 202 without a D1 write, and a repeated webhook id lands in the
// archive once: sent twice over HTTP, in one consumer batch, across batches, and across a
// consumer retry after a failed R2 write. (`dedupe = "sync"`, 200 duplicate before the
// answer: collect.test.mjs.)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, QUEUES, TEST_SECRETS } from "./harness.mjs";

let eh; // consumer driven by hand
before(async () => {
  eh = await start({ autoConsume: false });
});
after(() => eh?.dispose());

const digest = (c) => c.repeat(64);
// An ingest message carrying one record of `collector` with webhook id `key`.
const rec = (n, key, { collector = "once", body = "a", at = n } = {}) => ({
  id: `msg-${collector}-${n}`,
  body: {
    v: 1,
    id: `01${collector.toUpperCase()}${String(n).padStart(6, "0")}`,
    collector,
    received_at: 1_700_000_000_000 + at,
    line: JSON.stringify({ n, key }),
    dedupe: { key, body_digest: digest(body) },
  },
});
const ns = async (h, collector) => (await h.lines(`collectors/${collector}/`)).map((l) => l.n).sort((a, b) => a - b);

test("a_webhook_id_sent_twice_is_answered_202_both_times_and_archived_once", async () => {
  const live = await start();
  try {
    const post = (body) => live.fetch("/hooks/once", { method: "POST",
      headers: { "content-type": "application/json", "webhook-id": "msg_twice" }, body });
    const first = await post('{"order":1}');
    const again = await post('{"order":1}');
    const answers = [await first.json(), await again.json()];
    assert.deepEqual([first.status, again.status], [202, 202]);
    assert.deepEqual(answers.map((a) => a.status), ["accepted", "accepted"]);
    assert.notEqual(answers[0].id, answers[1].id, "each answer names its own record");
    // Nothing was written to seen_ids on the accept path: the consumer claims the id.
    const lines = await live.until(async () => {
      const l = (await live.lines("collectors/once/")).filter((x) => x.payload?.order === 1);
      return l.length ? l : null;
    }, 15000, "the record");
    await live.until(async () => {
      const c = await (await live.db()).prepare("SELECT count FROM counters WHERE subject = 'once' AND metric = 'duplicate'").first();
      return c?.count === 1;
    }, 15000, "the duplicate counted");
    const again2 = (await live.lines("collectors/once/")).filter((x) => x.payload?.order === 1);
    assert.equal(again2.length, 1, "archived once");
    assert.ok(answers.some((a) => a.id === lines[0].id), "the archived record is one of the two answered");
    const stats = await (await live.fetch("/admin/stats", { headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` } })).json();
    const once = stats.collectors.find((c) => c.name === "once");
    assert.deepEqual([once.accepted, once.duplicate], [2, 1]);
    const row = await (await live.db()).prepare("SELECT record_id, accepted_at FROM seen_ids WHERE collector = 'once' AND webhook_id = 'msg_twice'").first();
    assert.equal(row.record_id, lines[0].id);
    assert.ok(row.accepted_at > 0);
  } finally {
    await live.dispose();
  }
});

test("a_repeat_in_the_same_consumer_batch_is_dropped_and_its_message_acked", async () => {
  const r = await eh.deliver(QUEUES.ingest, [rec(2, "k-same", { at: 20 }), rec(1, "k-same", { at: 10 }), rec(3, "k-other")]);
  assert.deepEqual(r.explicitAcks.sort(), ["msg-once-1", "msg-once-2", "msg-once-3"]);
  assert.deepEqual(await ns(eh, "once"), [1, 3], "the earlier of the two is kept");
  assert.ok(eh.logs.some((l) => l.includes('"duplicates_dropped"') && l.includes('"records":1')));
});

test("a_repeat_in_a_later_batch_is_dropped", async () => {
  const first = await eh.deliver(QUEUES.ingest, [rec(1, "k-later", { collector: "amo" })]);
  assert.deepEqual(first.explicitAcks, ["msg-amo-1"]);
  const later = await eh.deliver(QUEUES.ingest, [rec(2, "k-later", { collector: "amo" }), rec(3, "k-new", { collector: "amo" })]);
  assert.deepEqual(later.explicitAcks.sort(), ["msg-amo-2", "msg-amo-3"]);
  assert.deepEqual(await ns(eh, "amo"), [1, 3]);
  // The first record redelivered (a lost ack) is still its id's holder: found written.
  const redelivered = await eh.deliver(QUEUES.ingest, [rec(1, "k-later", { collector: "amo" })]);
  assert.deepEqual(redelivered.explicitAcks, ["msg-amo-1"]);
  assert.deepEqual(await ns(eh, "amo"), [1, 3]);
});

test("a_repeat_across_a_consumer_retry_after_a_failed_r2_write_lands_once", async () => {
  const flaky = await start({ autoConsume: false, failR2Puts: 1 });
  try {
    // Record 1 takes the id, its write fails: retried, not acked.
    const failed = await flaky.deliver(QUEUES.ingest, [rec(1, "k-retry", { at: 50 })]);
    assert.deepEqual(failed.explicitAcks, []);
    assert.deepEqual(failed.retryMessages.map((m) => m.msgId), ["msg-once-1"]);
    // It comes back with a repeat sent meanwhile (earlier in the batch's order): the
    // holder is written, the repeat dropped, both acked.
    const retried = await flaky.deliver(QUEUES.ingest, [rec(2, "k-retry", { at: 5 }), rec(1, "k-retry", { at: 50 })]);
    assert.deepEqual(retried.explicitAcks.sort(), ["msg-once-1", "msg-once-2"]);
    assert.deepEqual(await ns(flaky, "once"), [1]);
    // The repeat on its own later, and the holder again: nothing more.
    await flaky.deliver(QUEUES.ingest, [rec(2, "k-retry", { at: 5 })]);
    await flaky.deliver(QUEUES.ingest, [rec(1, "k-retry", { at: 50 })]);
    assert.deepEqual(await ns(flaky, "once"), [1]);
    // Counted once per acked repeat (two deliveries of message 2).
    const c = await (await flaky.db()).prepare("SELECT SUM(count) AS n FROM counters WHERE subject = 'once' AND metric = 'duplicate'").first();
    assert.equal(c.n, 2);
  } finally {
    await flaky.dispose();
  }
});

test("a_repeat_packed_with_its_first_record_in_one_message_lands_once", async () => {
  const pack = { id: "msg-packed", body: [rec(1, "k-pack", { collector: "hr" }).body, rec(2, "k-pack", { collector: "hr" }).body] };
  const r = await eh.deliver(QUEUES.ingest, [pack]);
  assert.deepEqual(r.explicitAcks, ["msg-packed"]);
  assert.deepEqual(await ns(eh, "hr"), [1]);
});

test("another_body_under_a_used_id_is_archived_not_lost_and_logged", async () => {
  const first = await eh.deliver(QUEUES.ingest, [rec(1, "k-body", { collector: "sieve", body: "a" })]);
  assert.equal(first.explicitAcks.length, 1);
  const other = await eh.deliver(QUEUES.ingest, [
    rec(2, "k-body", { collector: "sieve", body: "b" }),
    rec(3, "k-body", { collector: "sieve", body: "b" }),
    rec(4, "k-body", { collector: "sieve", body: "a" }),
  ]);
  assert.equal(other.explicitAcks.length, 3);
  // 2 came with another body than 1: written; 3 repeats 2 and 4 repeats 1: dropped.
  assert.deepEqual(await ns(eh, "sieve"), [1, 2]);
  assert.ok(eh.logs.some((l) => l.includes('"idempotency_key_reused"') && l.includes('"sieve"')));
});

test("an_id_a_sync_request_is_still_queueing_holds_its_repeat_back_for_a_retry", async () => {
  // A claim without accepted_at is a `sync` request between its claim and its confirm.
  const db = await eh.db();
  await db.prepare("INSERT INTO seen_ids (collector, webhook_id, record_id, expires_at, accepted_at, body_digest) VALUES ('scraper', 'k-held', '01SYNC', ?1, NULL, ?2)")
    .bind(Math.floor(Date.now() / 1000) + 60, digest("a")).run();
  const r = await eh.deliver(QUEUES.ingest, [rec(1, "k-held", { collector: "scraper" }), rec(2, "k-free", { collector: "scraper" })]);
  assert.deepEqual(r.explicitAcks, ["msg-scraper-2"]);
  assert.deepEqual(r.retryMessages.map((m) => m.msgId), ["msg-scraper-1"]);
  assert.deepEqual(await ns(eh, "scraper"), [2]);
  // The sync request gave up (its queue send failed) and released the id: taken now.
  await db.prepare("DELETE FROM seen_ids WHERE webhook_id = 'k-held'").run();
  const again = await eh.deliver(QUEUES.ingest, [rec(1, "k-held", { collector: "scraper" })]);
  assert.deepEqual(again.explicitAcks, ["msg-scraper-1"]);
  assert.deepEqual(await ns(eh, "scraper"), [1, 2]);
});

test("an_expired_id_is_taken_by_the_next_record", async () => {
  const db = await eh.db();
  await db.prepare("INSERT INTO seen_ids (collector, webhook_id, record_id, expires_at, accepted_at, body_digest) VALUES ('gh', 'k-old', '01OLD', 1, 1, ?1)")
    .bind(digest("a")).run();
  const r = await eh.deliver(QUEUES.ingest, [rec(1, "k-old", { collector: "gh" })]);
  assert.deepEqual(r.explicitAcks, ["msg-gh-1"]);
  assert.deepEqual(await ns(eh, "gh"), [1]);
  const row = await db.prepare("SELECT record_id, expires_at FROM seen_ids WHERE collector = 'gh' AND webhook_id = 'k-old'").first();
  assert.equal(row.record_id, "01GH000001");
  assert.ok(row.expires_at > Date.now() / 1000 + 86000, "held for the dedupe window");
});

test("d1_down_in_the_consumer_retries_keyed_records_and_writes_nothing", async () => {
  const down = await start({ autoConsume: false, failD1: true });
  try {
    const r = await down.deliver(QUEUES.ingest, [rec(1, "k-down")]);
    assert.deepEqual(r.explicitAcks, []);
    assert.deepEqual(r.retryMessages.map((m) => m.msgId), ["msg-once-1"]);
    assert.deepEqual(await down.objects("collectors/"), []);
    assert.ok(down.logs.some((l) => l.includes('"ids_unreadable"')));
  } finally {
    await down.dispose();
  }
});

test("a_batch_whose_ids_pass_one_bound_parameter_is_claimed_in_several_statements_and_each_id_lands_once", async () => {
  // 100 packed messages of 40 records with 250-byte ids: ~1.5 MB of ids, over the 1 MB a
  // bound list may take (src/store/mod.rs), so the claim goes as two statements in one
  // D1 call. The last record repeats the first one's id: it is dropped.
  const key = (n) => `${"k".repeat(244)}${String(n).padStart(6, "0")}`;
  const messages = Array.from({ length: 100 }, (_, m) => ({
    id: `msg-wide-${m}`,
    body: Array.from({ length: 40 }, (_, j) => {
      const n = m * 40 + j;
      return rec(n, key(n === 3999 ? 0 : n), { collector: "bulk" }).body;
    }),
  }));
  const r = await eh.deliver(QUEUES.ingest, messages);
  assert.equal(r.explicitAcks.length, 100);
  const lines = await eh.lines("collectors/bulk/");
  assert.equal(lines.length, 3999);
  assert.equal(new Set(lines.map((l) => l.key)).size, 3999);
  assert.ok(!lines.some((l) => l.n === 3999), "the repeat is dropped");
  const { n } = await (await eh.db()).prepare("SELECT COUNT(*) AS n FROM seen_ids WHERE collector = 'bulk'").first();
  assert.equal(n, 3999);
});
