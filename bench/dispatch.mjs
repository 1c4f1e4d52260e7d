// Deliveries per second through the per-subscription Durable Objects (issue 22): the built
// worker in miniflare (D1, the DELIVERIES queue and its consumer, the ENDPOINTS objects)
// sends N events to a mock subscriber on 127.0.0.1 answering 204, for one endpoint (every
// delivery through one object) and for 100 endpoints (spread over 100 objects). Each
// delivery asks its object for a slot and settles it, as in production.
//
//   node bench/dispatch.mjs            # N = 400 per case (BENCH_N), after scripts/build.sh
//
// Prints one Markdown row per case: endpoints, deliveries, seconds from the first publish
// to the last delivery, deliveries per second, and the median publish-to-delivery latency.
import http from "node:http";
import { start, testConfig } from "../miniflare/harness.mjs";

const N = Number(process.env.BENCH_N ?? 400);
const ADMIN = { authorization: "Bearer test-admin-token", "content-type": "application/json" };

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

async function run(endpoints) {
  const arrived = new Map();
  const srv = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      arrived.set(req.headers["webhook-id"], performance.now());
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${srv.address().port}/hook`;
  const config = testConfig({ dispatch: { retry_schedule_secs: [1], timeout_ms: 5000, allow_private_hosts: ["127.0.0.1"] } });
  const eh = await start({ config, environment: "dev" });
  try {
    const call = async (method, pathname, body) => {
      const resp = await eh.fetch(pathname, { method, headers: ADMIN, body: JSON.stringify(body) });
      return resp.json();
    };
    for (let i = 0; i < endpoints; i++) {
      await call("POST", "/admin/subscriptions", { name: `bench-${i}`, url, events: [`bench.e${i}`] });
    }
    const published = new Map();
    const t0 = performance.now();
    // Ten publishers at once, round-robin over the endpoints.
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = next++; i < N; i = next++) {
          const at = performance.now();
          const r = await call("POST", `/events/bench.e${i % endpoints}`, { i });
          published.set(r.results[0].id, at);
        }
      }),
    );
    const deadline = Date.now() + 300_000;
    while (arrived.size < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (arrived.size < N) throw new Error(`${arrived.size} of ${N} delivered in 300 s`);
    const last = Math.max(...arrived.values());
    const seconds = (last - t0) / 1000;
    const latency = median([...arrived].map(([id, t]) => t - published.get(id)));
    console.log(`| ${endpoints} | ${N} | ${seconds.toFixed(1)} | ${(N / seconds).toFixed(0)} | ${latency.toFixed(0)} |`);
  } finally {
    srv.close();
    await eh.dispose();
  }
}

console.log("| endpoints | deliveries | seconds | deliveries/s | median latency ms |");
console.log("|---|---|---|---|---|");
for (const endpoints of [1, 100]) await run(endpoints);
