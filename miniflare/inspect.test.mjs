// The operator's Inspect views (issue 23 §2): the record browser (batches by collector and
// hour, a batch's records paged, gzip objects included, a record found by id) and the
// delivery inspector (every attempt with its masked request headers and the subscriber's
// answer), through the API and in headless Chromium, with screenshots under test-output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { start, root, testConfig, TEST_SECRETS, QUEUES } from "./harness.mjs";

const executablePath = process.env.CHROMIUM_BIN || execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };

let eh, browser, base, subscriber;
// What the subscriber answers next: the first delivery is refused with a long body.
const answers = [];
const received = [];
before(async () => {
  subscriber = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      const a = answers.shift() || { status: 204 };
      res.writeHead(a.status, a.headers || {});
      res.end(a.body || "");
    });
  });
  await new Promise((r) => subscriber.listen(0, "127.0.0.1", r));
  const config = testConfig({ dispatch: { allow_private_hosts: ["127.0.0.1"], timeout_ms: 2000 } });
  eh = await start({ config, environment: "dev" });
  base = String(await eh.mf.ready).replace(/\/$/, "");
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
});
after(async () => {
  subscriber?.close();
  await browser?.close();
  await eh?.dispose();
});

const get = async (p) => {
  const r = await eh.fetch(p, { headers: admin });
  return { status: r.status, body: await r.json() };
};
const hourOf = (ms) => Math.floor(ms / 3_600_000) * 3600;
const IDS = ["01KINSPECT00000000000000C3", "01KINSPECT00000000000000A1", "01KINSPECT00000000000000B2"];
let packedKey;

test("the_record_browser_pages_a_gzip_batch_and_finds_records_by_id", async () => {
  // One queue batch of three records for `packed` (compress = true): one .gz object whose
  // lines are in id order, whatever order the queue gave them.
  const now = Date.now();
  const messages = IDS.map((id, i) => ({
    id: `m-${i}`,
    body: { v: 1, id, collector: "packed", received_at: now, line: JSON.stringify({ n: id.slice(-1), secret: false }) },
  }));
  const done = await eh.deliver(QUEUES.ingest, messages);
  assert.deepEqual(done.retryMessages, []);

  const listed = await get(`/admin/batches?collector=packed&hour=${hourOf(now) + 59}`);
  assert.equal(listed.status, 200);
  assert.equal(listed.body.batches.length, 1);
  const batch = listed.body.batches[0];
  assert.match(batch.key, /^collectors\/packed\/dt=.*\.ndjson\.gz$/);
  assert.equal(batch.records, 3);
  packedKey = batch.key;
  assert.deepEqual((await get(`/admin/batches?collector=packed&hour=${hourOf(now) - 3600}`)).body.batches, []);

  const enc = encodeURIComponent(batch.key);
  const first = await get(`/admin/batches/${enc}/records?limit=2`);
  assert.equal(first.status, 200);
  assert.equal(first.body.total, 3);
  assert.deepEqual(first.body.records.map((r) => [r.line, r.id, r.record.n]), [[0, IDS[1], "1"], [1, IDS[2], "2"]]);
  assert.equal(first.body.next_cursor, 2);
  const second = await get(`/admin/batches/${enc}/records?limit=2&cursor=${first.body.next_cursor}`);
  assert.deepEqual(second.body.records.map((r) => [r.line, r.id, r.record.n]), [[2, IDS[0], "3"]]);
  assert.equal(second.body.next_cursor, null);

  const one = await get(`/admin/batches/${enc}/records?id=${IDS[2]}`);
  assert.deepEqual(one.body.records.map((r) => r.record.n), ["2"]);
  const found = await get(`/admin/records/${IDS[0]}`);
  assert.equal(found.status, 200);
  assert.equal(found.body.batch.key, batch.key);
  assert.deepEqual([found.body.record.line, found.body.record.record.n], [2, "3"]);

  // A `request`-format line names its own id.
  const posted = await (await eh.fetch("/hooks/open", { method: "POST", headers: { "content-type": "application/json" }, body: '{"hello":"browser"}' })).json();
  const record = await eh.until(async () => {
    const r = await get(`/admin/records/${posted.id}`);
    return r.status === 200 && r.body;
  }, 15000, "the open record");
  assert.equal(record.record.id, posted.id);
  assert.deepEqual(record.record.record.payload, { hello: "browser" });
});

