// What a user would write instead of edgehook's hmac collector: a plain JavaScript
// worker that checks `Authorization: HMAC-SHA256 <hex>` over the raw body with
// WebCrypto (key imported once per isolate), checks the body is JSON, queues it with an
// id and answers 202.
import { checkHmac, reply } from "./hmac.mjs";

export default {
  async fetch(request, env) {
    const body = await checkHmac(request, env.AMO_KEY);
    if (body instanceof Response) return body;
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
