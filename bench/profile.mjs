// Where a worker's time goes under load: runs it in workerd with the inspector on,
// loads it with autocannon (10 connections, loopback) and takes a V8 CPU profile of the
// worker's isolate (wasm functions by their Rust names). Prints the top functions by
// self and by inclusive time, in µs per request, and writes the profile (open it in
// Chrome DevTools) to bench/out/last.cpuprofile.
//
//   node bench/profile.mjs build/ /hooks/amo [SECONDS] [TOP]
//   node bench/profile.mjs bench/floors/js-hmac.mjs / 5 20
//   node bench/profile.mjs build/ queue:100 5 30
//
// `plugged` instead of a path posts to a copy of the amo collector with a `wasm` step
// (the bench's one-field plugin, uploaded and activated first; LOADER bound), or with a
// floor script to "/" with the same plugin in PLUGIN_JS (bench/floors/js-hmac-plugin.mjs).
//
// `queue:N` instead of a path delivers batches of N INGEST records (1 KiB lines) to the
// worker's queue handler with getWorker().queue(), one after another, and gives µs per
// record.
//
// With the inspector attached console.log costs several times what it costs without one
// (the runtime captures a stack trace per call for the inspector), so read the log line's
// share from bench/ab.mjs, not from here.
import { Miniflare } from "miniflare";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { applyMigrations, root } from "../miniflare/harness.mjs";
import { autocannonArgs, deliverIngest, pluggedOptions, readyPlugged, signedBody, workerOptions } from "./lib.mjs";

const [target, urlPath = "/", seconds = "5", top = "30"] = process.argv.slice(2);
const body = signedBody();
const inspectorPort = 9230 + (process.pid % 500);
const plugged = urlPath === "plugged";
const options = plugged ? pluggedOptions(target, "profiled", { inspectorPort }) : workerOptions(target, "profiled", { inspectorPort });
const mf = new Miniflare(options);
const url = plugged ? await readyPlugged(mf, target, "profiled") : String(await mf.ready).replace(/\/$/, "") + urlPath;
const list = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
const isolate = list.find((t) => t.title.endsWith("core:user:profiled"));
const ws = new WebSocket(isolate.webSocketDebuggerUrl);
await new Promise((r) => ws.addEventListener("open", r));
let seq = 0;
const pending = new Map();
ws.addEventListener("message", (ev) => {
  const m = JSON.parse(ev.data);
  pending.get(m.id)?.(m);
  pending.delete(m.id);
});
const cdp = (method, params = {}) => new Promise((r) => { pending.set(++seq, r); ws.send(JSON.stringify({ id: seq, method, params })); });

const batchSize = urlPath.startsWith("queue:") ? Number(urlPath.slice("queue:".length)) : 0;
if (batchSize) await applyMigrations(await mf.getD1Database("DB", "profiled"));
const worker = batchSize ? await mf.getWorker("profiled") : null;

/** Batches of `batchSize` records delivered one after another for `secs`, as autocannon's summary. */
async function deliver(secs) {
  const start = performance.now();
  let records = 0;
  while (performance.now() - start < secs * 1000) {
    await deliverIngest(worker, batchSize);
    records += batchSize;
  }
  return { "2xx": records, duration: (performance.now() - start) / 1000, latency: { p99: "-" } };
}

function load(secs) {
  if (batchSize) return deliver(secs);
  const args = autocannonArgs(root, url, body, secs);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", () => resolve(JSON.parse(out)));
  });
}

await load(2); // warm-up: tiers the wasm up
await cdp("Profiler.enable");
await cdp("Profiler.setSamplingInterval", { interval: 100 });
await cdp("Profiler.start");
const run = await load(Number(seconds));
const { result } = await cdp("Profiler.stop");
ws.close();
await mf.dispose();

const profile = result.profile;
mkdirSync(path.join(root, "bench/out"), { recursive: true });
writeFileSync(path.join(root, "bench/out/last.cpuprofile"), JSON.stringify(profile));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const hits = new Map();
for (const s of profile.samples) hits.set(s, (hits.get(s) ?? 0) + 1);
const name = (n) => (n.callFrame.functionName || "(anonymous)").slice(0, 140);
const self = new Map();
const inclusive = new Map();
for (const [id, count] of hits) {
  self.set(name(nodes.get(id)), (self.get(name(nodes.get(id))) ?? 0) + count);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const k = name(nodes.get(cur));
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + count);
    seen.add(k);
  }
}
const requests = run["2xx"];
const perRequest = (count) => ((count / profile.samples.length) * (profile.endTime - profile.startTime)) / requests;
console.log(`${requests} requests, ${(requests / run.duration).toFixed(0)} req/s, p99 ${run.latency.p99} ms; µs per request of the isolate's time:`);
for (const [title, table] of [["self", self], ["inclusive", inclusive]]) {
  console.log(`--- ${title}`);
  for (const [k, count] of [...table].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
    console.log(`${perRequest(count).toFixed(1).padStart(7)} µs  ${k}`);
  }
}
