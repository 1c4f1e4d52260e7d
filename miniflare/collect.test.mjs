// The collect flow against the built wasm: POST /hooks → INGEST → NDJSON in R2 + D1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, QUEUES, TEST_SECRETS, hmacHex } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start();
});
after(() => eh?.dispose());

async function json(resp) {
  return { status: resp.status, body: await resp.json(), headers: resp.headers };
}

test("healthz_reports_ok_and_version", async () => {
  const r = await json(await eh.fetch("/healthz"));
  assert.equal(r.status, 200);
  assert.equal(r.body.status, "ok");
  assert.match(r.body.version, /^\d+\.\d+\.\d+/);
});

test("refused_requests_answer_json_errors_and_store_nothing", async () => {
  const body = JSON.stringify({ download_url: "https://example.com/a.xpi" });
  const cases = [
    ["wrong signature", () => eh.postSigned("amo", body, "not-the-key"), 401, "invalid_signature"],
    ["missing Authorization", () => eh.postSigned("amo", body, null), 400, "missing_header"],
    [
      "malformed Authorization",
      () => eh.fetch("/hooks/amo", { method: "POST", headers: { "content-type": "application/json", authorization: "HMAC-SHA256 zz" }, body }),
      401,
      "malformed_signature",
    ],
    ["malformed JSON", () => eh.postSigned("amo", '{"download_url":'), 400, "invalid_json"],
    ["unknown collector", () => eh.postSigned("nope", body), 404, "unknown_collector"],
    ["too large", () => eh.postSigned("amo", JSON.stringify({ a: "x".repeat(5000) })), 413, "payload_too_large"],
    [
      "not JSON",
      () => eh.fetch("/hooks/amo", { method: "POST", headers: { "content-type": "text/plain", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}` }, body }),
      415,
      "unsupported_media_type",
    ],
    ["GET on a collector", () => eh.fetch("/hooks/amo"), 405, "method_not_allowed"],
    ["unknown route", () => eh.fetch("/nowhere"), 404, "not_found"],
  ];
  for (const [what, send, status, code] of cases) {
    const r = await json(await send());
    assert.equal(r.status, status, what);
    assert.equal(r.body.error.code, code, what);
    assert.equal(typeof r.body.error.message, "string", what);
    assert.match(r.headers.get("content-type"), /application\/json/, what);
    // No expected signature is ever echoed.
    assert.ok(!JSON.stringify(r.body).includes(hmacHex(TEST_SECRETS.AMO_KEY, body)), what);
  }
  // The consumer runs every second; had anything been queued it would be in R2 by now.
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(await eh.objects(), []);
  const { results } = await (await eh.db()).prepare("SELECT * FROM batches").all();
  assert.deepEqual(results, []);
});

test("signed_webhook_lands_as_an_ndjson_line_recorded_in_batches", async () => {
  const payload = { download_url: "https://dont-use-this-subdomain.addons.mozilla.org/some.xpi", n: 12345678901234567890 };
  const body = '{"download_url": "https://dont-use-this-subdomain.addons.mozilla.org/some.xpi", "n": 12345678901234567890}';
  const r = await json(await eh.postSigned("amo", body));
  assert.equal(r.status, 202);
  assert.equal(r.body.status, "accepted");
  assert.match(r.body.id, /^[0-9A-HJKMNP-TV-Z]{26}$/);

  const objects = await eh.until(async () => {
    const objs = await eh.objects("collectors/amo/");
    return objs.length ? objs : null;
  }, 15000, "the NDJSON object");
  assert.equal(objects.length, 1);
  assert.match(objects[0].key, /^collectors\/amo\/dt=\d{4}-\d{2}-\d{2}\/hr=\d{2}\/[0-9a-f]{32}\.ndjson$/);
  // Compact, key order kept, big integers exact.
  assert.equal(objects[0].text, '{"download_url":"https://dont-use-this-subdomain.addons.mozilla.org/some.xpi","n":12345678901234567890}\n');
  assert.equal(JSON.parse(objects[0].text).download_url, payload.download_url);

  const row = await (await eh.db()).prepare("SELECT * FROM batches WHERE key = ?").bind(objects[0].key).first();
  assert.equal(row.collector, "amo");
  assert.equal(row.records, 1);
  assert.equal(row.bytes, objects[0].text.length);
});

test("a_rotated_previous_key_still_verifies", async () => {
  const r = await eh.postSigned("amo", '{"rotated":true}', TEST_SECRETS.AMO_KEY_OLD);
  assert.equal(r.status, 202);
  await eh.until(async () => (await eh.lines("collectors/amo/")).some((l) => l.rotated), 15000, "rotated record");
});

test("request_format_records_path_method_and_query", async () => {
  const r = await json(
    await eh.fetch("/hooks/open/users/42?userId=42&tag=a&tag=b", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"event":"login"}',
    }),
  );
  assert.equal(r.status, 202);
  const line = await eh.until(
    async () => (await eh.lines("collectors/open/")).find((l) => l.id === r.body.id),
    15000,
    "request record",
  );
  assert.equal(line.collector, "open");
  assert.equal(line.path, "/users/42");
  assert.equal(line.method, "POST");
  assert.deepEqual(line.queryParameters, { userId: "42", tag: ["a", "b"] });
  assert.deepEqual(line.payload, { event: "login" });
  assert.match(line.timeReceived, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
});

test("a_body_too_big_for_a_queue_message_is_spilled_and_restored", async () => {
  const big = JSON.stringify({ blob: "x".repeat(300_000), end: true });
  const r = await json(await eh.fetch("/hooks/big", { method: "POST", headers: { "content-type": "application/json" }, body: big }));
  assert.equal(r.status, 202);
  const objs = await eh.until(async () => {
    const o = await eh.objects("collectors/big/");
    return o.length ? o : null;
  }, 15000, "big record");
  assert.equal(objs[0].text, big + "\n");
  // The spill object is removed once the record is safe in its batch.
  await eh.until(async () => (await eh.objects("spill/")).length === 0, 5000, "spill cleanup");
});

function queued(id, collector, line, receivedAt = Date.UTC(2026, 0, 2, 3, 4, 5)) {
  return { id: `msg-${id}`, body: { v: 1, id, collector, received_at: receivedAt, line } };
}

test("retried_batch_overwrites_same_key", async () => {
  const batch = [queued("01AAA", "dup", '{"n":1}'), queued("01AAB", "dup", '{"n":2}')];
  const first = await eh.deliver(QUEUES.ingest, batch);
  assert.deepEqual(first.explicitAcks.sort(), ["msg-01AAA", "msg-01AAB"]);
  const second = await eh.deliver(QUEUES.ingest, [...batch].reverse());
  assert.deepEqual(second.explicitAcks.sort(), ["msg-01AAA", "msg-01AAB"]);
  const objs = await eh.objects("collectors/dup/");
  assert.equal(objs.length, 1);
  assert.match(objs[0].key, /^collectors\/dup\/dt=2026-01-02\/hr=03\//);
  assert.equal(objs[0].text, '{"n":1}\n{"n":2}\n');
  const { results } = await (await eh.db()).prepare("SELECT * FROM batches WHERE collector = 'dup'").all();
  assert.equal(results.length, 1);
  assert.equal(results[0].records, 2);
});

test("an_undecodable_message_is_retried_not_dropped_and_does_not_block_others", async () => {
  const r = await eh.deliver(QUEUES.ingest, [
    { id: "msg-bad", body: { nonsense: true } },
    queued("01BBB", "mixed", '{"ok":true}'),
  ]);
  assert.deepEqual(r.explicitAcks, ["msg-01BBB"]);
  assert.deepEqual(r.retryMessages.map((m) => m.msgId), ["msg-bad"]);
  assert.ok(r.retryMessages[0].delaySeconds >= 10);
});

test("dead_letters_are_written_under_dead", async () => {
  const r = await eh.deliver(QUEUES.ingestDlq, [{ id: "msg-dead-1", body: { v: 1, id: "X", collector: "gone", received_at: 1, line: "{}" } }]);
  assert.deepEqual(r.explicitAcks, ["msg-dead-1"]);
  const objs = await eh.objects(`dead/${QUEUES.ingestDlq}/`);
  assert.equal(objs.length, 1);
  const line = JSON.parse(objs[0].text.trim());
  assert.equal(line.message_id, "msg-dead-1");
  assert.equal(line.queue, QUEUES.ingestDlq);
  assert.equal(line.body.collector, "gone");
});
