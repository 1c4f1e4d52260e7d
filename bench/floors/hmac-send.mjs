// Floor 3: the send-only floor plus the one check no HMAC collector can skip, the
// WebCrypto HMAC over the whole body: what any verifying collector costs at the least.
import { checkHmac } from "./hmac.mjs";

export default {
  async fetch(request, env) {
    const body = await checkHmac(request, env.AMO_KEY);
    if (body instanceof Response) return body;
    await env.INGEST.send(new TextDecoder().decode(body));
    return new Response('{"status":"accepted"}', {
      status: 202,
      headers: { "content-type": "application/json" },
    });
  },
};
