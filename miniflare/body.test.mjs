// How a collector reads a body: in one piece when Content-Length is declared, chunk by
// chunk (refusing it as soon as it passes the limit) when it is streamed without one.
// miniflare's dispatchFetch sends bodies chunked unless Content-Length is set by hand.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, TEST_SECRETS, hmacHex } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start({ autoConsume: false });
});
after(() => eh?.dispose());

/** POSTs `text` to the amo collector (limit 4096 bytes) as a stream of `chunk`-byte pieces. */
function postStreamed(text, chunk = 512) {
  const bytes = new TextEncoder().encode(text);
  const stream = new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += chunk) controller.enqueue(bytes.slice(i, i + chunk));
      controller.close();
    },
  });
  return eh.fetch("/hooks/amo", {
    method: "POST",
    duplex: "half",
    headers: { "content-type": "application/json", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, text)}` },
    body: stream,
  });
}

test("streamed_body_without_content_length_is_accepted_whole", async () => {
  const text = JSON.stringify({ data: "y".repeat(3000) });
  const r = await postStreamed(text);
  assert.equal(r.status, 202, await r.clone().text());
  assert.equal((await r.json()).status, "accepted");
});

test("streamed_body_over_the_limit_is_refused_413", async () => {
  const r = await postStreamed(JSON.stringify({ data: "y".repeat(6000) }));
  assert.equal(r.status, 413);
  assert.equal((await r.json()).error.code, "payload_too_large");
});

test("declared_body_is_read_in_one_piece_up_to_the_limit", async () => {
  for (const [size, status] of [[4000, 202], [4200, 413]]) {
    const text = JSON.stringify({ data: "z".repeat(size - 11) });
    assert.equal(new TextEncoder().encode(text).length, size);
    const r = await eh.postSigned("amo", text, TEST_SECRETS.AMO_KEY, { "content-length": String(size) });
    assert.equal(r.status, status, `${size} bytes`);
    await r.arrayBuffer();
  }
});
