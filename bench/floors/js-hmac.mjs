// What a user would write instead of edgehook's hmac collector: a plain JavaScript
// worker that checks `Authorization: HMAC-SHA256 <hex>` over the raw body with
// WebCrypto (key imported once per isolate), checks the body is JSON, queues it with an
// id and answers 202.
const encoder = new TextEncoder();
let key;

function hexToBytes(hex) {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function reply(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

export default {
  async fetch(request, env) {
    key ??= await crypto.subtle.importKey(
      "raw",
      encoder.encode(env.AMO_KEY),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    const [scheme, hex] = (request.headers.get("authorization") ?? "").split(" ");
    const mac = scheme === "HMAC-SHA256" ? hexToBytes(hex ?? "") : null;
    if (!mac) return reply(401, { error: { code: "malformed_signature", message: "bad Authorization" } });
    const body = await request.arrayBuffer();
    if (!(await crypto.subtle.verify("HMAC", key, mac, body))) {
      return reply(401, { error: { code: "invalid_signature", message: "signature mismatch" } });
    }
    const text = new TextDecoder().decode(body);
    try {
      JSON.parse(text);
    } catch {
      return reply(400, { error: { code: "invalid_json", message: "not JSON" } });
    }
    const id = crypto.randomUUID();
    await env.INGEST.send({ v: 1, id, collector: "amo", received_at: Date.now(), line: text });
    return reply(202, { id, status: "accepted" });
  },
};
