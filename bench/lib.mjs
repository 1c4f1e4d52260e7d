// Shared by bench/bench.mjs, ab.mjs, profile.mjs and experiments/: a worker under test in
// its own workerd, with the test config's collectors (no plugin steps) and a signed 1 KiB
// (or KIB=n) body.
import { Miniflare } from "miniflare";
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { ADMIN_HEADERS, QUEUES, TEST_SECRETS, applyMigrations, hmacHex, testConfig } from "../miniflare/harness.mjs";

/** A JSON object of about `n` bytes, as benches/core.rs builds it. */
export function jsonBody(n) {
  return `{"event":"bench","id":12345,"data":"${"x".repeat(Math.max(0, n - 40))}"}`;
}

let ingestSeq = 0;

/** `n` INGEST messages as getWorker().queue() takes them: records with new ids and 1 KiB lines. */
export function ingestMessages(n) {
  const line = jsonBody(1024);
  return Array.from({ length: n }, () => {
    const seq = ingestSeq++;
    const id = `01JBENCH${String(seq).padStart(18, "0")}`;
    return { id: `m${seq}`, attempts: 1, timestamp: new Date(), body: { v: 1, id, collector: "amo", received_at: Date.now(), line } };
  });
}

/** Delivers `n` new INGEST records to `worker`'s queue handler as one batch; throws unless
 * every message was acked. */
export async function deliverIngest(worker, n, label = "ingest") {
  const r = await worker.queue(QUEUES.ingest, ingestMessages(n));
  if (r.outcome !== "ok" || (!r.ackAll && (r.explicitAcks?.length ?? 0) !== n)) {
    throw new Error(`${label}: batch of ${n}: ${JSON.stringify(r)}`);
  }
}

