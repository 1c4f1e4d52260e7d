// Plugins uploaded at runtime (docs/PLUGINS.md): versions and rollback through the admin
// API, `wasm` steps running them in their own isolates through the Worker Loader, and
// the sandbox (no network, no bindings, bounded records, loops, throws and garbage cost
// one on_error outcome), and network granted per plugin through edgehook's URL guard.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHmac } from "node:crypto";
import http from "node:http";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { root, start, testConfig, TEST_SECRETS } from "./harness.mjs";

const ADMIN = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}` };
let eh;
const servers = [];

before(async () => {
  const config = testConfig({ dispatch: { allow_private_hosts: ["127.0.0.1"] } });
  // 10.0.0.7 is granted but private, and not in allow_private_hosts: the guard refuses it.
  config.plugins = { fetcher: { allow_hosts: ["127.0.0.1", "10.0.0.7"] } };
  config.collectors.push(
    { name: "tagged", auth: { scheme: "none" }, steps: [{ kind: "wasm", plugin: "tagger", timeout_ms: 3000 }] },
    {
      name: "sandboxed",
      max_body_bytes: 4 * 1024 * 1024,
      auth: { scheme: "none" },
      steps: [{ kind: "wasm", plugin: "sandbox", timeout_ms: 1000 }],
    },
    {
      name: "sandboxed-pass",
      auth: { scheme: "none" },
      steps: [{ kind: "wasm", plugin: "sandbox", timeout_ms: 1000, on_error: "pass" }],
    },
    { name: "networked", auth: { scheme: "none" }, steps: [{ kind: "wasm", plugin: "fetcher", timeout_ms: 5000 }] },
    { name: "sealed", auth: { scheme: "none" }, steps: [{ kind: "wasm", plugin: "sealed-fetcher", timeout_ms: 5000 }] },
    ...["amo-scanner", "enricher", "secret-scrubber", "trapper"].map((plugin) => ({
      name: `sdk-${plugin}`,
      auth: { scheme: "none" },
      steps: [{ kind: "wasm", plugin, timeout_ms: 3000 }],
    })),
  );
  eh = await start({ config, environment: "dev" });
});
after(async () => {
  for (const s of servers) s.close();
  await eh?.dispose();
});

const b64 = (text) => Buffer.from(text).toString("base64");

/** A JS plugin that adds `tag` to the record. */
const tagger = (tag) =>
  `export default { async fetch(request) {
    const message = await request.json();
    return Response.json({ action: "processed", content: { ...message.record, tag: ${JSON.stringify(tag)} } });
  } };`;

// A WebAssembly module exporting `version() -> i32` that returns 2, written out by hand.
const VERSION_WASM = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
  0x03, 0x02, 0x01, 0x00, // function 0 has type 0
  0x07, 0x0b, 0x01, 0x07, ...Buffer.from("version"), 0x00, 0x00, // export "version"
  0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x02, 0x0b, // body: i32.const 2
]);

/** The second version: its tag comes from a .wasm part of the bundle. */
const TAGGER_V2 = {
  main: "main.js",
  modules: {
    "main.js": b64(`import wasm from "version.wasm";
      const { version } = new WebAssembly.Instance(wasm, {}).exports;
      export default { async fetch(request) {
        const message = await request.json();
        return Response.json({ action: "processed", content: { ...message.record, tag: "v" + version() } });
      } };`),
    "version.wasm": Buffer.from(VERSION_WASM).toString("base64"),
  },
};

// What each record's `case` makes the sandbox plugin do.
const SANDBOX = `export default { async fetch(request, env) {
  const { record } = await request.json();
  switch (record.case) {
    case "fetch":
      try {
        await fetch("https://example.com/");
        return Response.json({ action: "processed", content: { ...record, fetched: true } });
      } catch (e) {
        return Response.json({ action: "processed", content: { ...record, fetched: false, why: String(e) } });
      }
    case "env":
      return Response.json({ action: "processed", content: { ...record, bindings: Object.keys(env ?? {}) } });
    case "throw": throw new Error("plugin exploded");
    case "hang": await new Promise(() => {}); break;
    case "sleep": await new Promise((r) => setTimeout(r, 60000)); break;
    case "trickle": {
      const { readable, writable } = new TransformStream();
      const w = writable.getWriter();
      w.write(new TextEncoder().encode('{"action":'));
      setTimeout(() => w.close(), 60000);
      return new Response(readable);
    }
    case "spin": { const until = Date.now() + 1500; while (Date.now() < until) {} return Response.json({ action: "deferred" }); }
    case "garbage": return new Response("this is not JSON");
    case "huge": return Response.json({ action: "processed", content: { blob: "x".repeat(2 * 1024 * 1024) } });
    case "size": return Response.json({ action: "processed", content: { ...record, size: JSON.stringify(record).length } });
  }
  return new Response(null, { status: 202 });
} };`;

// Fetches each of `record.urls` (POST, body "ping") and reports what came back or threw.
const FETCHER = `export default { async fetch(request) {
  const { record } = await request.json();
  const out = {};
  for (const [key, url] of Object.entries(record.urls)) {
    try {
      const r = await fetch(url, { method: "POST", body: "ping" });
      out[key] = { status: r.status, body: await r.text(), from: r.headers.get("x-from") };
    } catch (e) {
      out[key] = { threw: String(e) };
    }
  }
  return Response.json({ action: "processed", content: { ...record, out } });
} };`;

function upload(name, body, contentType = "application/json") {
  return eh.fetch(`/admin/plugins/${name}`, {
    method: "PUT",
    headers: { ...ADMIN, "content-type": contentType },
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
}

function activate(name, version) {
  return eh.fetch(`/admin/plugins/${name}/activate`, {
    method: "POST",
    headers: { ...ADMIN, "content-type": "application/json" },
    body: JSON.stringify({ version }),
  });
}

function post(collector, record) {
  return eh.fetch(`/hooks/${collector}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(record),
  });
}

