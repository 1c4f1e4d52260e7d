// Bodies that are not JSON (`accept`): form fields, multipart with files in R2, text and
// binary, each signed over its raw bytes; 415 names what a collector takes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, TEST_SECRETS, hmacHex } from "./harness.mjs";

const KEY = TEST_SECRETS.AMO_KEY;
const hmac = (name, accept, extra = {}) => ({ name, accept, auth: { scheme: "hmac", secrets: ["AMO_KEY"] }, ...extra });

let eh;
before(async () => {
  eh = await start({
    config: {
      public_url: "http://edgehook.test",
      collectors: [
        hmac("forms", ["json", "form"]),
        hmac("mail", ["multipart"], { format: "request" }),
        hmac("texts", ["text"]),
        hmac("anything", ["json", "text", "binary"]),
        hmac("steps-on-forms", ["form"], { steps: [{ kind: "redact", paths: ["$.token"] }] }),
        hmac("json-only", ["json"]),
      ],
    },
  });
});
after(() => eh?.dispose());

/** POSTs raw `body` (string or bytes) with `contentType`, HMAC-signed over those bytes. */
function post(collector, contentType, body, key = KEY) {
  const bytes = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
  const headers = { authorization: `HMAC-SHA256 ${hmacHex(key, bytes)}` };
  if (contentType !== null) headers["content-type"] = contentType;
  return eh.fetch(`/hooks/${collector}`, { method: "POST", headers, body: bytes });
}

async function accepted(resp) {
  const body = await resp.json();
  assert.equal(resp.status, 202, JSON.stringify(body));
  return body.id;
}

test("form_fields_become_an_object_with_repeated_names_as_arrays", async () => {
  await accepted(await post("forms", "application/x-www-form-urlencoded", "event=signup&tag=a&tag=b&who=J%C3%BCrgen+M&marker=form-1"));
  const line = await eh.until(async () => (await eh.lines("collectors/forms/")).find((l) => l.marker === "form-1"));
  assert.deepEqual(line, { event: "signup", tag: ["a", "b"], who: "Jürgen M", marker: "form-1" });
});

test("slack_interactive_payload_field_is_parsed_as_json", async () => {
  // What Slack sends for an interactive component: one form field holding JSON.
  const payload = { type: "block_actions", user: { id: "U123", name: "ann" }, actions: [{ action_id: "approve" }], marker: "slack-1" };
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  await accepted(await post("forms", "application/x-www-form-urlencoded; charset=utf-8", body));
  const line = await eh.until(async () => (await eh.lines("collectors/forms/")).find((l) => l.payload?.marker === "slack-1"));
  assert.deepEqual(line, { payload });
});

test("form_signature_is_over_the_raw_bytes", async () => {
  // Same fields, bytes encoded differently (%20 vs +): the signature of one does not pass for the other.
  const signed = "a=x+y&marker=raw";
  const r = await eh.fetch("/hooks/forms", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `HMAC-SHA256 ${hmacHex(KEY, signed)}` },
    body: "a=x%20y&marker=raw",
  });
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error.code, "invalid_signature");
});

test("multipart_text_fields_recorded_and_files_stored_in_r2_and_referenced", async () => {
  const form = new FormData();
  form.append("from", "alice@example.com");
  form.append("to", "b@example.com");
  form.append("to", "c@example.com");
  const pdf = new Uint8Array([0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0x10]);
  form.append("attachment1", new Blob([pdf], { type: "application/pdf" }), "invoice.pdf");
  form.append("marker", "mp-1");
  // The exact bytes and boundary fetch would send, so they can be signed.
  const encoded = new Response(form);
  const contentType = encoded.headers.get("content-type");
  const bytes = new Uint8Array(await encoded.arrayBuffer());
  const id = await accepted(await post("mail", contentType, bytes));
  const line = await eh.until(async () => (await eh.lines("collectors/mail/")).find((l) => l.id === id));
  const key = `attachments/mail/${id}/0`;
  assert.deepEqual(line.payload, {
    from: "alice@example.com",
    to: ["b@example.com", "c@example.com"],
    attachment1: { filename: "invoice.pdf", contentType: "application/pdf", size: pdf.length, key },
    marker: "mp-1",
  });
  const object = await (await eh.bucket()).get(key);
  assert.ok(object, "the file is in R2");
  assert.deepEqual(new Uint8Array(await object.arrayBuffer()), pdf);
  assert.equal(object.httpMetadata.contentType, "application/pdf");
});

