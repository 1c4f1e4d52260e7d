// The group commit of queue sends (src/collect/group_send.mjs) against a fake queue whose
// calls settle when the test says: what goes out in which call, who learns which outcome,
// sendBatch's limits, a stuck send. The worker-level behaviour (every accepted webhook
// stored exactly once under concurrency, a refused batch answered 503 and not stored) is
// in collect.test.mjs and load.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serialize } from "node:v8";
import { groupSend, take, ALONE_BYTES, CONTENT_TYPE, MAX_PACK_BYTES, STUCK_MS } from "../src/collect/group_send.mjs";

/** A queue whose every call waits until the test settles it. */
function fakeQueue() {
  const calls = [];
  const call = (kind, bodies, options) => {
    let settle;
    const p = new Promise((resolve, reject) => (settle = { resolve, reject }));
    calls.push({ kind, bodies, options, ...settle });
    return p;
  };
  return {
    calls,
    send: (body, options) => call("send", [body], [options]),
    sendBatch: (msgs) => call("sendBatch", msgs.map((m) => m.body), msgs.map((m) => ({ contentType: m.contentType }))),
  };
}

function fakeCtx() {
  const kept = [];
  return { kept, waitUntil: (p) => kept.push(p) };
}

const until = async (cond, what) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

/** Whether `p` has settled, without waiting for it. */
async function state(p) {
  const marker = {};
  const r = await Promise.race([p.then(() => "resolved", () => "rejected"), Promise.resolve(marker)]);
  return r === marker ? "pending" : r;
}

test("a_lone_message_is_sent_at_once_with_send_and_kept_alive_with_waitUntil", async () => {
  const q = fakeQueue();
  const ctx = fakeCtx();
  const p = groupSend("lone", [q], { id: 1 }, 100, ctx);
  assert.equal(q.calls.length, 1, "no send in flight: sent in the same turn, no wait");
  assert.deepEqual(q.calls[0].kind, "send");
  assert.deepEqual(q.calls[0].bodies, [{ id: 1 }]);
  assert.deepEqual(q.calls[0].options, [{ contentType: "v8" }]);
  assert.equal(ctx.kept.length, 1);
  assert.equal(await state(p), "pending");
  q.calls[0].resolve();
  await p;
  const next = groupSend("lone", [q], { id: 2 }, 100, ctx);
  assert.equal(q.calls.length, 2, "the next lone one after it settled is sent at once too");
  q.calls[1].resolve();
  await next;
});

test("records_arriving_while_a_send_is_in_flight_go_out_packed_in_one_message", async () => {
  const q = fakeQueue();
  const a = groupSend("together", [q], { id: "a" }, 100, fakeCtx());
  await until(() => q.calls.length === 1, "a's send");
  const rest = ["b", "c", "d"].map((id) => groupSend("together", [q], { id }, 100, fakeCtx()));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(q.calls.length, 1, "the others wait while a's send is in flight");
  q.calls[0].resolve();
  await a;
  await until(() => q.calls.length === 2, "the second call");
  assert.equal(q.calls[1].kind, "send", "one message, one queue operation");
  assert.deepEqual(q.calls[1].bodies, [[{ id: "b" }, { id: "c" }, { id: "d" }]], "an array, in arrival order");
  assert.deepEqual(q.calls[1].options, [{ contentType: "v8" }]);
  assert.deepEqual(await Promise.all(rest.map(state)), ["pending", "pending", "pending"], "not before their own batch settles");
  q.calls[1].resolve();
  await Promise.all(rest);
});

test("a_failed_pack_rejects_exactly_its_own_members_with_the_queue_error", async () => {
  const q = fakeQueue();
  const a = groupSend("failing", [q], { id: "a" }, 100, fakeCtx());
  await until(() => q.calls.length === 1, "a's send");
  const b = groupSend("failing", [q], { id: "b" }, 100, fakeCtx());
  const c = groupSend("failing", [q], { id: "c" }, 100, fakeCtx());
  q.calls[0].resolve();
  await a;
  await until(() => q.calls.length === 2, "the pack of b and c");
  assert.deepEqual(q.calls[1].bodies, [[{ id: "b" }, { id: "c" }]]);
  const d = groupSend("failing", [q], { id: "d" }, 100, fakeCtx()); // arrives during the failing batch
  const refused = new Error("queue refused the batch");
  q.calls[1].reject(refused);
  await assert.rejects(b, (e) => e === refused);
  await assert.rejects(c, (e) => e === refused);
  await until(() => q.calls.length === 3, "d's own send");
  assert.deepEqual(q.calls[2].bodies, [{ id: "d" }]);
  q.calls[2].resolve();
  await d; // not refused: it was not in the failed batch
});