/** The body (about `KIB` KiB of JSON) in a temp file, and the headers that sign it for `amo`. */
export function signedBody() {
  const body = jsonBody(Number(process.env.KIB ?? 1) * 1024);
  const file = path.join(tmpdir(), `edgehook-bench-${process.pid}.json`);
  writeFileSync(file, body);
  const headers = { "content-type": "application/json", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}` };
  return { file, headers };
}

/** The test config without collectors whose plugin steps need a service binding. */
export function baseConfig(overrides = {}) {
  const config = testConfig(overrides);
  config.collectors = config.collectors.filter((c) => !(c.steps || []).some((s) => s.kind === "plugin"));
  return config;
}

/** Where the load runs' workers listen: their `public_url` (JWT audiences are built on it). */
export const PUBLIC_URL = "http://127.0.0.1";

/** The config of the load runs: `baseConfig` on loopback, with `amo` taking bodies up to 1 MiB. */
export function loadConfig() {
  const config = baseConfig({ public_url: PUBLIC_URL });
  for (const c of config.collectors) if (c.name === "amo") c.max_body_bytes = 1 << 20;
  return config;
}

const drain = (stdout, stderr) => { stdout.resume(); stderr.resume(); };

/**
 * Miniflare options for the worker module at `scriptPath` with edgehook's bindings:
 * `config` as EDGEHOOK_CONFIG, `secrets`, D1, R2 and the queue producers (no consumers);
 * over HTTP on a random loopback port when `http`.
 */
export function edgehookOptions(scriptPath, { name = "edgehook", config = baseConfig(), secrets = TEST_SECRETS, http = false, stdio = drain } = {}) {
  return {
    name,
    modules: true,
    scriptPath,
    modulesRoot: path.dirname(scriptPath),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: "2026-07-30",
    bindings: { EDGEHOOK_ENV: "bench", EDGEHOOK_CONFIG: config, ...secrets },
    d1Databases: { DB: "edgehook-db" },
    r2Buckets: { ARCHIVE: "edgehook-archive" },
    queueProducers: { INGEST: QUEUES.ingest, DELIVERIES: QUEUES.deliveries },
    handleRuntimeStdio: stdio,
    ...(http ? { host: "127.0.0.1", port: 0 } : {}),
  };
}

/** Options for `target` (a worker-build directory ending in `/`, or a module script) under load. */
export function workerOptions(target, name, extra = {}, config = loadConfig()) {
  const scriptPath = target.endsWith("/") ? path.resolve(target, "index.js") : path.resolve(target);
  return { ...edgehookOptions(scriptPath, { name, config, http: true }), ...extra };
}

/** The plugin of the plugin-step cases: changes one field of the record. */
export const BENCH_PLUGIN = `export default { async fetch(request) {
  const m = await request.json();
  return Response.json({ action: "processed", content: { ...m.record, checked: true } });
} };`;

/**
 * Options for `target` with the plugin cases' setup: LOADER bound, BENCH_PLUGIN in
 * PLUGIN_JS (for bench/floors/js-hmac-plugin.mjs) and, for edgehook, a copy of the amo
 * collector named amo-plugged with a `wasm` step running bench-plugin (uploaded and
 * activated by `activateBenchPlugin`).
 */
export function pluggedOptions(target, name, extra = {}) {
  const config = loadConfig();
  const amo = config.collectors.find((c) => c.name === "amo");
  config.collectors.push({ ...amo, name: "amo-plugged", steps: [{ kind: "wasm", plugin: "bench-plugin" }] });
  const options = workerOptions(target, name, { workerLoaders: { LOADER: {} }, ...extra }, config);
  options.bindings.PLUGIN_JS = BENCH_PLUGIN;
  return options;
}

/**
 * Readies a target started with `pluggedOptions(target, name)`: for edgehook (`target` a
 * worker-build directory ending in `/`), migrations applied and bench-plugin activated.
 * Answers the URL of the plugin case: edgehook's /hooks/amo-plugged, or a floor's "/".
 */
export async function readyPlugged(mf, target, name) {
  const base = String(await mf.ready).replace(/\/$/, "");
  if (!target.endsWith("/")) return `${base}/`;
  await applyMigrations(await mf.getD1Database("DB", name));
  await activateBenchPlugin(base);
  return `${base}/hooks/amo-plugged`;
}

/** Uploads `code` as plugin bench-plugin to the edgehook at `base` and activates it. */
export async function activateBenchPlugin(base, code = BENCH_PLUGIN) {
  const admin = async (method, p, json) => {
    const r = await fetch(base + p, { method, headers: ADMIN_HEADERS, body: JSON.stringify(json) });
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  const { version } = await admin("PUT", "/admin/plugins/bench-plugin", { modules: { "plugin.js": Buffer.from(code).toString("base64") } });
  await admin("POST", "/admin/plugins/bench-plugin/activate", { version });
}

/** autocannon's arguments for a POST of `body` to `url` for `seconds`, over CONNECTIONS connections (10). */
export function autocannonArgs(root, url, body, seconds) {
  const connections = process.env.CONNECTIONS ?? "10";
  const args = [path.join(root, "node_modules/autocannon/autocannon.js"), "-j", "-n", "-c", connections, "-d", String(seconds), "-m", "POST", "-i", body.file];
  for (const [k, v] of Object.entries(body.headers)) args.push("-H", `${k}=${v}`);
  args.push(url);
  return args;
}

/** Runs autocannon (`autocannonArgs`) in a second process; resolves its JSON result,
 * rejects if any answer was not 2xx or failed. */
export function autocannon(root, url, body, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, autocannonArgs(root, url, body, seconds), { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", () => {
      const r = JSON.parse(out);
      if (r.non2xx || r.errors) reject(new Error(`${url}: ${r.non2xx} non-2xx, ${r.errors} errors`));
      else resolve(r);
    });
  });
}

/**
 * Starts the target `spec` names, `label=file[:path]` (bench/ab.mjs): a worker-build
 * directory ending in `/` or a module script, `file` resolved against `base`; the path
 * `plugged` readies the plugin-step case (`readyPlugged`). Answers `{ label, mf, url }`.
 */
export async function startTarget(spec, name, base = process.cwd()) {
  const [label, rest] = spec.split("=");
  const [file, p = "/"] = rest.split(":");
  const target = path.resolve(base, file) + (file.endsWith("/") ? "/" : "");
  const plugged = p === "plugged";
  const mf = new Miniflare(plugged ? pluggedOptions(target, name) : workerOptions(target, name));
  const url = plugged ? await readyPlugged(mf, target, name) : String(await mf.ready).replace(/\/$/, "") + p;
  return { label, mf, url };
}

/** The middle value of `xs` (of the two middle ones, the upper): what the A/B tools print
 * per target and per paired difference. */
export function median(xs) {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** CPU seconds (as µs) used so far by every workerd process on the machine, or only by
 * those whose parent is process `parent` (with their finished children's). */
export function workerdCpuMicros(parent) {
  const tick = 100; // CLK_TCK on Linux
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) !== "workerd") continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (parent !== undefined && Number(fields[1]) !== parent) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
      if (parent !== undefined) ticks += Number(fields[13]) + Number(fields[14]);
    } catch {
      // the process ended meanwhile
    }
  }
  return (ticks / tick) * 1e6;
}

/** `baseConfig` with only the `amo` collector (hmac, no steps): a cold start with no other
 * collector's steps to compile when the config loads. */
export function oneCollectorConfig() {
  const config = baseConfig();
  config.collectors = config.collectors.filter((c) => c.name === "amo");
  return config;
}

/**
 * One cold start: a new workerd for `options` until ready, the first signed POST of a
 * 1 KiB body to `urlPath` (→ 202), then a second; milliseconds.
 */
export async function coldStart(options, urlPath) {
  const body = jsonBody(1024);
  const post = async (mf) => {
    const headers = { "content-type": "application/json", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}` };
    const res = await mf.dispatchFetch(`http://edgehook.test${urlPath}`, { method: "POST", headers, body });
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`cold start ${urlPath}: ${res.status}`);
  };
  const t0 = performance.now();
  const mf = new Miniflare(options);
  try {
    await mf.ready;
    const t1 = performance.now();
    await post(mf);
    const t2 = performance.now();
    await post(mf);
    const t3 = performance.now();
    return { total: t2 - t0, first: t2 - t1, warm: t3 - t2 };
  } finally {
    await mf.dispose();
  }
}

/**
 * `n` POSTs of `body` to `url` one after another over one kept-alive connection, each
 * timed with performance.now(): the p50 and p99 latency in ms at µs resolution
 * (autocannon's are in whole ms) and the requests per second. Every answer must be 2xx.
 */
export async function sequentialLatency(url, { body, headers }, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const { hostname, port, pathname } = new URL(url);
  const post = () =>
    new Promise((resolve, reject) => {
      const req = http.request({ agent, hostname, port, path: pathname, method: "POST", headers }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode < 300 ? resolve() : reject(new Error(`${url}: ${res.statusCode}`))));
      });
      req.on("error", reject);
      req.end(body);
    });
  const times = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await post();
    times.push(performance.now() - t);
  }
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n / 2)], p99: times[Math.floor(n * 0.99)], rps: n / seconds };
}