test("the_record_browser_refuses_what_is_not_a_batch_or_a_page", async () => {
  const cases = [
    ["/admin/batches/plugins%2Fx%2Fy/records", 404, "unknown_batch"],
    ["/admin/batches/nope/records", 404, "unknown_batch"],
    ["/admin/records/01KNOSUCHRECORD0000000000000", 404, "unknown_record"],
    [`/admin/batches/${encodeURIComponent(packedKey)}/records?id=nope`, 404, "unknown_record"],
    [`/admin/batches/${encodeURIComponent(packedKey)}/records?cursor=-1`, 400, "invalid_query"],
    [`/admin/batches/${encodeURIComponent(packedKey)}/records?limit=101`, 400, "invalid_query"],
    [`/admin/batches/${encodeURIComponent(packedKey)}/records?page=2`, 400, "invalid_query"],
    ["/admin/batches?hour=noon", 400, "invalid_query"],
  ];
  for (const [p, status, code] of cases) {
    const r = await get(p);
    assert.equal(r.status, status, p);
    assert.equal(r.body.error.code, code, p);
  }
  const anonymous = await eh.fetch(`/admin/batches/${encodeURIComponent(packedKey)}/records`);
  assert.equal(anonymous.status, 401);
  await anonymous.arrayBuffer();
  // An object listed in `batches` but gone from R2 answers 410.
  await (await eh.bucket()).delete(packedKey);
  const gone = await get(`/admin/batches/${encodeURIComponent(packedKey)}/records`);
  assert.deepEqual([gone.status, gone.body.error.code], [410, "batch_gone"]);
});

let failedId, subscriptionId;
test("the_delivery_inspector_shows_each_attempt_with_secrets_masked_and_the_answer", async () => {
  const created = await (await eh.fetch("/admin/subscriptions", { method: "POST", headers: admin,
    body: JSON.stringify({ name: "inspected", url: `http://127.0.0.1:${subscriber.address().port}/hook`, events: ["inspect.test"],
      headers: { "x-api-token": "hunter2-token" } }) })).json();
  subscriptionId = created.id;
  answers.push({ status: 400, headers: { "x-reason": "schema", "content-type": "text/plain" }, body: "refused: " + "x".repeat(5000) });
  const published = await (await eh.fetch("/events/inspect.test", { method: "POST", headers: admin, body: '{"download_url":"https://x/a.xpi"}' })).json();
  failedId = published.results[0].id;
  const failed = await eh.until(async () => {
    const r = await get(`/admin/deliveries/${failedId}`);
    return r.body.status === "failed" && r.body;
  }, 15000, "the failed delivery");
  assert.equal(failed.subscription_name, "inspected");
  assert.deepEqual(failed.payload, { download_url: "https://x/a.xpi" });
  assert.equal(failed.attempts.length, 1);
  const [a] = failed.attempts;
  assert.equal(a.status_code, 400);
  assert.equal(a.outcome, "failed");
  assert.ok(a.duration_ms >= 0);
  const sent = Object.fromEntries(a.exchange.request_headers);
  assert.equal(sent["webhook-id"], failedId);
  assert.equal(sent["content-type"], "application/json");
  assert.equal(sent.authorization, "[masked]");
  assert.equal(sent["webhook-signature"], "[masked]");
  assert.equal(sent["x-api-token"], "[masked]");
  // The subscriber did get the real values; the inspector shows none of them.
  assert.equal(received[0].headers["x-api-token"], "hunter2-token");
  const text = JSON.stringify(failed);
  for (const secret of ["hunter2", received[0].headers.authorization, received[0].headers["webhook-signature"]]) {
    assert.ok(!text.includes(secret), `inspector shows ${secret}`);
  }
  assert.equal(Object.fromEntries(a.exchange.response_headers)["x-reason"], "schema");
  assert.equal(a.exchange.response_body.length, 4096);
  assert.ok(a.exchange.response_body.startsWith("refused: xxx"));
  assert.equal(a.exchange.response_cut, true);
  assert.equal(a.exchange.url, `http://127.0.0.1:${subscriber.address().port}/hook`);

  const missing = await get("/admin/deliveries/res_nope");
  assert.deepEqual([missing.status, missing.body.error.code], [404, "unknown_result"]);
});

