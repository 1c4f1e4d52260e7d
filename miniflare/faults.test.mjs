// Faults: archive writes failing, consumers dying mid-batch and redeliveries regrouped,
// D1 unreachable. Messages stay un-acked (retried), nothing is lost, nothing is doubled,
// and a failure is a retryable 503, never a 200 or a misleading 401.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, QUEUES, TEST_SECRETS } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start({ autoConsume: false, failR2Puts: 1 });
});
after(() => eh?.dispose());

test("a_failing_r2_write_retries_the_batch_and_loses_nothing", async () => {
  const batch = [1, 2, 3].map((n) => ({
    id: `msg-${n}`,
    body: { v: 1, id: `01FAULT${n}`, collector: "amo", received_at: 1_700_000_000_000 + n, line: `{"n":${n}}` },
  }));
  const failed = await eh.deliver(QUEUES.ingest, batch);
  assert.deepEqual(failed.explicitAcks, []);
  assert.deepEqual(failed.retryMessages.map((m) => m.msgId).sort(), ["msg-1", "msg-2", "msg-3"]);
  assert.ok(failed.retryMessages.every((m) => m.delaySeconds >= 10));
  assert.deepEqual(await eh.objects(), []);
  const { results } = await (await eh.db()).prepare("SELECT * FROM batches").all();
  assert.deepEqual(results, []);

  // Redelivery after the fault clears: written once, every record exactly once.
  const retried = await eh.deliver(QUEUES.ingest, batch);
  assert.deepEqual(retried.explicitAcks.sort(), ["msg-1", "msg-2", "msg-3"]);
  const lines = await eh.lines();
  assert.deepEqual(lines, [{ n: 1 }, { n: 2 }, { n: 3 }]);
});

const rec = (n, collector = "faulty") => ({
  id: `msg-${collector}-${n}`,
  body: { v: 1, id: `01${collector.toUpperCase()}${String(n).padStart(4, "0")}`, collector, received_at: 1_700_000_000_000 + n, line: `{"n":${n}}` },
});

