// The HMAC check both HMAC floors make: `Authorization: HMAC-SHA256 <hex>` over the raw
// body, with WebCrypto (key imported once per isolate).
const encoder = new TextEncoder();
let key;

function hexToBytes(hex) {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function reply(status, body) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** The body as an ArrayBuffer when its signature checks out, else the 401 to answer. */
export async function checkHmac(request, secret) {
  key ??= await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const [scheme, hex] = (request.headers.get("authorization") ?? "").split(" ");
  const mac = scheme === "HMAC-SHA256" ? hexToBytes(hex ?? "") : null;
  if (!mac) return reply(401, { error: { code: "malformed_signature", message: "bad Authorization" } });
  const body = await request.arrayBuffer();
  if (!(await crypto.subtle.verify("HMAC", key, mac, body))) {
    return reply(401, { error: { code: "invalid_signature", message: "signature mismatch" } });
  }
  return body;
}
