// The floor of a `wasm` plugin step: js-hmac.mjs plus the same plugin edgehook runs,
// called the same way (Worker Loader binding LOADER, no network, the plugin message in,
// AShirt's answer out); the plugin's code comes in the PLUGIN_JS binding.
import { checkHmac, reply } from "./hmac.mjs";
import { benchPlugin } from "./plugin-stub.mjs";

export default {
  async fetch(request, env) {
    const body = await checkHmac(request, env.AMO_KEY);
    if (body instanceof Response) return body;
    const text = new TextDecoder().decode(body);
    let record;
    try {
      record = JSON.parse(text);
    } catch {
      return reply(400, { error: { code: "invalid_json", message: "not JSON" } });
    }
    const answered = await benchPlugin(env).getEntrypoint().fetch("https://plugin.internal/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "record", collector: "amo", record }),
    });
    const answer = await answered.json();
    const line = answer.action === "processed" ? JSON.stringify(answer.content) : text;
    const id = crypto.randomUUID();
    await env.INGEST.send({ v: 1, id, collector: "amo", received_at: Date.now(), line });
    return reply(202, { id, status: "accepted" });
  },
};