test("r2_failing_for_the_first_k_tries_still_ends_with_every_record_exactly_once", async () => {
  const k = 3;
  const flaky = await start({ autoConsume: false, failR2Puts: k });
  try {
    const batch = [1, 2, 3, 4, 5].map((n) => rec(n));
    for (let i = 0; i < k; i++) {
      const r = await flaky.deliver(QUEUES.ingest, batch);
      assert.deepEqual(r.explicitAcks, [], `try ${i + 1} must not ack`);
      assert.equal(r.retryMessages.length, batch.length);
    }
    const ok = await flaky.deliver(QUEUES.ingest, batch);
    assert.equal(ok.explicitAcks.length, batch.length);
    const lines = await flaky.lines("collectors/faulty/");
    assert.deepEqual(lines.map((l) => l.n).sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  } finally {
    await flaky.dispose();
  }
});

test("a_consumer_dying_after_the_write_and_a_regrouped_redelivery_write_no_duplicates", async () => {
  // First delivery writes {1,2} but "dies" before its acks count: Queues redelivers 1 and 2,
  // now grouped with 3. They are recognised as written; only 3 is written.
  const first = await eh.deliver(QUEUES.ingest, [rec(1, "regroup"), rec(2, "regroup")]);
  assert.equal(first.explicitAcks.length, 2);
  const again = await eh.deliver(QUEUES.ingest, [rec(3, "regroup"), rec(2, "regroup"), rec(1, "regroup")]);
  assert.deepEqual(again.explicitAcks.sort(), ["msg-regroup-1", "msg-regroup-2", "msg-regroup-3"]);
  const objects = await eh.objects("collectors/regroup/");
  assert.equal(objects.length, 2, "one object per write, none rewritten with old records");
  const lines = await eh.lines("collectors/regroup/");
  assert.deepEqual(lines.map((l) => l.n).sort(), [1, 2, 3]);
  // And the same batch again (the ordinary redelivery) changes nothing.
  await eh.deliver(QUEUES.ingest, [rec(3, "regroup"), rec(2, "regroup"), rec(1, "regroup")]);
  assert.equal((await eh.lines("collectors/regroup/")).length, 3);
});

test("a_record_claimed_for_an_object_that_was_never_written_is_written_on_redelivery", async () => {
  // The put fails after the claim: the claimed object does not exist, so the record is
  // written when it comes back, in whatever grouping.
  const broken = await start({ autoConsume: false, failR2Puts: 1 });
  try {
    const r1 = await broken.deliver(QUEUES.ingest, [rec(1, "claimed"), rec(2, "claimed")]);
    assert.deepEqual(r1.explicitAcks, []);
    const r2 = await broken.deliver(QUEUES.ingest, [rec(2, "claimed"), rec(4, "claimed")]);
    assert.equal(r2.explicitAcks.length, 2);
    const r3 = await broken.deliver(QUEUES.ingest, [rec(1, "claimed")]);
    assert.equal(r3.explicitAcks.length, 1);
    const lines = await broken.lines("collectors/claimed/");
    assert.deepEqual(lines.map((l) => l.n).sort(), [1, 2, 4]);
  } finally {
    await broken.dispose();
  }
});

test("a_record_held_back_from_its_group_is_written_once_when_it_comes_back", async () => {
  // Record 1's spilled line is not there yet: 2 and 3 are written without it and 1 is
  // retried. 1 had been claimed with its group, for an object that is then never written;
  // 2 and 3 are claimed again for the object they went into. Delivered again, with the
  // spill in place, 2 and 3 are recognised as written and only 1 is written.
  const spilled = { ...rec(1, "held"), body: { ...rec(1, "held").body, line: "", spill: "spill/held/01HELD0001.json" } };
  const first = await eh.deliver(QUEUES.ingest, [spilled, rec(2, "held"), rec(3, "held")]);
  assert.deepEqual(first.explicitAcks.sort(), ["msg-held-2", "msg-held-3"]);
  assert.deepEqual(first.retryMessages.map((m) => m.msgId), ["msg-held-1"]);
  await (await eh.bucket()).put("spill/held/01HELD0001.json", '{"n":1}');
  const again = await eh.deliver(QUEUES.ingest, [spilled, rec(2, "held"), rec(3, "held")]);
  assert.deepEqual(again.explicitAcks.sort(), ["msg-held-1", "msg-held-2", "msg-held-3"]);
  assert.equal((await eh.objects("collectors/held/")).length, 2);
  const lines = await eh.lines("collectors/held/");
  assert.deepEqual(lines.map((l) => l.n).sort(), [1, 2, 3]);
});

test("a_packed_message_is_acked_only_when_all_its_records_are_written_and_each_lands_once", async () => {
  // One message carries records 1 to 3 (src/collect/pack.rs), 1's line spilled and not
  // there yet; another carries record 4 alone. 2, 3 and 4 are written, 4's message is
  // acked and the pack retried whole. Delivered again with the spill in place, only 1 is
  // written: 2 and 3 are found written. Once more (a redelivery after a lost ack): nothing.
  const body = (m) => m.body;
  const spilled = { ...rec(1, "pack").body, line: "", spill: "spill/pack/01PACK0001.json" };
  const pack = { id: "msg-pack", body: [spilled, body(rec(2, "pack")), body(rec(3, "pack"))] };
  const first = await eh.deliver(QUEUES.ingest, [pack, rec(4, "pack")]);
  assert.deepEqual(first.explicitAcks, ["msg-pack-4"]);
  assert.deepEqual(first.retryMessages.map((m) => m.msgId), ["msg-pack"]);
  assert.deepEqual((await eh.lines("collectors/pack/")).map((l) => l.n).sort(), [2, 3, 4]);
  await (await eh.bucket()).put("spill/pack/01PACK0001.json", '{"n":1}');
  const again = await eh.deliver(QUEUES.ingest, [pack]);
  assert.deepEqual(again.explicitAcks, ["msg-pack"]);
  assert.deepEqual((await eh.lines("collectors/pack/")).map((l) => l.n).sort(), [1, 2, 3, 4]);
  const third = await eh.deliver(QUEUES.ingest, [pack, rec(4, "pack")]);
  assert.deepEqual(third.explicitAcks.sort(), ["msg-pack", "msg-pack-4"]);
  assert.deepEqual((await eh.lines("collectors/pack/")).map((l) => l.n).sort(), [1, 2, 3, 4], "each record exactly once");
});

test("a_packed_message_whose_archive_write_fails_is_retried_whole_and_lands_once", async () => {
  const flaky = await start({ autoConsume: false, failR2Puts: 1 });
  try {
    const pack = { id: "msg-flaky-pack", body: [1, 2, 3].map((n) => rec(n, "flakypack").body) };
    const failed = await flaky.deliver(QUEUES.ingest, [pack]);
    assert.deepEqual(failed.explicitAcks, []);
    assert.deepEqual(failed.retryMessages.map((m) => m.msgId), ["msg-flaky-pack"]);
    const ok = await flaky.deliver(QUEUES.ingest, [pack]);
    assert.deepEqual(ok.explicitAcks, ["msg-flaky-pack"]);
    assert.deepEqual((await flaky.lines("collectors/flakypack/")).map((l) => l.n).sort(), [1, 2, 3]);
  } finally {
    await flaky.dispose();
  }
});

test("d1_failing_during_key_nonce_and_dedupe_checks_is_503_never_200_or_401", async () => {
  const down = await start({ failD1: true });
  try {
    const cases = [
      ["/hooks/scraper", { method: "POST", headers: { "content-type": "application/json", "x-apikey": "ehk_" + "a".repeat(43) }, body: "{}" }],
      ["/keys/test", { headers: { "x-apikey": "ehk_" + "b".repeat(43) } }],
      ["/hooks/open", { method: "POST", headers: { "content-type": "application/json", "idempotency-key": "k1" }, body: "{}" }],
      ["/results/res_1", { method: "PATCH", headers: { authorization: "JWT eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJzYV8xIn0.c2ln", "content-type": "application/json" }, body: '{"results":{}}' }],
      ["/events/a.b", { method: "POST", headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" }, body: "{}" }],
      ["/admin/keys", { headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` } }],
    ];
    for (const [pathname, init] of cases) {
      const r = await down.fetch(pathname, init);
      const body = await r.json();
      assert.equal(r.status, 503, `${pathname}: ${JSON.stringify(body)}`);
      assert.equal(body.error.code, "unavailable", pathname);
      assert.ok(Number(r.headers.get("retry-after")) > 0, pathname);
      // The runtime's error text is logged with the request, never answered.
      assert.doesNotMatch(body.error.message, /injected|Error/, pathname);
    }
    assert.ok(down.logs.some((l) => String(l).includes("injected D1 failure")), "the D1 error is logged");
    // With `dedupe = "async"` (the default) a webhook id costs the accept path no D1 at
    // all: it is answered 202 while D1 is down, and the consumer checks the id later.
    const once = await down.fetch("/hooks/once", { method: "POST", headers: { "content-type": "application/json", "idempotency-key": "k1" }, body: "{}" });
    assert.deepEqual([once.status, (await once.json()).status], [202, "accepted"]);
  } finally {
    await down.dispose();
  }
});
