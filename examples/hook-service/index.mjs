// A subscriber Worker for edgehook's destinations beyond HTTP (docs/DISPATCH.md
// "Destinations beyond HTTP"): bound to edgehook as the service HOOK_SERVICE, and the
// consumer of the EVENTS_OUT queue. `scripts/dev.sh` runs it beside edgehook; the miniflare
// harness (miniflare/harness.mjs) runs this same file.
//
// It keeps what it receives in memory, in order, and shows it at GET /__received:
// `{via: "service", method, url, headers, body}` for each request through the binding,
// `{via: "queue", queue, body}` for each queue message (body = {headers, body}, the
// signed envelope). As a service it answers by path, to try edgehook's retries:
// /fail-first/N answers 503 with Retry-After: 2 to the first N requests of each
// webhook-id, /fail-always 500, any other path 204.
const received = [];
const seen = new Map();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/__received") return Response.json(received);
    const body = await request.text();
    const headers = Object.fromEntries(request.headers);
    received.push({ via: "service", method: request.method, url: request.url, headers, body });
    console.log(JSON.stringify({ event: "hook_service", via: "service", path: url.pathname, id: headers["webhook-id"] }));
    const id = headers["webhook-id"];
    const n = (seen.get(id) ?? 0) + 1;
    seen.set(id, n);
    const first = /^\/fail-first\/(\d+)$/.exec(url.pathname);
    if (first && n <= Number(first[1])) return new Response("not yet", { status: 503, headers: { "retry-after": "2" } });
    if (url.pathname === "/fail-always") return new Response("down", { status: 500 });
    return new Response(null, { status: 204 });
  },

  async queue(batch) {
    for (const m of batch.messages) {
      received.push({ via: "queue", queue: batch.queue, body: m.body });
      console.log(JSON.stringify({ event: "hook_service", via: "queue", queue: batch.queue, id: m.body?.headers?.["webhook-id"] }));
      m.ack();
    }
  },
};
