// Browsers as senders (Psoxy's scenario A), in headless Chromium: a page on another
// origin POSTs a JWT-authenticated webhook with fetch (a preflighted request: JSON and an
// Authorization header) and it lands in R2; the same page served from an origin the
// collector does not list is blocked by the browser, and nothing is stored for it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { readFileSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { SignJWT, importJWK } from "jose";
import { start, root, testConfig } from "./harness.mjs";

const executablePath = process.env.CHROMIUM_BIN || execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
const HS256 = JSON.parse(readFileSync(path.join(root, "tests/vectors/jwt.json"), "utf8")).cases.find((c) => c.alg === "HS256").key;

let eh, browser, pages, pagePort, base;
before(async () => {
  // The sending page: any path serves an empty HTML document on this origin.
  pages = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>sender</title>");
  });
  await new Promise((r) => pages.listen(0, "127.0.0.1", r));
  pagePort = pages.address().port;
  const config = testConfig();
  config.collectors.push({
    name: "browser",
    auth: { scheme: "jwt", keys: ["JWT_HS256"], max_lifetime_secs: 3600 },
    cors: { origins: [`http://127.0.0.1:${pagePort}`], headers: ["authorization", "content-type"], max_age_secs: 120 },
  });
  eh = await start({ config });
  base = String(await eh.mf.ready).replace(/\/$/, "");
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
});
after(async () => {
  pages?.close();
  await browser?.close();
  await eh?.dispose();
});

async function token() {
  const key = await importJWK(HS256, "HS256");
  const aud = "http://edgehook.test/hooks/browser";
  return new SignJWT({ sub: "alice" }).setProtectedHeader({ alg: "HS256", kid: HS256.kid }).setIssuer(aud).setAudience(aud).setIssuedAt().setExpirationTime("10m").sign(key);
}

/** Opens the sending page at `origin` and runs fetch there; what the page saw. */
async function sendFrom(origin, body, jwt) {
  const page = await browser.newPage();
  try {
    await page.goto(`${origin}/sender`);
    return await page.evaluate(
      async ({ url, body, jwt }) => {
        try {
          const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${jwt}` }, body });
          return { status: r.status, body: await r.json() };
        } catch (e) {
          return { blocked: String(e) };
        }
      },
      { url: `${base}/hooks/browser`, body, jwt },
    );
  } finally {
    await page.close();
  }
}

test("a_page_on_a_listed_origin_posts_a_jwt_webhook_that_lands_in_r2", async () => {
  const body = JSON.stringify({ event: "clicked", marker: "cors-listed" });
  const seen = await sendFrom(`http://127.0.0.1:${pagePort}`, body, await token());
  assert.equal(seen.status, 202, JSON.stringify(seen));
  assert.equal(seen.body.status, "accepted");
  const line = await eh.until(async () => (await eh.lines("collectors/browser/")).find((l) => l.marker === "cors-listed"), 15000, "the browser's webhook");
  assert.deepEqual(line, { event: "clicked", marker: "cors-listed" });
});

test("the_page_reads_errors_too_when_its_origin_is_listed", async () => {
  const seen = await sendFrom(`http://127.0.0.1:${pagePort}`, "{}", "not-a-token");
  assert.equal(seen.status, 401);
  assert.equal(seen.body.error.code, "malformed_token");
});

test("a_page_on_an_unlisted_origin_is_blocked_and_nothing_is_stored", async () => {
  // Same server, another origin: localhost is not 127.0.0.1 to a browser.
  const body = JSON.stringify({ event: "clicked", marker: "cors-unlisted" });
  const seen = await sendFrom(`http://localhost:${pagePort}`, body, await token());
  assert.match(seen.blocked ?? "", /Failed to fetch/, JSON.stringify(seen));
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal((await eh.lines("collectors/browser/")).find((l) => l.marker === "cors-unlisted"), undefined);
});

test("the_preflight_is_answered_before_authentication", async () => {
  const origin = `http://127.0.0.1:${pagePort}`;
  const r = await eh.fetch("/hooks/browser", {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
  });
  assert.equal(r.status, 204);
  assert.equal(r.headers.get("access-control-allow-origin"), origin);
  assert.equal(r.headers.get("access-control-allow-methods"), "POST");
  assert.equal(r.headers.get("access-control-allow-headers"), "authorization, content-type");
  assert.equal(r.headers.get("access-control-max-age"), "120");
  const other = await eh.fetch("/hooks/browser", { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
  assert.equal(other.status, 403);
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  assert.equal((await other.json()).error.code, "origin_not_allowed");
  // A collector without cors has no preflight.
  const none = await eh.fetch("/hooks/amo", { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } });
  assert.equal(none.status, 405);
  assert.equal(none.headers.get("access-control-allow-origin"), null);
  await none.arrayBuffer();
});