test("a_large_record_is_sent_alone_at_once_even_while_a_pack_is_in_flight", async () => {
  const q = fakeQueue();
  try {
    const a = groupSend("large", [q], { id: "a" }, 100, fakeCtx());
    await until(() => q.calls.length === 1, "a's send");
    const ctx = fakeCtx();
    const big = groupSend("large", [q], { id: "big" }, ALONE_BYTES + 1, ctx);
    const edge = groupSend("large", [q], { id: "edge" }, ALONE_BYTES, fakeCtx());
    assert.equal(q.calls.length, 2, "the large one does not wait for a's send; the one at the limit does");
    assert.equal(q.calls[1].kind, "send");
    assert.deepEqual(q.calls[1].bodies, [{ id: "big" }]);
    assert.deepEqual(q.calls[1].options, [{ contentType: "v8" }]);
    assert.equal(ctx.kept.length, 1, "kept alive like any other send");
    const refused = new Error("Queue send failed: too big");
    q.calls[1].reject(refused);
    await assert.rejects(big, (e) => e === refused);
    assert.equal(await state(a), "pending", "its failure is its own");
    q.calls[0].resolve();
    await a;
    await until(() => q.calls.length === 3, "the grouped send after a");
    assert.deepEqual(q.calls[2].bodies, [{ id: "edge" }]);
    q.calls[2].resolve();
    await edge;
    assert.ok(ALONE_BYTES * 4 <= MAX_PACK_BYTES && ALONE_BYTES * 5 > MAX_PACK_BYTES, "a pack of them would hold at most four");
  } finally {
    // Should an assertion fail, settle every call so no waiter polls forever.
    for (let i = 0; i < 50; i++) {
      for (const c of q.calls) c.resolve();
      await new Promise((r) => setTimeout(r, 2));
    }
  }
});

test("a_pack_keeps_within_a_queue_message_of_128_KB", () => {
  const small = Array.from({ length: 250 }, (_, i) => ({ bytes: 1_000, i }));
  assert.equal(take(small).length, 128, "128 records of 1 000 bytes");
  assert.equal(take(small).length, 122, "the rest");
  const big = [60_000, 60_000, 60_000].map((bytes) => ({ bytes }));
  assert.equal(take(big).length, 2, "120 000 bytes fit, 180 000 do not");
  assert.equal(take(big).length, 1);
  const edge = [{ bytes: MAX_PACK_BYTES - 10 }, { bytes: 10 }, { bytes: 1 }];
  assert.equal(take(edge).length, 2, "up to the limit exactly");
  assert.equal(MAX_PACK_BYTES, 128_000);
});

test("a_v8_message_is_within_the_size_bound_group_send_rs_counts_it_at", () => {
  // src/collect/group_send.rs bounds a record's message at its line's and original's UTF-8
  // length when ASCII, twice that otherwise, plus 1 024 bytes for the other fields. This
  // checks that rule against V8's serialiser (node's, the same ValueSerializer workerd
  // uses for content type "v8"), for the strings where V8 is least compact.
  assert.equal(CONTENT_TYPE, "v8");
  const utf8 = (s) => Buffer.byteLength(s, "utf8");
  const bound = (s) => (/^[\x00-\x7f]*$/.test(s) ? utf8(s) : 2 * utf8(s));
  const strings = {
    ascii: `{"a":"${"x".repeat(70_000)}"}`,
    quotes: `["${'\\"'.repeat(30_000)}"]`,
    latin1: `{"s":"${"café ".repeat(10_000)}"}`,
    "ascii and one CJK character": `{"s":"${"x".repeat(60_000)}中"}`,
    cjk: `{"s":"${"中文".repeat(20_000)}"}`,
    emoji: `{"s":"${"😀a".repeat(20_000)}"}`,
  };
  for (const [name, line] of Object.entries(strings)) {
    const record = {
      v: 1, id: "01HZZZZZZZZZZZZZZZZZZZZZZZ", collector: "c".repeat(64), received_at: 1_700_000_000_000,
      line, original: line, spill: `spill/${"c".repeat(64)}/01HZZZZZZZZZZZZZZZZZZZZZZZ.json`,
    };
    const size = serialize(record).length;
    assert.ok(size <= 2 * bound(line) + 1024, `${name}: ${size} > ${2 * bound(line) + 1024}`);
  }
  // A pack (an array of records) is within the sum of its records' bounds: the room each
  // bound keeps for the other fields covers the array's own few bytes.
  const pack = Object.values(strings).slice(0, 2).map((line) => ({
    v: 1, id: "01HZZZZZZZZZZZZZZZZZZZZZZZ", collector: "c".repeat(64), received_at: 1_700_000_000_000, line,
  }));
  const packBound = pack.reduce((sum, r) => sum + bound(r.line) + 1024, 0);
  assert.ok(serialize(pack).length <= packBound, `pack: ${serialize(pack).length} > ${packBound}`);
  const tiny = Array.from({ length: 100 }, (_, i) => ({ v: 1, id: `01H${i}`, collector: "c", received_at: 1, line: "{}" }));
  assert.ok(serialize(tiny).length <= tiny.length * (2 + 1024));
  // Where the bound is tight: an ASCII string in a string that is not Latin-1 costs two.
  const tight = strings["ascii and one CJK character"];
  assert.ok(serialize(tight).length > 2 * (utf8(tight) - 3), "V8 stores it at two bytes per character");
});