async function errorCode(resp) {
  return [resp.status, (await resp.json()).error?.code];
}

/** The archived line of the record whose `n` is `n`. */
function lineOf(n, prefix = "collectors/tagged/") {
  return eh.until(async () => (await eh.lines(prefix)).find((l) => l.n === n), 15000, `record ${n}`);
}

test("upload_activate_transform_new_version_and_rollback", async () => {
  const first = await upload("tagger", { modules: { "main.js": b64(tagger("v1")) } });
  assert.equal(first.status, 201);
  const v1 = await first.json();
  assert.match(v1.version, /^[0-9a-f]{64}$/);
  assert.equal(v1.isolate_id, `tagger@${v1.version}`);
  assert.equal(v1.active, false);
  assert.deepEqual(v1.modules, [{ name: "main.js", kind: "js", size: tagger("v1").length }]);
  const stored = await (await eh.bucket()).get(`plugins/tagger/${v1.version}/main.js`);
  assert.equal(await stored.text(), tagger("v1"));

  // Uploaded but not active: nothing to run, so the webhook is refused (on_error reject).
  assert.deepEqual(await errorCode(await post("tagged", { n: 0 })), [503, "plugin_unavailable"]);

  assert.equal((await activate("tagger", v1.version)).status, 200);
  assert.equal((await post("tagged", { n: 1 })).status, 202);
  assert.deepEqual(await lineOf(1), { n: 1, tag: "v1" });

  const second = await upload("tagger", TAGGER_V2);
  assert.equal(second.status, 201);
  const v2 = await second.json();
  assert.notEqual(v2.version, v1.version);
  assert.deepEqual(v2.modules.map((m) => [m.name, m.kind]), [["main.js", "js"], ["version.wasm", "wasm"]]);
  // Still v1 until v2 is activated.
  assert.equal((await post("tagged", { n: 2 })).status, 202);
  assert.deepEqual(await lineOf(2), { n: 2, tag: "v1" });

  const activated = await activate("tagger", v2.version);
  assert.equal(activated.status, 200);
  assert.equal((await activated.json()).active, true);
  assert.equal((await post("tagged", { n: 3 })).status, 202);
  assert.deepEqual(await lineOf(3), { n: 3, tag: "v2" });

  // Rollback: the first version again, on the very next webhook (miniflare runs one
  // isolate: the activation empties its version cache; others would take up to 5 s).
  assert.equal((await activate("tagger", v1.version)).status, 200);
  assert.equal((await post("tagged", { n: 4 })).status, 202);
  assert.deepEqual(await lineOf(4), { n: 4, tag: "v1" });

  const shown = await (await eh.fetch("/admin/plugins/tagger", { headers: ADMIN })).json();
  assert.equal(shown.active_version, v1.version);
  assert.deepEqual(shown.versions.map((v) => v.version).sort(), [v1.version, v2.version].sort());
  assert.deepEqual(shown.versions.filter((v) => v.active).map((v) => v.version), [v1.version]);
  const listed = await (await eh.fetch("/admin/plugins", { headers: ADMIN })).json();
  const row = listed.plugins.find((p) => p.name === "tagger");
  assert.equal(row.active_version, v1.version);
  assert.equal(row.versions, 2);

  // The same code again is the same version, answered 200 and still active.
  const again = await upload("tagger", { modules: { "main.js": b64(tagger("v1")) } });
  assert.equal(again.status, 200);
  assert.equal((await again.json()).version, v1.version);

  // The active version cannot be deleted alone; the inactive one can, R2 objects too.
  const refused = await eh.fetch(`/admin/plugins/tagger?version=${v1.version}`, { method: "DELETE", headers: ADMIN });
  assert.deepEqual(await errorCode(refused), [409, "version_active"]);
  const deleted = await eh.fetch(`/admin/plugins/tagger?version=${v2.version}`, { method: "DELETE", headers: ADMIN });
  assert.deepEqual(await deleted.json(), { name: "tagger", deleted: [v2.version] });
  assert.deepEqual(await eh.objects(`plugins/tagger/${v2.version}/`), []);
  assert.deepEqual(await errorCode(await activate("tagger", v2.version)), [404, "unknown_version"]);
});

