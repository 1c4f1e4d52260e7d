// Hostile input a collector (and every JSON route) refuses before storing anything:
// repeated member names, nesting past the limit, URLs and records over their bounds.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, testConfig, TEST_SECRETS } from "./harness.mjs";

let eh;
before(async () => {
  const config = testConfig();
  // A `request` collector with a small limit: its record carries the path and query.
  config.collectors.push({ name: "tiny", format: "request", max_body_bytes: 1024, auth: { scheme: "none" } });
  eh = await start({ config });
});
after(() => eh?.dispose());

const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };

async function post(path, body, headers = { "content-type": "application/json" }) {
  const r = await eh.fetch(path, { method: "POST", headers, body });
  return { status: r.status, body: await r.json() };
}

/** Nothing reached R2 (the consumer runs every second) nor the tables a request writes. */
async function assertNothingStored() {
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual(await eh.objects(), []);
  const db = await eh.db();
  for (const table of ["batches", "seen_ids", "api_keys", "results"]) {
    const { results } = await db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).all();
    assert.equal(results[0].n, 0, table);
  }
}

test("a_member_name_given_twice_is_refused_400_duplicate_key_naming_its_pointer", async () => {
  const cases = [
    // One line, no steps: checked without building a tree.
    ["/hooks/open", '{"user_id":"alice","user_id":"mallory"}', "/user_id"],
    // Over several lines: parsed.
    ["/hooks/open", '{"user_id":"alice",\n"user_id":"mallory"}', "/user_id"],
    // With steps (filter, redact): parsed, refused before any step reads a value.
    ["/hooks/sieve", '{"type":"order.paid","type":"x"}', "/type"],
    // Equal once unescaped, deep inside.
    ["/hooks/open", '{"a":{"b":[{"c":1},{"c":1,"\\u0063":2}]}}', "/a/b/1/c"],
  ];
  for (const [path, body, pointer] of cases) {
    const r = await post(path, body);
    assert.deepEqual([r.status, r.body.error.code], [400, "duplicate_key"], `${path} ${body}`);
    assert.ok(r.body.error.message.includes(`at ${pointer} `), r.body.error.message);
  }
  // Every other JSON route reads bodies the same way: events, result PATCHes, admin.
  const event = await post("/events/order.paid", '{"amount":1,"amount":1000}', admin);
  assert.deepEqual([event.status, event.body.error.code], [400, "duplicate_key"]);
  const key = await post("/admin/keys", '{"name":"ci","name":"ops","scopes":["publish"]}', admin);
  assert.deepEqual([key.status, key.body.error.code], [400, "duplicate_key"]);
  await assertNothingStored();
  // The same names in different objects are fine.
  const ok = await post("/hooks/open", '{"a":{"id":1},"b":{"id":1},"id":1}');
  assert.equal(ok.status, 202);
  const line = await eh.until(async () => (await eh.lines("collectors/open/"))[0], 15000, "the accepted record");
  assert.deepEqual(line.payload, { a: { id: 1 }, b: { id: 1 }, id: 1 });
});

test("json_nested_128_levels_is_accepted_and_129_is_refused", async () => {
  const arrays = (depth) => "[".repeat(depth) + "]".repeat(depth);
  const objects = (depth) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  for (const [path, body] of [
    ["/hooks/open", arrays], // checked
    ["/hooks/hr", objects], // parsed (a pseudonymize step)
    ["/events/deep.event", objects], // an event payload
  ]) {
    const headers = path.startsWith("/events") ? admin : undefined;
    const deep = await post(path, body(128), headers);
    assert.equal(deep.status, 202, `${path} 128: ${JSON.stringify(deep.body)}`);
    const deeper = await post(path, body(129), headers);
    assert.deepEqual([deeper.status, deeper.body.error.code], [400, "invalid_json"], `${path} 129`);
    assert.match(deeper.body.error.message, /nested deeper than 128 levels/);
  }
  const lines = await eh.until(async () => {
    const l = await eh.lines();
    return l.length === 3 ? l : null;
  }, 15000, "the two 128-deep records");
  assert.equal(JSON.stringify(lines.find((l) => l.collector === "open" && Array.isArray(l.payload)).payload), arrays(128));
});

test("a_url_over_8_kib_is_414_and_a_record_over_the_limit_is_413_before_any_work", async () => {
  // 414 before authentication (amo has no signature here) and whatever the body.
  for (const path of [`/hooks/amo/${"p".repeat(8200)}`, `/hooks/amo?q=${"q".repeat(8200)}`]) {
    const r = await post(path, "{}");
    assert.deepEqual([r.status, r.body.error.code], [414, "uri_too_long"], path.slice(0, 20));
  }
  // tiny takes 1024 bytes of body, path and query together.
  const body = JSON.stringify({ data: "x".repeat(480) }); // 493 bytes
  const fits = await post(`/hooks/tiny/${"p".repeat(200)}?q=${"q".repeat(300)}`, body);
  assert.equal(fits.status, 202, JSON.stringify(fits.body));
  for (const path of [`/hooks/tiny?${"k=v&".repeat(140)}`, `/hooks/tiny/${"p".repeat(600)}`]) {
    // Refused from Content-Length, before the body is read.
    const r = await post(path, body, { "content-type": "application/json", "content-length": String(body.length) });
    assert.deepEqual([r.status, r.body.error.code], [413, "payload_too_large"], path.slice(0, 20));
    // And streamed, while it is read.
    const streamed = await eh.fetch(path, {
      method: "POST",
      duplex: "half",
      headers: { "content-type": "application/json" },
      body: new Blob([body]).stream(),
    });
    assert.equal(streamed.status, 413);
    await streamed.arrayBuffer();
  }
  const line = await eh.until(async () => (await eh.lines("collectors/tiny/"))[0], 15000, "the record that fits");
  assert.ok(JSON.stringify(line).length < 1024 + 300, `record of ${JSON.stringify(line).length} bytes`);
  assert.equal((await eh.lines("collectors/tiny/")).length, 1);
});
