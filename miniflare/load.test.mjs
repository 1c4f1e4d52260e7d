// Load: 10,000 webhooks from several concurrent senders, with a share of duplicates
// (the same Idempotency-Key and body again) and of bad signatures. Repeats are answered
// 202 like any webhook and dropped by the ingest consumer (`dedupe = "async"`, the
// default). Afterwards R2 must hold exactly one line per distinct key answered 202, each
// with one of the record ids answered for that key, and nothing else. Bounded (a fixed
// count), loopback only; it prints its counts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, testConfig, TEST_SECRETS, hmacHex } from "./harness.mjs";

const TOTAL = 10_000;
const SENDERS = 8;
let eh;

before(async () => {
  const config = testConfig();
  config.collectors.push({ name: "load", format: "request", auth: { scheme: "hmac", secrets: ["AMO_KEY"] } });
  eh = await start({ config });
});
after(() => eh?.dispose());

test("ten_thousand_webhooks_with_duplicates_and_bad_signatures_land_exactly_once", async () => {
  const accepted = new Map(); // idempotency key -> record ids answered for it
  const counts = { accepted: 0, duplicate: 0, refused: 0, other: 0 };
  const answered = (key, id) => accepted.set(key, [...(accepted.get(key) ?? []), id]);
  let next = 0;
  const started = performance.now();

  async function send(kind, n, key) {
    const body = JSON.stringify({ n, key, pad: "x".repeat(n % 200) });
    const signature = kind === "bad" ? hmacHex("not-the-key", body) : hmacHex(TEST_SECRETS.AMO_KEY, body);
    const r = await eh.fetch("/hooks/load", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `HMAC-SHA256 ${signature}`, "idempotency-key": key },
      body,
    });
    const answer = await r.json();
    if (r.status === 202) {
      assert.equal(kind, "new", `${kind} ${key} was accepted`);
      answered(key, answer.id);
      counts.accepted++;
    } else if (r.status === 401 && answer.error.code === "invalid_signature") {
      assert.equal(kind, "bad");
      counts.refused++;
    } else {
      counts.other++;
      assert.fail(`${kind} ${key}: ${r.status} ${JSON.stringify(answer)}`);
    }
  }

  async function sender() {
    for (;;) {
      const n = next++;
      if (n >= TOTAL) return;
      // 10 % bad signatures, 10 % duplicates of an earlier accepted webhook, the rest new.
      const done = [...accepted.keys()];
      if (n % 10 === 3) await send("bad", n, `bad-${n}`);
      else if (n % 10 === 7 && done.length > 0) {
        const key = done[(n * 7919) % done.length];
        const original = Number(key.slice(2));
        const body = JSON.stringify({ n: original, key, pad: "x".repeat(original % 200) });
        const r = await eh.fetch("/hooks/load", {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}`, "idempotency-key": key },
          body,
        });
        const answer = await r.json();
        assert.deepEqual([r.status, answer.status], [202, "accepted"], key);
        assert.ok(!accepted.get(key).includes(answer.id), "a repeat gets its own record id");
        answered(key, answer.id);
        counts.duplicate++;
      } else await send("new", n, `k-${n}`);
    }
  }

  await Promise.all(Array.from({ length: SENDERS }, sender));
  const sentSecs = (performance.now() - started) / 1000;
  assert.equal(counts.accepted + counts.duplicate + counts.refused, TOTAL);

  // Wait for the consumer to write everything (D1 batches is the cheap progress gauge).
  const db = await eh.db();
  await eh.until(async () => {
    const row = await db.prepare("SELECT COALESCE(SUM(records), 0) AS n FROM batches WHERE collector = 'load'").first();
    return row.n >= accepted.size;
  }, 120000, "every accepted record written");
  await new Promise((r) => setTimeout(r, 1500)); // let any duplicate batch land too
  const lines = await eh.lines("collectors/load/");
  const ids = lines.map((l) => l.id);
  const keys = lines.map((l) => l.payload.key);
  assert.equal(ids.length, accepted.size, "one line per distinct key: no repeat and no record written twice");
  assert.deepEqual(new Set(keys), new Set(accepted.keys()), "R2 holds every key answered 202");
  for (const l of lines) assert.ok(accepted.get(l.payload.key).includes(l.id), `${l.id} was answered for ${l.payload.key}`);
  // Every repeat was dropped by the consumer and counted as a duplicate.
  await eh.until(async () => {
    const c = await db.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM counters WHERE subject = 'load' AND metric = 'duplicate'").first();
    return c.n === counts.duplicate;
  }, 15000, `${counts.duplicate} duplicates counted`);
  // The records went packed: fewer queue messages than records (src/collect/pack.rs).
  const received = eh.logs.filter((l) => l.includes('"outcome":"received"')).map((l) => JSON.parse(l));
  const messages = received.reduce((n, r) => n + r.messages, 0);
  const records = received.reduce((n, r) => n + r.records, 0);
  const sent = counts.accepted + counts.duplicate;
  assert.ok(records >= sent, `the consumer saw ${records} records for ${sent} answered 202 (more only on a retry)`);
  assert.ok(messages < records, `${messages} messages for ${records} records: nothing was packed`);
  const totalSecs = (performance.now() - started) / 1000;
  console.log(
    `# load: sent ${TOTAL} with ${SENDERS} senders in ${sentSecs.toFixed(1)} s (${(TOTAL / sentSecs).toFixed(0)} req/s); ` +
      `202 accepted ${counts.accepted} new and ${counts.duplicate} repeats, 401 refused ${counts.refused}; ` +
      `R2 lines ${ids.length} (distinct ${new Set(ids).size}) in ${(await eh.objects("collectors/load/")).length} objects after ${totalSecs.toFixed(1)} s; ` +
      `${messages} queue messages (${(messages / records).toFixed(3)} per record)`,
  );
});