test("bad_uploads_get_clear_errors_and_store_nothing", async () => {
  const cases = [
    [{ modules: {} }, "application/json", 422, "invalid_bundle"],
    [{ modules: { "a.txt": b64("x") } }, "application/json", 422, "invalid_bundle"],
    [{ modules: { "a.wasm": b64("not wasm") } }, "application/json", 422, "invalid_bundle"],
    [{ modules: { "a.js": "***" } }, "application/json", 422, "invalid_bundle"],
    [{ modules: { "a.js": b64("x"), "b.js": b64("y") } }, "application/json", 422, "invalid_bundle"],
    [{ modules: { "a.js": b64("x".repeat(2 * 1024 * 1024 + 1)) } }, "application/json", 413, "part_too_large"],
    ["{", "application/json", 422, "invalid_bundle"],
    [new Uint8Array([1, 2, 3]), "application/wasm", 422, "invalid_bundle"],
    ["x", "text/plain", 415, "unsupported_media_type"],
    ["x".repeat(6 * 1024 * 1024), "application/json", 413, "bundle_too_large"],
  ];
  for (const [body, type, status, code] of cases) {
    assert.deepEqual(await errorCode(await upload("broken", body, type)), [status, code], `${type} ${String(body).slice(0, 40)}`);
  }
  assert.deepEqual(await errorCode(await upload("a.b", { modules: { "a.js": b64("x") } })), [422, "invalid_request"]);
  assert.deepEqual(await errorCode(await eh.fetch("/admin/plugins/broken", { headers: ADMIN })), [404, "unknown_plugin"]);
  assert.deepEqual(await eh.objects("plugins/broken/"), []);
  assert.deepEqual(await errorCode(await eh.fetch("/admin/plugins/broken", { method: "PUT" })), [401, "missing_admin_token"]);
});

