// Retention (issue 22 section 2): the cron trigger purges finished results last changed
// more than dispatch.retention_days ago, with their delivery attempts, at most 1 000 per
// run; newer results and those still to be delivered (pending, held) stay, however old.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { start, testConfig, ADMIN_HEADERS } from "./harness.mjs";

let eh;
before(async () => {
  eh = await start({ config: testConfig({ dispatch: { retention_days: 2, allow_private_hosts: ["127.0.0.1"] } }), environment: "dev" });
});
after(async () => eh?.dispose());

const DAY = 86_400;

test("the_cron_purges_finished_results_and_attempts_past_retention_days_in_bounded_batches", async () => {
  const db = await eh.db();
  const now = Math.floor(Date.now() / 1000);
  const insert = (id, status, updatedAt) =>
    db
      .prepare(
        `INSERT INTO results (id, event_id, event_type, subscription_id, payload, status, attempts, next_attempt_at, created_at, updated_at)
         VALUES (?1, 'evt_' || ?1, 'kept.test', 'sub_gone', '{}', ?2, 1, ?4, ?3, ?3)`,
      )
      .bind(id, status, updatedAt, now + 30 * DAY)
      .run();
  const attempt = (id, at) =>
    db
      .prepare("INSERT INTO delivery_attempts (result_id, attempt, duration_ms, outcome, attempted_at) VALUES (?1, 1, 5, 'delivered', ?2)")
      .bind(id, at)
      .run();
  // 1 005 finished results three days old, each with an attempt.
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1005)
       INSERT INTO results (id, event_id, event_type, subscription_id, payload, status, attempts, created_at, updated_at)
       SELECT 'res_old' || i, 'evt_old' || i, 'old.test', 'sub_gone', '{}',
              CASE i % 4 WHEN 0 THEN 'delivered' WHEN 1 THEN 'failed' WHEN 2 THEN 'completed' ELSE 'rejected' END,
              1, ?1, ?1 FROM n`,
    )
    .bind(now - 3 * DAY)
    .run();
  await db
    .prepare("INSERT INTO delivery_attempts (result_id, attempt, duration_ms, outcome, attempted_at) SELECT id, 1, 5, 'delivered', updated_at FROM results WHERE event_type = 'old.test'")
    .run();
  // Kept: changed a day ago, or three days ago but still to be delivered.
  for (const [id, status, at] of [
    ["res_recent", "delivered", now - DAY],
    ["res_edge", "failed", now - 2 * DAY + 120],
    ["res_pending", "pending", now - 3 * DAY],
    ["res_held", "held", now - 3 * DAY],
  ]) {
    await insert(id, status, at);
    await attempt(id, at);
  }
  const count = async (sql) => (await db.prepare(sql).first()).n;
  const old = () => count("SELECT COUNT(*) AS n FROM results WHERE event_type = 'old.test'");
  const oldAttempts = () => count("SELECT COUNT(*) AS n FROM delivery_attempts WHERE result_id LIKE 'res_old%'");
  assert.deepEqual([await old(), await oldAttempts()], [1005, 1005]);

  const worker = await eh.mf.getWorker("edgehook");
  await worker.scheduled({ cron: "*/5 * * * *", scheduledTime: new Date() });
  assert.deepEqual([await old(), await oldAttempts()], [5, 5], "one run purges 1 000, with their attempts");
  await worker.scheduled({ cron: "*/5 * * * *", scheduledTime: new Date() });
  assert.deepEqual([await old(), await oldAttempts()], [0, 0], "the next run the rest");

  const kept = await db.prepare("SELECT id, status FROM results WHERE event_type = 'kept.test' ORDER BY id").all();
  assert.deepEqual(
    kept.results.map((r) => [r.id, r.status]),
    [["res_edge", "failed"], ["res_held", "held"], ["res_pending", "pending"], ["res_recent", "delivered"]],
  );
  assert.equal(await count("SELECT COUNT(*) AS n FROM delivery_attempts WHERE result_id IN ('res_edge', 'res_held', 'res_pending', 'res_recent')"), 4);
  // The admin API still shows a kept one.
  const shown = await eh.fetch("/results/res_recent", { headers: ADMIN_HEADERS });
  assert.equal(shown.status, 200);
  const gone = await eh.fetch("/results/res_old4", { headers: ADMIN_HEADERS });
  assert.equal(gone.status, 404);
});