test("the_operator_browses_records_and_inspects_a_failed_delivery_in_the_browser", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  const cspRefusals = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspRefusals.push(m.text()); });
  await page.goto(`${base}/admin/`);
  await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
  await page.click("#login button[type=submit]");
  await page.locator("#app").waitFor({ state: "visible" });

  // A second gzip batch with three records, for the browser to page through.
  const now = Date.now();
  const ids = ["01KBROWSE00000000000000003", "01KBROWSE00000000000000001", "01KBROWSE00000000000000002"];
  await eh.deliver(QUEUES.ingest, ids.map((id, i) => ({ id: `b-${i}`, body: { v: 1, id, collector: "packed", received_at: now, line: JSON.stringify({ seen: `in the browser ${id.slice(-1)}` }) } })));

  const key = await eh.until(async () => (await get(`/admin/batches?collector=packed&hour=${hourOf(now)}`)).body.batches.map((x) => x.key).find((k) => k !== packedKey), 15000, "the second batch");
  await page.selectOption("#batch-collector", "packed");
  await page.selectOption("#batch-hour", String(hourOf(now)));
  const row = page.locator(`#batches tr[data-batch="${key}"]`);
  await row.waitFor();
  await row.locator("button", { hasText: "Open" }).click();
  const viewer = page.locator("#records-view .viewer");
  await viewer.locator(`.record[data-record-id="${ids[1]}"]`).waitFor();
  assert.equal(await viewer.locator(".record").count(), 3);
  await viewer.locator("pre", { hasText: "in the browser 2" }).waitFor();

  await page.fill("#record-id", ids[0]);
  await page.click("#record-find button[type=submit]");
  await page.locator(`#record-found .record[data-record-id="${ids[0]}"] pre`, { hasText: "in the browser 3" }).waitFor();

  // The inspector: the failed delivery's attempt, its masked headers and the answer.
  await page.selectOption("#delivery-status", "failed");
  const failedRow = page.locator(`#deliveries tr[data-delivery="${failedId}"]`);
  await failedRow.locator("button", { hasText: "Inspect" }).click();
  const inspector = page.locator(`#inspector [data-inspecting="${failedId}"]`);
  await inspector.locator('details.attempt[data-attempt="1"] [data-field="response-body"]', { hasText: "refused: xxx" }).waitFor();
  assert.ok((await inspector.textContent()).includes("[masked]"));
  assert.ok(!(await inspector.textContent()).includes("hunter2"));

  const dir = path.join(root, "test-output");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, "inspect-desktop.png"), fullPage: true });

  // Retry from the inspector: the second attempt is delivered and shown.
  await inspector.locator("button", { hasText: "Retry" }).click();
  await eh.until(async () => (await get(`/admin/deliveries/${failedId}`)).body.status === "delivered", 15000, "the retried delivery");
  await page.selectOption("#delivery-status", "");
  await page.locator(`#deliveries tr[data-delivery="${failedId}"] button`, { hasText: "Inspect" }).click();
  await page.locator(`#inspector [data-inspecting="${failedId}"] details.attempt[data-attempt="2"]`, { hasText: "204" }).waitFor();

  // Phone width: nothing wider than the screen but tables, which scroll in their section.
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
  await page.screenshot({ path: path.join(dir, "inspect-phone.png"), fullPage: true });

  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspRefusals, []);
});

test("the_operator_recovers_failed_deliveries_and_re_enables_a_subscription_from_the_page", async () => {
  answers.push({ status: 400, body: "refused again" });
  const published = await (await eh.fetch("/events/inspect.test", { method: "POST", headers: admin, body: '{"n":2}' })).json();
  const id = published.results[0].id;
  await eh.until(async () => (await get(`/admin/deliveries/${id}`)).body.status === "failed", 15000, "the failed delivery");
  const patch = (body) => eh.fetch(`/admin/subscriptions/${subscriptionId}`, { method: "PATCH", headers: admin, body: JSON.stringify(body) });
  assert.equal((await patch({ enabled: false })).status, 200);

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`${base}/admin/`);
  await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
  await page.click("#login button[type=submit]");
  const row = page.locator(`#subscriptions tr[data-subscription="${subscriptionId}"]`);
  await row.locator("button", { hasText: "Enable" }).click();
  await page.locator("#subscriptions [data-state=done]", { hasText: "enabled again" }).waitFor();
  assert.equal((await get(`/admin/subscriptions/${subscriptionId}`)).body.enabled, true);

  // Recover the last hour: the operator answers the page's question with 1.
  page.once("dialog", (d) => d.accept("1"));
  await row.locator("button", { hasText: "Recover" }).click();
  await page.locator("#subscriptions [data-state=done]", { hasText: "1 delivery sent again" }).waitFor();
  await eh.until(async () => (await get(`/admin/deliveries/${id}`)).body.status === "delivered", 15000, "the recovered delivery");
  const audit = (await get("/admin/audit?limit=5")).body.entries.map((e) => `${e.method} ${e.path}`);
  assert.ok(audit.includes(`POST /admin/subscriptions/${subscriptionId}/recover`), audit.join("; "));
  assert.deepEqual(pageErrors, []);
});

test("empty_views_say_what_to_do_next", async () => {
  const fresh = await start({ environment: "dev" });
  const b = await browser.newPage({ viewport: { width: 390, height: 844 } });
  try {
    const url = String(await fresh.mf.ready).replace(/\/$/, "");
    await b.goto(`${url}/admin/`);
    await b.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await b.click("#login button[type=submit]");
    await b.locator('#batches [data-state="empty"]', { hasText: "POST /hooks/" }).waitFor();
    await b.locator('#deliveries [data-state="empty"]', { hasText: "POST /events/" }).waitFor();
    mkdirSync(path.join(root, "test-output"), { recursive: true });
    await b.screenshot({ path: path.join(root, "test-output", "empty-phone.png"), fullPage: true });
  } finally {
    await b.close();
    await fresh.dispose();
  }
});