test("malformed_multipart_is_400_and_stores_nothing", async () => {
  const body = "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end";
  const r = await post("mail", "multipart/form-data; boundary=b", body);
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, "invalid_body");
  const r2 = await post("mail", "multipart/form-data", body);
  assert.equal(r2.status, 400);
  assert.equal((await r2.json()).error.code, "invalid_body");
});

test("text_and_xml_recorded_with_their_content_type", async () => {
  const xml = '<?xml version="1.0"?><notification marker="xml-1"><é/></notification>';
  await accepted(await post("texts", "application/xml; charset=utf-8", xml));
  await accepted(await post("texts", "text/plain", "plain text, marker txt-1\nsecond line"));
  const lines = await eh.until(async () => {
    const l = await eh.lines("collectors/texts/");
    return l.length >= 2 ? l : null;
  });
  assert.deepEqual(lines.find((l) => l.body.includes("xml-1")), { contentType: "application/xml; charset=utf-8", body: xml });
  assert.deepEqual(lines.find((l) => l.body.includes("txt-1")), { contentType: "text/plain", body: "plain text, marker txt-1\nsecond line" });
  // Not UTF-8 and no binary taken: refused.
  const r = await post("texts", "text/plain", new Uint8Array([0x61, 0xff]));
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, "invalid_body");
});

test("binary_bodies_recorded_in_base64_and_json_still_as_sent", async () => {
  const bytes = new Uint8Array([0, 1, 2, 250, 251, 0x42]);
  await accepted(await post("anything", "application/octet-stream", bytes));
  await accepted(await post("anything", null, new Uint8Array([0x42, 0x42])));
  await accepted(await post("anything", "application/json", '{"kept":"as sent","marker":"json-1"}'));
  const lines = await eh.until(async () => {
    const l = await eh.lines("collectors/anything/");
    return l.length >= 3 ? l : null;
  });
  assert.deepEqual(lines.find((l) => l.contentType === "application/octet-stream"), {
    contentType: "application/octet-stream",
    body: Buffer.from(bytes).toString("base64"),
    encoding: "base64",
  });
  assert.deepEqual(lines.find((l) => l.contentType === null), { contentType: null, body: "QkI=", encoding: "base64" });
  assert.deepEqual(lines.find((l) => l.marker === "json-1"), { kept: "as sent", marker: "json-1" });
});

test("steps_run_on_the_fields_of_a_form", async () => {
  await accepted(await post("steps-on-forms", "application/x-www-form-urlencoded", "token=secret-value&user=u1&marker=steps-1"));
  const line = await eh.until(async () => (await eh.lines("collectors/steps-on-forms/")).find((l) => l.marker === "steps-1"));
  assert.deepEqual(line, { user: "u1", marker: "steps-1" });
});

test("unsupported_type_is_415_naming_the_accepted_types", async () => {
  const r = await post("forms", "text/plain", "hello");
  assert.equal(r.status, 415);
  const { error } = await r.json();
  assert.equal(error.code, "unsupported_media_type");
  assert.match(error.message, /application\/json/);
  assert.match(error.message, /application\/x-www-form-urlencoded/);
  // A JSON-only collector (the default) says what it always said.
  const r2 = await post("json-only", "application/x-www-form-urlencoded", "a=1");
  assert.equal(r2.status, 415);
  assert.equal((await r2.json()).error.message, "the body must be JSON sent with Content-Type: application/json");
});