test("a_send_that_never_settles_does_not_hold_up_later_messages", async () => {
  const q = fakeQueue();
  let clock = 1_000_000;
  const now = () => clock;
  const stuck = groupSend("stuck", [q], { id: "stuck" }, 100, fakeCtx(), now);
  await until(() => q.calls.length === 1, "the first send");
  const later = groupSend("stuck", [q], { id: "later" }, 100, fakeCtx(), now);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(q.calls.length, 1, "waits while the first send is young");
  clock += STUCK_MS + 1;
  await until(() => q.calls.length === 2, "the send after the stuck one");
  assert.deepEqual(q.calls[1].bodies, [{ id: "later" }]);
  q.calls[1].resolve();
  await later;
  assert.equal(await state(stuck), "pending", "the stuck message still waits for its own outcome");
  q.calls[0].resolve(); // settling late is harmless
  await stuck;
});

test("each_queue_binding_name_is_grouped_on_its_own", async () => {
  const q1 = fakeQueue();
  const q2 = fakeQueue();
  const a = groupSend("one", [q1], { id: 1 }, 100, fakeCtx());
  const b = groupSend("two", [q2], { id: 2 }, 100, fakeCtx());
  await until(() => q1.calls.length === 1 && q2.calls.length === 1, "both sends");
  assert.equal(q1.calls[0].kind, "send");
  assert.equal(q2.calls[0].kind, "send", "not grouped with the other queue's message");
  q1.calls[0].resolve();
  q2.calls[0].resolve();
  await Promise.all([a, b]);
});

test("a_sharded_queue_gets_each_message_on_the_next_shard_and_packing_is_unchanged", async () => {
  const shards = [fakeQueue(), fakeQueue(), fakeQueue()];
  // A lone message goes to the first shard at once.
  const a = groupSend("sharded", shards, { id: "a" }, 100, fakeCtx());
  await until(() => shards[0].calls.length === 1, "the first message");
  // Two arriving while it is in flight wait, and go packed to the second shard.
  const bc = ["b", "c"].map((id) => groupSend("sharded", shards, { id }, 100, fakeCtx()));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(shards[1].calls.length, 0, "waits while a send is in flight, whichever shard");
  shards[0].calls[0].resolve();
  await a;
  await until(() => shards[1].calls.length === 1, "the pack");
  assert.deepEqual(shards[1].calls[0].bodies, [[{ id: "b" }, { id: "c" }]]);
  shards[1].calls[0].resolve();
  await Promise.all(bc);
  // A record sent alone for its size takes its turn too: the third shard, then the first.
  const big = groupSend("sharded", shards, { id: "big" }, ALONE_BYTES + 1, fakeCtx());
  const d = groupSend("sharded", shards, { id: "d" }, 100, fakeCtx());
  await until(() => shards[2].calls.length === 1 && shards[0].calls.length === 2, "both sends");
  assert.deepEqual(shards[2].calls[0].bodies, [{ id: "big" }]);
  assert.deepEqual(shards[0].calls[1].bodies, [{ id: "d" }]);
  shards[2].calls[0].resolve();
  shards[0].calls[1].resolve();
  await Promise.all([big, d]);
});
