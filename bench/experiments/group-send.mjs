// Experiment (not a floor): group commit of queue sends across the concurrent requests of
// one isolate. Each batch is sent from the context of one of its own members (the leader)
// and the lead passes to the next waiting request. See docs/PERFORMANCE.md: 1.15-1.23x the
// send-only floor in JavaScript; not adopted in edgehook (why is written there).
// Run: node bench/ab.mjs 3 5 send=bench/floors/send.mjs group=bench/experiments/group-send.mjs
let inflight = false;
const waiting = [];
async function leadBatch(env) {
  const batch = waiting.splice(0, 100);
  try {
    if (batch.length === 1) await env.INGEST.send(batch[0].body);
    else await env.INGEST.sendBatch(batch.map((m) => ({ body: m.body })));
    for (const m of batch.slice(1)) m.res("done");
  } catch (e) {
    for (const m of batch.slice(1)) m.rej(e);
    throw e;
  } finally {
    if (waiting.length) waiting[0].res("lead");
    else inflight = false;
  }
}
export default {
  async fetch(request, env) {
    const body = await request.text();
    const me = { body };
    const signal = new Promise((res, rej) => { me.res = res; me.rej = rej; });
    waiting.push(me);
    if (!inflight) { inflight = true; me.res("lead"); }
    if ((await signal) === "lead") await leadBatch(env);
    return new Response('{"status":"accepted"}', { status: 202, headers: { "content-type": "application/json" } });
  },
};
