// One worker for bench/experiments/cross-request.mjs: reads the body, sends it to INGEST
// through the design named by the DESIGN binding, answers 202 (503 if the send failed).
// Every request makes a probe (a Response) at its start; after its wait it reads the
// probe's body, which throws "Cannot perform I/O on behalf of a different request" when
// the code runs in another request's I/O context. Each such case is logged as WRONG.
import { WorkerEntrypoint } from "cloudflare:workers";
import { groupSend as poll } from "../../../src/collect/group_send.mjs";
import { handoff } from "./handoff.mjs";
import { follow } from "./follow.mjs";

const designs = { handoff, follow, poll, single: (name, queue, body) => queue.send(body, { contentType: "json" }) };

export async function probe(p, tag) {
  try {
    await p.body.getReader().read();
  } catch (e) {
    console.log(`WRONG ${tag} ${String(e).slice(0, 60)}`);
  }
}

export default class extends WorkerEntrypoint {
  async fetch(request) {
    const mine = new Response("probe");
    const body = await request.text();
    try {
      await designs[this.env.DESIGN]("INGEST", this.env.INGEST, { line: body }, body.length + 1024, this.ctx);
    } catch (e) {
      console.log(`SENDERR ${String(e).slice(0, 60)}`);
      return new Response("{}", { status: 503 });
    } finally {
      await probe(mine, "after-wait");
    }
    return new Response('{"status":"accepted"}', { status: 202, headers: { "content-type": "application/json" } });
  }
}
