// Failures of the archive write: messages stay un-acked (retried), nothing is lost.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, QUEUES } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start({ autoConsume: false, failR2Puts: 1 });
});
after(() => eh?.dispose());

test("a_failing_r2_write_retries_the_batch_and_loses_nothing", async () => {
  const batch = [1, 2, 3].map((n) => ({
    id: `msg-${n}`,
    body: { v: 1, id: `01FAULT${n}`, collector: "amo", received_at: 1_700_000_000_000 + n, line: `{"n":${n}}` },
  }));
  const failed = await eh.deliver(QUEUES.ingest, batch);
  assert.deepEqual(failed.explicitAcks, []);
  assert.deepEqual(failed.retryMessages.map((m) => m.msgId).sort(), ["msg-1", "msg-2", "msg-3"]);
  assert.ok(failed.retryMessages.every((m) => m.delaySeconds >= 10));
  assert.deepEqual(await eh.objects(), []);
  const { results } = await (await eh.db()).prepare("SELECT * FROM batches").all();
  assert.deepEqual(results, []);

  // Redelivery after the fault clears: written once, every record exactly once.
  const retried = await eh.deliver(QUEUES.ingest, batch);
  assert.deepEqual(retried.explicitAcks.sort(), ["msg-1", "msg-2", "msg-3"]);
  const lines = await eh.lines();
  assert.deepEqual(lines, [{ n: 1 }, { n: 2 }, { n: 3 }]);
});
