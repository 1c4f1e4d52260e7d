// The subscriber portal (issue 23 §4): a signed link that expires, minted by the admin API,
// opens a page showing one subscription alone (its deliveries and attempts, retry, a test
// message, secret rotation, verification snippets); nothing of another subscription is
// reachable with it. The page's Node and Python snippets verify a real delivery.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { start, root, testConfig, TEST_SECRETS } from "./harness.mjs";

const executablePath = process.env.CHROMIUM_BIN || execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
const admin = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };
const out = path.join(root, "test-output");

let eh, browser, base, server, mine, theirs, myResult, theirResult;
const received = [];
let refuseNext = 1;
before(async () => {
  mkdirSync(out, { recursive: true });
  server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.push({ url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (req.url === "/mine" && refuseNext > 0) { refuseNext -= 1; res.writeHead(400, { "content-type": "text/plain" }); res.end("mine refused it"); return; }
      res.writeHead(204); res.end();
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  eh = await start({ config: testConfig({ dispatch: { allow_private_hosts: ["127.0.0.1"], timeout_ms: 2000 } }), environment: "dev" });
  base = String(await eh.mf.ready).replace(/\/$/, "");
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  const sub = async (name, events) => (await (await eh.fetch("/admin/subscriptions", { method: "POST", headers: admin,
    body: JSON.stringify({ name, url: `http://127.0.0.1:${server.address().port}/${name}`, events, headers: { "x-token": `${name}-secret-header` } }) })).json());
  mine = await sub("mine", ["portal.mine"]);
  theirs = await sub("theirs", ["portal.theirs"]);
  const publish = async (type) => (await (await eh.fetch(`/events/${type}`, { method: "POST", headers: admin, body: '{"n":1}' })).json()).results[0].id;
  myResult = await publish("portal.mine");
  theirResult = await publish("portal.theirs");
  const status = async (id) => (await (await eh.fetch(`/results/${id}`, { headers: admin })).json()).status;
  await eh.until(async () => (await status(myResult)) === "failed" && (await status(theirResult)) === "delivered", 15000, "both deliveries");
});
after(async () => {
  server?.close();
  await browser?.close();
  await eh?.dispose();
});

const link = async (id, body) => {
  const r = await eh.fetch(`/admin/subscriptions/${id}/portal`, { method: "POST", headers: admin, body: body === undefined ? "" : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};
const call = async (token, method, p) => {
  const r = await eh.fetch(`/portal/api${p}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.status, body: await r.json() };
};

test("a_portal_link_is_signed_expires_within_a_day_and_shows_one_subscription", async () => {
  const now = Math.floor(Date.now() / 1000);
  const l = await link(mine.id);
  assert.equal(l.status, 201);
  assert.ok(l.body.url.startsWith("http://edgehook.test/portal/#"));
  assert.equal(l.body.url.split("#")[1], l.body.token);
  assert.ok(l.body.expires_at >= now + 3599 && l.body.expires_at <= now + 3601);
  assert.equal((await link(mine.id, { ttl_secs: 86_400 })).status, 201);
  assert.deepEqual([(await link(mine.id, { ttl_secs: 86_401 })).status, (await link(mine.id, { ttl_secs: 86_401 })).body.error.code], [422, "invalid_request"]);
  assert.equal((await link("sub_nope")).body.error.code, "unknown_subscription");
  const anonymous = await eh.fetch(`/admin/subscriptions/${mine.id}/portal`, { method: "POST" });
  assert.equal(anonymous.status, 401);
  await anonymous.arrayBuffer();

  const view = await call(l.body.token, "GET", "");
  assert.equal(view.status, 200);
  assert.equal(view.body.subscription.id, mine.id);
  assert.deepEqual(view.body.subscription.headers, { "x-token": "[masked]" });
  assert.deepEqual(view.body.deliveries.map((d) => d.id), [myResult]);
  assert.ok(!JSON.stringify(view.body).includes(theirs.id));
});

test("a_portal_link_reaches_nothing_of_another_subscription", async () => {
  const token = (await link(mine.id)).body.token;
  const other = (await link(theirs.id)).body.token;
  assert.equal((await call(token, "GET", `/deliveries/${myResult}`)).status, 200);
  for (const [method, p] of [["GET", `/deliveries/${theirResult}`], ["POST", `/deliveries/${theirResult}/retry`]]) {
    const r = await call(token, method, p);
    assert.deepEqual([r.status, r.body.error.code], [404, "unknown_result"], `${method} ${p}`);
  }
  const r = await call(other, "GET", `/deliveries/${myResult}`);
  assert.deepEqual([r.status, r.body.error.code], [404, "unknown_result"]);
  // Admin routes do not take a portal token.
  const adminRoute = await eh.fetch(`/admin/deliveries/${theirResult}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(adminRoute.status, 401);
  await adminRoute.arrayBuffer();
  // No token, a forged one, an expired one.
  assert.deepEqual((await call(null, "GET", "")).body.error.code, "missing_portal_token");
  const [h, , s] = token.split(".");
  const forged = `${h}.${Buffer.from(JSON.stringify({ sub: theirs.id, aud: "edgehook-portal", iss: "http://edgehook.test/portal", iat: 1, exp: 4e9 })).toString("base64url")}.${s}`;
  assert.deepEqual((await call(forged, "GET", "")).body.error.code, "invalid_portal_token");
  assert.deepEqual((await call("x.y.z", "GET", "")).body.error.code, "invalid_portal_token");
});

test("the_portal_page_inspects_retries_tests_and_rotates_and_its_snippets_verify_a_delivery", async () => {
  const token = (await link(mine.id)).body.token;
  for (const [name, viewport] of [["desktop", { width: 1300, height: 1000 }], ["phone", { width: 390, height: 844 }]]) {
    const page = await browser.newPage({ viewport });
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) errors.push(m.text()); });
    page.on("dialog", (d) => d.accept());
    await page.goto(`${base}/portal/#${token}`);
    await page.locator("#app").waitFor({ state: "visible" });
    assert.equal(await page.evaluate(() => location.hash), "", "the token leaves the address bar");
    await page.locator("#sub-name", { hasText: "mine" }).waitFor();
    assert.equal(await page.locator(`#deliveries tr[data-delivery="${theirResult}"]`).count(), 0);
    // What a page script could try with the token: another subscription's delivery.
    const stolen = await page.evaluate(async (id) => (await fetch(`/portal/api/deliveries/${id}`, { headers: { authorization: `Bearer ${sessionStorage.getItem("edgehook.portalToken")}` } })).status, theirResult);
    assert.equal(stolen, 404);
    if (name === "desktop") {
      await page.locator(`#deliveries tr[data-delivery="${myResult}"] button`, { hasText: "Inspect" }).click();
      await page.locator('#inspector [data-field="response-body"]', { hasText: "mine refused it" }).waitFor();
      await page.locator("#inspector button", { hasText: "Retry" }).click();
      await eh.until(async () => (await (await eh.fetch(`/results/${myResult}`, { headers: admin })).json()).status === "delivered", 15000, "the portal's retry");
      await page.locator(`#deliveries tr[data-delivery="${myResult}"] button`, { hasText: "Inspect" }).click();
      await page.locator('#inspector details.attempt[data-attempt="2"]', { hasText: "204" }).waitFor();
      await page.click("#send-test");
      await page.locator('[data-field="test-outcome"]', { hasText: "ok" }).waitFor();
      await page.click("#rotate");
      const key = (await page.locator("#new-api-key").textContent()).trim();
      assert.match(key, /^ehs_/);
      // A delivery signed with the new key (the old one co-signs during the grace period),
      // checked by the page's own Node and Python snippets.
      const before = received.length;
      await (await eh.fetch("/events/portal.mine", { method: "POST", headers: admin, body: '{"after":"rotation"}' })).arrayBuffer();
      const delivery = await eh.until(async () => received.slice(before).find((r) => r.url === "/mine" && r.body.includes("rotation")), 15000, "a delivery after rotation");
      const node = await page.locator('pre[data-lang="node"]').textContent();
      const file = path.join(out, "portal-verify.mjs");
      writeFileSync(file, node);
      const { verify } = await import(pathToFileURL(file).href);
      assert.equal(verify(key, delivery.headers, delivery.body), true, "the Node snippet verifies the delivery");
      assert.equal(verify("ehs_wrong", delivery.headers, delivery.body), false);
      assert.equal(verify(key, delivery.headers, delivery.body + " "), false);
      const py = await page.locator('pre[data-lang="python"]').textContent();
      let python = null;
      try { python = execFileSync("sh", ["-c", "command -v python3"], { encoding: "utf8" }).trim(); } catch { /* none */ }
      if (python) {
        const script = `${py}\nimport json, sys\nd = json.load(sys.stdin)\nprint(verify(d["key"].encode(), d["headers"], d["body"].encode()), verify(b"x", d["headers"], d["body"].encode()))\n`;
        const answer = execFileSync(python, ["-c", script], { input: JSON.stringify({ key, headers: delivery.headers, body: delivery.body }), encoding: "utf8" }).trim();
        assert.equal(answer, "True False", "the Python snippet verifies the delivery");
      }
    } else {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the portal is ${overflow}px wider than a phone`);
    }
    await page.screenshot({ path: path.join(out, `portal-${name}.png`), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  }
  // Without its link the page says how to get one.
  const bare = await browser.newPage();
  await bare.goto(`${base}/portal/`);
  await bare.locator("#nolink", { hasText: "link" }).waitFor({ state: "visible" });
  await bare.close();
});
