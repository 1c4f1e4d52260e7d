// A plain JavaScript edgehook plugin: removes every field whose name looks like a
// credential (token, secret, password, api_key, authorization), at any depth, and says
// how many it removed. Upload it as a JSON bundle (`node scripts/plugin.mjs build
// examples/plugins/secret-scrubber` writes build/plugins/secret-scrubber.json) or bind
// the same file as a Worker for a `plugin` step: the contract is the same.
const CREDENTIAL = /token|secret|password|passwd|api[_-]?key|authorization/i;

function scrub(value, removed) {
  if (Array.isArray(value)) return value.map((v) => scrub(v, removed));
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [k, v] of Object.entries(value)) {
    if (CREDENTIAL.test(k)) removed.push(k);
    else out[k] = scrub(v, removed);
  }
  return out;
}

export default {
  async fetch(request) {
    const message = await request.json();
    if (message.type !== "record" && message.type !== "delivery") {
      return Response.json({ action: "error", content: `unexpected message type ${message.type}` });
    }
    const removed = [];
    const content = scrub(message.record, removed);
    if (removed.length === 0) return Response.json({ action: "deferred" });
    return Response.json({ action: "processed", content: { ...content, scrubbed: removed.length } });
  },
};