test("the_sandbox_turns_every_misbehaviour_into_one_on_error_outcome", async () => {
  const resp = await upload("sandbox", { modules: { "sandbox.js": b64(SANDBOX) } });
  assert.equal(resp.status, 201);
  assert.equal((await activate("sandbox", (await resp.json()).version)).status, 200);

  // No network: fetch() is refused inside the plugin's isolate.
  assert.equal((await post("sandboxed", { n: 10, case: "fetch" })).status, 202);
  const fetched = await lineOf(10, "collectors/sandboxed/");
  assert.equal(fetched.fetched, false, JSON.stringify(fetched));
  // No bindings.
  assert.equal((await post("sandboxed", { n: 11, case: "env" })).status, 202);
  assert.deepEqual((await lineOf(11, "collectors/sandboxed/")).bindings, []);

  for (const misbehaviour of ["throw", "hang", "sleep", "trickle", "spin", "garbage", "huge"]) {
    const started = Date.now();
    const refused = await post("sandboxed", { case: misbehaviour });
    const { error } = await refused.json();
    assert.deepEqual([refused.status, error.code], [503, "plugin_unavailable"], misbehaviour);
    // Waiting on a timer or on a body that never ends: cut off by the step's 1 s timeout.
    if (misbehaviour === "sleep" || misbehaviour === "trickle") assert.ok(Date.now() - started >= 1000, misbehaviour);
    assert.ok(Date.now() - started < 4000, `${misbehaviour} answered within the step's timeout`);
    // on_error = "pass": the record is kept unchanged.
    assert.equal((await post("sandboxed-pass", { n: 20, case: misbehaviour })).status, 202, misbehaviour);
  }
  // A record over the plugin limit is not sent to it.
  const big = { case: "size", pad: "y".repeat(1024 * 1024) };
  assert.deepEqual(await errorCode(await post("sandboxed", big)), [503, "plugin_unavailable"]);
  // The gateway still works, and the plugin too.
  assert.equal((await post("sandboxed", { n: 12, case: "size" })).status, 202);
  assert.equal((await lineOf(12, "collectors/sandboxed/")).size > 0, true);
  const passed = await eh.until(async () => {
    const lines = (await eh.lines("collectors/sandboxed-pass/")).filter((l) => l.n === 20);
    return lines.length === 7 ? lines : null;
  });
  assert.deepEqual(passed.map((l) => l.case).sort(), ["garbage", "hang", "huge", "sleep", "spin", "throw", "trickle"]);
  assert.ok(passed.every((l) => Object.keys(l).length === 2));
});

test("a_plugin_granted_hosts_reaches_them_through_edgehook_and_nothing_else", async () => {
  const seen = [];
  const srv = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === "/redirect") res.writeHead(302, { location: `http://localhost:${srv.address().port}/behind` }).end();
      else res.writeHead(200, { "x-from": "mock" }).end(`hello ${req.method} ${req.url} ${body}`);
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  servers.push(srv);
  const port = srv.address().port;
  for (const name of ["fetcher", "sealed-fetcher"]) {
    const resp = await upload(name, { modules: { "fetcher.js": b64(FETCHER) } });
    assert.equal(resp.status, 201);
    assert.equal((await activate(name, (await resp.json()).version)).status, 200);
  }

  const urls = {
    granted: `http://127.0.0.1:${port}/granted?q=1`,
    ungranted: `http://localhost:${port}/ungranted`,
    public_ungranted: "https://example.com/",
    private_granted: "http://10.0.0.7/",
    redirect: `http://127.0.0.1:${port}/redirect`,
  };
  assert.equal((await post("networked", { n: 50, urls })).status, 202);
  const { out } = await lineOf(50, "collectors/networked/");
  // Granted, and let through by the URL guard (127.0.0.1 is in dispatch.allow_private_hosts):
  // method, query and body reach the host, its answer comes back.
  assert.deepEqual(out.granted, { status: 200, body: "hello POST /granted?q=1 ping", from: "mock" }, JSON.stringify(out));
  const refusal = (r) => [r.status, JSON.parse(r.body).error.code, JSON.parse(r.body).error.message];
  const [status, code, why] = refusal(out.ungranted);
  assert.deepEqual([status, code], [403, "egress_refused"]);
  assert.match(why, /not in this plugin's allow_hosts/);
  assert.deepEqual(refusal(out.public_ungranted).slice(0, 2), [403, "egress_refused"]);
  // Granted, but a private address the URL guard refuses.
  const [, privateCode, privateWhy] = refusal(out.private_granted);
  assert.equal(privateCode, "egress_refused");
  assert.match(privateWhy, /allow_private_hosts/);
  // A redirect's next hop comes back through edgehook: localhost is not granted.
  assert.deepEqual(refusal(out.redirect).slice(0, 2), [403, "egress_refused"]);
  assert.deepEqual(seen.sort(), ["POST /granted?q=1", "POST /redirect"]);

  // The same code under a name without a grant has no network at all.
  assert.equal((await post("sealed", { n: 51, urls: { granted: urls.granted } })).status, 202);
  const sealed = (await lineOf(51, "collectors/sealed/")).out;
  assert.ok(sealed.granted.threw, JSON.stringify(sealed));
  assert.equal(seen.length, 2);
});

