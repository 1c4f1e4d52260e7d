// The admin page's charts (issue 23 §1): GET /admin/stats/hourly's series from D1
// (collector counters, acceptance latency buckets, delivery attempts), drawn by the
// bundled uPlot under the page's strict CSP, on a desktop and a phone-width screen.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { start, root, testConfig, TEST_SECRETS } from "./harness.mjs";

const executablePath = process.env.CHROMIUM_BIN || execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };

let eh, browser, base, subscriber, subscriptionId;
before(async () => {
  let n = 0;
  // The first delivery fails at once (400), the rest are delivered.
  subscriber = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => { n += 1; res.writeHead(n === 1 ? 400 : 204); res.end(); });
  });
  await new Promise((r) => subscriber.listen(0, "127.0.0.1", r));
  eh = await start({ config: testConfig({ dispatch: { allow_private_hosts: ["127.0.0.1"], timeout_ms: 2000 } }), environment: "dev" });
  base = String(await eh.mf.ready).replace(/\/$/, "");
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });

  for (const body of ['{"n":1}', '{"n":2}', '{"n":3}']) {
    const r = await eh.postSigned("amo", body);
    assert.equal(r.status, 202);
    await r.arrayBuffer();
  }
  const refused = await eh.postSigned("amo", '{"n":4}', "not-the-key");
  assert.equal(refused.status, 401);
  await refused.arrayBuffer();
  const created = await (await eh.fetch("/admin/subscriptions", { method: "POST", headers: admin,
    body: JSON.stringify({ name: "charted", url: `http://127.0.0.1:${subscriber.address().port}/`, events: ["chart.test"] }) })).json();
  subscriptionId = created.id;
  for (let i = 0; i < 3; i++) {
    const p = await eh.fetch("/events/chart.test", { method: "POST", headers: admin, body: JSON.stringify({ i }) });
    assert.equal(p.status, 202);
    await p.arrayBuffer();
  }
  await eh.until(async () => (await (await eh.db()).prepare("SELECT COUNT(*) AS n FROM delivery_attempts").first()).n >= 3, 15000, "three attempts");
});
after(async () => {
  subscriber?.close();
  await browser?.close();
  await eh?.dispose();
});

test("hourly_series_count_webhooks_refusals_latency_and_deliveries_per_hour", async () => {
  const r = await eh.fetch("/admin/stats/hourly?hours=3", { headers: admin });
  assert.equal(r.status, 200);
  const s = await r.json();
  assert.equal(s.hours.length, 3);
  assert.equal(s.hours[2] - s.hours[1], 3600);
  assert.ok(s.hours[2] <= Date.now() / 1000 && Date.now() / 1000 < s.hours[2] + 3600);
  const amo = s.collectors.find((c) => c.name === "amo");
  assert.deepEqual(amo.accepted, [0, 0, 3]);
  assert.deepEqual(amo.refused, [0, 0, 1]);
  assert.deepEqual(amo.refused_by_code.invalid_signature, [0, 0, 1]);
  assert.equal(s.latency.accepted[2], 3);
  assert.ok(s.latency.p50[2] > 0 && s.latency.p95[2] >= s.latency.p50[2]);
  assert.equal(s.latency.p50[0], null);
  const sub = s.subscriptions.find((x) => x.id === subscriptionId);
  assert.equal(sub.name, "charted");
  assert.deepEqual(sub.failed, [0, 0, 1]);
  assert.deepEqual(sub.delivered, [0, 0, 2]);
  assert.deepEqual(sub.held, [0, 0, 0]);

  const bad = await eh.fetch("/admin/stats/hourly?hours=0", { headers: admin });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.code, "invalid_query");
  const anonymous = await eh.fetch("/admin/stats/hourly");
  assert.equal(anonymous.status, 401);
  await anonymous.arrayBuffer();
});

test("the_bundled_uplot_is_served_with_its_license_under_the_page_csp", async () => {
  const js = await eh.fetch("/admin/vendor/uplot.js");
  assert.equal(js.status, 200);
  assert.match(js.headers.get("content-type"), /^text\/javascript/);
  assert.match(js.headers.get("content-security-policy"), /script-src 'self';/);
  const text = await js.text();
  assert.match(text.slice(0, 2000), /The MIT License \(MIT\)[\s\S]*Leon Sorokin/);
  assert.match(text, /var uPlot=function/);
  const css = await eh.fetch("/admin/vendor/uplot.css");
  assert.equal(css.status, 200);
  assert.match(await css.text(), /\.uplot/);
});

test("the_charts_draw_the_hours_in_the_browser_with_refusals_by_code_on_hover", async () => {
  const dir = path.join(root, "test-output");
  mkdirSync(dir, { recursive: true });
  for (const [name, viewport] of [["desktop", { width: 1400, height: 1000 }], ["phone", { width: 390, height: 844 }]]) {
    const page = await browser.newPage({ viewport });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });
    await page.goto(`${base}/admin/`);
    await page.fill("#token", TEST_SECRETS.ADMIN_TOKEN);
    await page.click("#login button[type=submit]");
    for (const id of ["chart-collectors", "chart-deliveries", "chart-latency"]) {
      const box = page.locator(`#${id}`);
      await box.locator("canvas").waitFor();
      assert.ok(Number(await box.getAttribute("data-points")) > 0, id);
    }
    // Hover the latest hour (the right edge of the plot): the legend shows its counts,
    // the refusal code included.
    const over = page.locator("#chart-collectors .u-over");
    const bounds = await over.boundingBox();
    await page.mouse.move(bounds.x + bounds.width - 1, bounds.y + bounds.height / 2);
    const legend = page.locator("#chart-collectors .u-legend");
    await legend.locator("tr", { hasText: "invalid_signature" }).locator(".u-value", { hasText: /^1$/ }).waitFor();
    await legend.locator("tr", { hasText: "accepted" }).locator(".u-value", { hasText: /^3$/ }).waitFor();
    if (name === "phone") {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
    }
    await page.screenshot({ path: path.join(dir, `charts-${name}.png`), fullPage: name === "desktop" });
    assert.deepEqual(errors, []);
    await page.close();
  }
});
