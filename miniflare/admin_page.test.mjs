// The admin page in headless Chromium (Debian's `chromium`, driven by playwright-core):
// loaded under a CSP without 'unsafe-inline' (its script and style are files of their own),
// sign in, issue a key and see it listed, revoke it, see a batch after a webhook, see a
// subscription with its last attempt and retry its failed delivery with the button, and
// save a screenshot under test-output/ (gitignored).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { start, root, testConfig, TEST_SECRETS } from "./harness.mjs";

// scripts/setup.sh installs Debian's chromium when it is missing.
const executablePath = process.env.CHROMIUM_BIN || execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();

let eh, browser, base, subscriberServer;
before(async () => {
  // Dev mode and 127.0.0.1 allowed: the test's subscriber is a local HTTP server.
  const config = testConfig({ dispatch: { allow_private_hosts: ["127.0.0.1"], timeout_ms: 2000 } });
  eh = await start({ config, environment: "dev" });
  base = String(await eh.mf.ready).replace(/\/$/, "");
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
});
after(async () => {
  subscriberServer?.close();
  await browser?.close();
  await eh?.dispose();
});

test("the_admin_page_signs_in_issues_and_revokes_a_key_and_shows_batches", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // The page runs under a CSP without 'unsafe-inline': anything it refuses is a failure.
  const cspRefusals = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspRefusals.push(m.text()); });
  page.on("dialog", (d) => d.accept());

  await page.goto(`${base}/admin/`);
  await page.locator("#login").waitFor({ state: "visible" });

  // A wrong token is refused and not kept.
  await page.fill("#token", "not-the-token");
  await page.click("#login button[type=submit]");
  await page.locator("#login-error").filter({ hasText: /not valid/ }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("edgehook.adminToken")), null);

  await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
  await page.click("#login button[type=submit]");
  await page.locator("#app").waitFor({ state: "visible" });
  await page.locator('#collectors tr[data-collector="amo"]').waitFor();

  // Issue a key: the plaintext is shown once and the key is listed as active.
  await page.fill("#key-name", "browser-key");
  await page.fill("#key-scopes", "scrape");
  await page.click("#key-form button[type=submit]");
  const plaintext = (await page.locator("#new-key-value").textContent()).trim();
  assert.match(plaintext, /^ehk_[A-Za-z0-9_-]{43}$/);
  const row = page.locator('#keys tr[data-key-name="browser-key"]');
  await row.locator('[data-field="status"]', { hasText: "active" }).waitFor();
  const valid = await eh.fetch("/keys/test", { headers: { "x-apikey": plaintext } });
  assert.equal(valid.status, 200);
  await valid.arrayBuffer();

  // Revoke it from the page: it is listed as revoked and stops working at once.
  await row.locator("button", { hasText: "Revoke" }).click();
  await row.locator('[data-field="status"]', { hasText: "revoked" }).waitFor();
  const refused = await eh.fetch("/keys/test", { headers: { "x-apikey": plaintext } });
  assert.equal(refused.status, 401);
  await refused.arrayBuffer();

  // A webhook becomes a batch in R2; the page lists it and counts it.
  const posted = await eh.postSigned("amo", '{"from":"the browser test"}');
  assert.equal(posted.status, 202);
  await posted.arrayBuffer();
  await eh.until(async () => (await (await eh.db()).prepare("SELECT COUNT(*) AS n FROM batches WHERE collector = 'amo'").first()).n > 0, 15000, "the amo batch");
  await page.click('[data-refresh="batches"]');
  const batch = page.locator('#batches tr[data-collector="amo"]');
  await batch.first().waitFor();
  assert.equal(await batch.first().locator('[data-field="records"]').textContent(), "1");
  await page.click('[data-refresh="collectors"]');
  await page.locator('#collectors tr[data-collector="amo"] [data-field="accepted"]', { hasText: "1" }).waitFor();

  // Dispatch: a subscriber that refuses the first delivery (400: failed at once) and
  // accepts the next. The page shows the last attempt and retries with its button.
  let seen = 0;
  subscriberServer = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      seen += 1;
      res.writeHead(seen === 1 ? 400 : 204);
      res.end();
    });
  });
  await new Promise((r) => subscriberServer.listen(0, "127.0.0.1", r));
  const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
  const created = await (await eh.fetch("/admin/subscriptions", { method: "POST", headers: admin,
    body: JSON.stringify({ name: "browser-sub", url: `http://127.0.0.1:${subscriberServer.address().port}/`, events: ["page.test"] }) })).json();
  const published = await (await eh.fetch("/events/page.test", { method: "POST", headers: admin, body: '{"n":1}' })).json();
  const resultId = published.results[0].id;
  const statusOf = async () => (await (await eh.fetch(`/results/${resultId}`, { headers: admin })).json()).status;
  await eh.until(async () => (await statusOf()) === "failed", 15000, "the failed delivery");
  await page.click('[data-refresh="subscriptions"]');
  await page.locator(`#subscriptions tr[data-subscription="${created.id}"]`, { hasText: "400 failed" }).waitFor();
  await page.click('[data-refresh="deliveries"]');
  const failedRow = page.locator(`#deliveries tr[data-delivery="${resultId}"]`);
  await failedRow.waitFor();
  await failedRow.locator("button", { hasText: "Retry" }).click();
  await failedRow.waitFor({ state: "detached" });
  await eh.until(async () => (await statusOf()) === "delivered", 15000, "the retried delivery");
  assert.equal(seen, 2);

  // Plugins: two versions listed, the inactive one activated from the page (a rollback).
  const putPlugin = async (tag) => (await (await eh.fetch("/admin/plugins/page-plugin", { method: "PUT", headers: admin,
    body: JSON.stringify({ modules: { "p.js": Buffer.from(`export default { fetch() { return Response.json({ action: "deferred", tag: "${tag}" }); } };`).toString("base64") } }) })).json()).version;
  const [first, second] = [await putPlugin("one"), await putPlugin("two")];
  await eh.fetch("/admin/plugins/page-plugin/activate", { method: "POST", headers: admin, body: JSON.stringify({ version: second }) });
  await page.click('[data-refresh="plugins"]');
  await page.locator(`#plugins tr[data-version="${second}"]`, { hasText: "active" }).waitFor();
  await page.locator(`#plugins tr[data-version="${first}"] button`, { hasText: "Activate" }).click();
  await page.locator(`#plugins tr[data-version="${first}"]`, { hasText: "active" }).waitFor();
  const shownPlugin = await (await eh.fetch("/admin/plugins/page-plugin", { headers: admin })).json();
  assert.equal(shownPlugin.active_version, first);

  // The token stays for this tab: a reload is still signed in.
  await page.reload();
  await page.locator('#keys tr[data-key-name="browser-key"]').waitFor();

  const dir = path.join(root, "test-output");
  mkdirSync(dir, { recursive: true });
  const shot = path.join(dir, "admin-page.png");
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`admin page screenshot: ${shot}`);

  // Signing out forgets the token.
  await page.click("#logout");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("edgehook.adminToken")), null);
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(cspRefusals, [], "the page's CSP refused nothing it needs");
});