// A module with the SDK's ABI whose edgehook_process traps at once (`unreachable`), as a
// Rust plugin that panics or runs out of memory does; written out by hand.
const TRAPPING_WASM = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x0c, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7e, // (i32)->i32, (i32,i32)->i64
  0x03, 0x03, 0x02, 0x00, 0x01, // alloc: type 0, process: type 1
  0x05, 0x03, 0x01, 0x00, 0x01, // one page of memory
  0x07, 0x2e, 0x03,
  0x06, ...Buffer.from("memory"), 0x02, 0x00,
  0x0e, ...Buffer.from("edgehook_alloc"), 0x00, 0x00,
  0x10, ...Buffer.from("edgehook_process"), 0x00, 0x01,
  0x0a, 0x0a, 0x02, 0x04, 0x00, 0x41, 0x00, 0x0b, 0x03, 0x00, 0x00, 0x0b, // alloc → 0; process → unreachable
]);

const EXAMPLES = ["amo-scanner", "enricher", "secret-scrubber"];

/** build/plugins/<example>.wasm|.json, built by scripts/test.sh (built here when missing). */
function example(name) {
  const file = ["wasm", "json"].map((ext) => path.join(root, `build/plugins/${name}.${ext}`)).find(existsSync);
  if (file) return file;
  execFileSync("node", ["scripts/plugin.mjs", "build", `examples/plugins/${name}`], { cwd: root, stdio: "inherit" });
  return example(name);
}

async function uploadAndActivate(name, file) {
  const wasm = file.endsWith(".wasm");
  const resp = await upload(name, readFileSync(file), wasm ? "application/wasm" : "application/json");
  assert.equal(resp.status, 201, name);
  const version = await resp.json();
  if (wasm) assert.deepEqual(version.modules.map((m) => m.name), ["main.js", "plugin.wasm"]);
  assert.equal((await activate(name, version.version)).status, 200);
}

test("sdk_and_js_examples_scan_enrich_and_scrub_through_edgehook", async () => {
  for (const name of EXAMPLES) await uploadAndActivate(name, example(name));

  assert.equal((await post("sdk-amo-scanner", { n: 30, download_url: "https://cdn.evil.example/a.xpi" })).status, 202);
  assert.deepEqual(await lineOf(30, "collectors/sdk-amo-scanner/"), {
    n: 30,
    download_url: "https://cdn.evil.example/a.xpi",
    flagged: true,
    matchedRules: ["blocked_download_host:evil.example"],
  });
  assert.equal((await post("sdk-amo-scanner", { n: 31, download_url: "https://addons.example/a.xpi" })).status, 202);
  assert.deepEqual(await lineOf(31, "collectors/sdk-amo-scanner/"), { n: 31, download_url: "https://addons.example/a.xpi" });
  assert.deepEqual(await errorCode(await post("sdk-amo-scanner", { download_url: "ftp://evil.example/a" })), [422, "rejected_by_plugin"]);

  assert.equal((await post("sdk-enricher", { n: 32, type: "order.paid" })).status, 202);
  assert.deepEqual((await lineOf(32, "collectors/sdk-enricher/")).enrichment, { collector: "sdk-enricher", fields: 2, kind: "order" });

  assert.equal((await post("sdk-secret-scrubber", { n: 33, api_key: "k", nested: { password: "p", ok: 1 } })).status, 202);
  assert.deepEqual(await lineOf(33, "collectors/sdk-secret-scrubber/"), { n: 33, nested: { ok: 1 }, scrubbed: 2 });
});

test("a_trapping_sdk_module_costs_on_error_and_the_next_call_gets_a_fresh_instance", async () => {
  const resp = await upload("trapper", TRAPPING_WASM, "application/wasm");
  assert.equal(resp.status, 201);
  assert.equal((await activate("trapper", (await resp.json()).version)).status, 200);
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await errorCode(await post("sdk-trapper", { n: 40 + i })), [503, "plugin_unavailable"]);
  }
});

test("plugin_mjs_test_runs_a_plugin_locally_the_way_edgehook_does", () => {
  const out = execFileSync(
    "node",
    ["scripts/plugin.mjs", "test", example("enricher"), "--record", '{"event":"push.created","x":1}', "--collector", "gh"],
    { cwd: root, encoding: "utf8" },
  );
  assert.deepEqual(JSON.parse(out), {
    status: 200,
    answer: {
      action: "processed",
      content: { event: "push.created", x: 1, enrichment: { collector: "gh", fields: 2, kind: "push" } },
    },
  });
});

test("a_subscription_transform_rewrites_the_payload_before_it_is_signed_and_sent", async () => {
  const stamper = `export default { async fetch(request) {
    const m = await request.json();
    return Response.json({ action: "processed", content: { ...m.record, for: m.subscription, type: m.event_type } });
  } };`;
  const resp = await upload("stamper", { modules: { "stamper.js": b64(stamper) } });
  assert.equal((await activate("stamper", (await resp.json()).version)).status, 200);

  const bodies = [];
  const srv = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      bodies.push({ body, authorization: req.headers.authorization });
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  servers.push(srv);
  const url = `http://127.0.0.1:${srv.address().port}/hook`;
  const json = { ...ADMIN, "content-type": "application/json" };
  const subscribe = async (name, transform) =>
    eh.fetch("/admin/subscriptions", { method: "POST", headers: json, body: JSON.stringify({ name, url, events: [`${name}.happened`], transform }) });

  const created = await subscribe("stamped", "stamper");
  assert.equal(created.status, 201);
  const sub = await created.json();
  assert.equal(sub.transform, "stamper");
  const published = await (await eh.fetch("/events/stamped.happened", { method: "POST", headers: json, body: '{"n":1}' })).json();
  const got = await eh.until(() => bodies[0], 15000, "the transformed delivery");
  const sent = JSON.parse(got.body);
  assert.deepEqual({ ...sent, scanner_result_url: undefined }, { n: 1, for: "stamped", type: "stamped.happened", scanner_result_url: undefined });
  assert.equal(sent.scanner_result_url, published.results[0].result_url);
  // Signed after the transform: the signature covers the bytes the subscriber got.
  assert.equal(got.authorization, `HMAC-SHA256 ${createHmac("sha256", sub.api_key).update(got.body).digest("hex")}`);

  // A transform with no version to run holds the delivery back for a retry; nothing is sent.
  const broken = await (await subscribe("unstamped", "no-such-plugin")).json();
  const held = await (await eh.fetch("/events/unstamped.happened", { method: "POST", headers: json, body: '{"n":2}' })).json();
  const result = await eh.until(async () => {
    const r = await (await eh.fetch(`/results/${held.results[0].id}`, { headers: ADMIN })).json();
    return r.last_error ? r : null;
  }, 15000, "the held delivery");
  assert.equal(result.status, "pending");
  assert.match(result.last_error, /transform failed: .*no active version/);
  assert.equal(bodies.length, 1);
  assert.ok(broken.id);

  const bad = await subscribe("bad-transform", "a/b");
  assert.deepEqual(await errorCode(bad), [422, "invalid_request"]);
});