test("the_admin_page_starts_a_replay_and_shows_it_complete", async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // Three webhooks archived for `once`, and a subscriber of the replay's event type.
  const t0 = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 3; i++) {
    const r = await eh.fetch("/hooks/once", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ page: i }) });
    assert.equal(r.status, 202);
    await r.arrayBuffer();
  }
  await eh.until(async () => (await (await eh.db()).prepare("SELECT SUM(records) AS n FROM batches WHERE collector = 'once'").first()).n >= 3, 15000, "the once batches");
  const got = [];
  const replayed = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => { got.push(JSON.parse(body)); res.writeHead(204); res.end(); });
  });
  await new Promise((r) => replayed.listen(0, "127.0.0.1", r));
  const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
  const sub = await eh.fetch("/admin/subscriptions", { method: "POST", headers: admin,
    body: JSON.stringify({ name: "page-replay", url: `http://127.0.0.1:${replayed.address().port}/`, events: ["page.replayed"] }) });
  assert.equal(sub.status, 201);
  await sub.arrayBuffer();

  await page.goto(`${base}/admin/`);
  await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
  await page.click("#login button[type=submit]");
  await page.locator('#replay-collector option[value="once"]').waitFor({ state: "attached" });
  await page.locator('#replays [data-state="empty"]').waitFor();
  // datetime-local inputs hold this browser's local time (the same machine's zone).
  const local = (unix) => new Date(unix * 1000 - new Date().getTimezoneOffset() * 60000).toISOString().slice(0, 19);
  await page.selectOption("#replay-collector", "once");
  await page.fill("#replay-from", local(t0 - 60));
  await page.fill("#replay-to", local(Math.floor(Date.now() / 1000) + 30));
  await page.fill("#replay-type", "page.replayed");
  await page.click("#replay-form button[type=submit]");
  const started = page.locator('#replay-started [data-state="started"]');
  await started.waitFor();
  const id = await started.getAttribute("data-replay");
  // The page reads the running replay again until it is complete.
  const row = page.locator(`#replays tr[data-replay="${id}"][data-status="completed"]`);
  await row.waitFor({ timeout: 30000 });
  assert.equal(await row.locator('[data-field="published"]').textContent(), "3");
  assert.equal(await row.locator('[data-field="deliveries"]').textContent(), "3");
  await eh.until(async () => got.length >= 3, 15000, "three replayed deliveries");
  assert.deepEqual(got.map((b) => b.payload.page).sort(), [0, 1, 2]);
  assert.ok(got.every((b) => b.collector === "once"));

  // A bad request is shown with its code, and starts nothing.
  await page.fill("#replay-type", "replay.completed");
  await page.click("#replay-form button[type=submit]");
  await page.locator('#replay-started [data-state="error"]', { hasText: "reserved_event_type" }).waitFor();

  const dir = path.join(root, "test-output");
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, "admin-replay.png"), fullPage: true });
  replayed.close();
  assert.deepEqual(pageErrors, []);
});
