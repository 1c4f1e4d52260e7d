// edgehook's workerd benchmarks; bench/run.sh runs this after building. Prints Markdown
// table rows: crypto inside workerd (the bench build's /__bench/crypto route), end to
// end over loopback HTTP with autocannon in a second process next to three floor
// workers started the same way, ingest throughput, wasm size and cold start.
//
// bench/run.sh prints the table's header. Env: BENCH_SMOKE=1 (tiny counts, one round), BENCH_ROUNDS (default 3),
// BENCH_ONLY=crypto,e2e,plugin,ingest,size,cold (a subset).
import { Miniflare } from "miniflare";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { QUEUES, TEST_SECRETS, applyMigrations, hmacHex, root } from "../miniflare/harness.mjs";
import { BENCH_PLUGIN, PUBLIC_URL, activateBenchPlugin, coldStart as measureCold, deliverIngest, edgehookOptions, jsonBody, loadConfig, oneCollectorConfig, pluggedOptions, readyPlugged, sequentialLatency } from "./lib.mjs";

const SMOKE = process.env.BENCH_SMOKE === "1";
const ROUNDS = SMOKE ? 1 : Number(process.env.BENCH_ROUNDS ?? 3);
const ONLY = new Set((process.env.BENCH_ONLY ?? "crypto,e2e,plugin,ingest,size,cold").split(","));
const BUILD = path.join(root, "build");
const BENCH_BUILD = path.join(root, "bench/out/build-bench");
const LOADED_CONNECTIONS = 50; // the "under load" cases
const CONNECTIONS = 16; // the others, but for the 1-connection cases
/** A case's size in its key: `1`, `64`, or `1:c50` at 50 connections (`1:c1` at one). */
const at = (kib, connections) => (connections ? `${kib}:c${connections}` : `${kib}`);
const HARD_LIMIT_MS = 120_000; // no autocannon run may take longer than this

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const row = (...cells) => console.log(`| ${cells.join(" | ")} |`);
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : String(x));

// workerd's stdout (edgehook logs one JSON line per request) is drained, not printed.
const quiet = (stdout, stderr) => {
  stdout.resume();
  stderr.on("data", (d) => {
    const s = String(d);
    if (/error/i.test(s) && !/"outcome"/.test(s)) process.stderr.write(s);
  });
};

function benchConfig(jwtKeyName) {
  const config = loadConfig();
  config.collectors.push({ name: "bench-jwt", auth: { scheme: "jwt", keys: [jwtKeyName], max_lifetime_secs: 3600 } });
  return config;
}

/** Options of a Miniflare running edgehook from the worker-build directory `buildDir`. */
const buildOptions = (buildDir, opts = {}) =>
  edgehookOptions(path.join(buildDir, "index.js"), { stdio: quiet, ...opts });

function floorOptions(file) {
  return {
    name: path.basename(file, ".mjs"),
    modules: true,
    scriptPath: path.join(root, "bench/floors", file),
    compatibilityDate: "2026-07-30",
    bindings: { AMO_KEY: TEST_SECRETS.AMO_KEY },
    queueProducers: { INGEST: QUEUES.ingest },
    handleRuntimeStdio: quiet,
    host: "127.0.0.1",
    port: 0,
  };
}

async function startMf(options) {
  const mf = new Miniflare(options);
  const url = await mf.ready;
  return { mf, url: String(url).replace(/\/$/, "") };
}

// ---------------------------------------------------------------- crypto in workerd

async function cryptoInWorkerd() {
  const { mf } = await startMf(buildOptions(BENCH_BUILD));
  const scale = SMOKE ? 0.02 : 1;
  const jobs = [
    ["HMAC verify as the collector runs it, 1 KiB", { op: "hmac", bytes: 1024, n: 2000 }, 1024],
    ["HMAC verify as the collector runs it, 64 KiB", { op: "hmac", bytes: 65536, n: 150 }, 65536],
    ["HMAC-SHA256 in Rust/wasm, 1 KiB", { op: "hmac-rust", bytes: 1024, n: 2000 }, 1024],
    ["HMAC-SHA256 through WebCrypto, 1 KiB", { op: "hmac-webcrypto", bytes: 1024, n: 1000 }, 1024],
    ["HMAC-SHA256 in Rust/wasm, 64 KiB", { op: "hmac-rust", bytes: 65536, n: 60 }, 65536],
    ["HMAC-SHA256 through WebCrypto, 64 KiB", { op: "hmac-webcrypto", bytes: 65536, n: 150 }, 65536],
    ["accept() of the hmac collector, 1 KiB (checks, verify, JSON, line)", { op: "accept", bytes: 1024, n: 1000 }, 1024],
    ["accept() of the hmac collector, 64 KiB (checks, verify, JSON, line)", { op: "accept", bytes: 65536, n: 60 }, 65536],
    ["Standard Webhooks verify (v1), 1 KiB", { op: "standard-webhooks", bytes: 1024, n: 2000 }],
    ["JWT RS256 verify (parse + signature)", { op: "jwt", alg: "RS256", n: 300 }],
    ["JWT ES256 verify (parse + signature)", { op: "jwt", alg: "ES256", n: 200 }],
    ["JWT EdDSA verify (parse + signature)", { op: "jwt", alg: "EdDSA", n: 200 }],
    ["JWT HS256 verify (parse + signature)", { op: "jwt", alg: "HS256", n: 2000 }],
  ];
  const call = async (job) => {
    const t = performance.now();
    const res = await mf.dispatchFetch("http://edgehook.test/__bench/crypto", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(job),
    });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`bench route ${JSON.stringify(job)}: ${res.status} ${text}`);
    return performance.now() - t;
  };
  const results = {};
  try {
    for (const [what, job, bytes] of jobs) {
      const n = Math.max(2, Math.round(job.n * scale));
      await call({ ...job, n: 2 }); // imports keys, warms the code
      const per = [];
      for (let r = 0; r < (SMOKE ? 1 : 7); r++) {
        const empty = await call({ ...job, n: 0 });
        const full = await call({ ...job, n });
        per.push(((full - empty) * 1000) / n);
      }
      const us = median(per);
      results[job.op + (job.alg ?? "") + (job.bytes ?? "")] = us;
      const perKiB = bytes ? `${fmt(us / (bytes / 1024), 2)} µs/KiB` : "";
      row("workerd (wasm)", what, `${fmt(us)} µs`, `${fmt(1e6 / us, 0)}/s`, perKiB);
    }
  } finally {
    await mf.dispose();
  }
  return results;
}

// ---------------------------------------------------------------- end to end over HTTP

/** Runs autocannon in its own process for `seconds` over loopback; every answer must be 2xx. */
function autocannon(url, { body, headers, seconds, connections }) {
  const dir = mkdtempSync(path.join(tmpdir(), "edgehook-bench-"));
  const bodyFile = path.join(dir, "body.json");
  writeFileSync(bodyFile, body);
  const args = [
    path.join(root, "node_modules/autocannon/autocannon.js"),
    "-j", "-n",
    "-c", String(connections),
    "-d", String(seconds),
    "-t", "30",
    "-m", "POST",
    "-i", bodyFile,
  ];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}=${v}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), HARD_LIMIT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`autocannon exited ${code}: ${err}`));
      try {
        const r = JSON.parse(out);
        const ok = r["2xx"];
        if (!ok || r.non2xx || r.errors || r.timeouts) {
          return reject(new Error(`autocannon ${url}: ${ok} 2xx, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`));
        }
        resolve({ rps: ok / r.duration, p50: r.latency.p50, p99: r.latency.p99 });
      } catch (e) {
        reject(e);
      }
    });
  });
}

async function endToEnd() {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwtKey = JSON.stringify(await exportJWK(publicKey));
  const { privateKey: esPrivate, publicKey: esPublic } = await generateKeyPair("ES256");
  const esKey = JSON.stringify(await exportJWK(esPublic));
  const config = benchConfig("BENCH_JWT_RS256");
  config.collectors.push({ name: "bench-jwt-es", auth: { scheme: "jwt", keys: ["BENCH_JWT_ES256"], max_lifetime_secs: 3600 } });
  const secrets = { ...TEST_SECRETS, BENCH_JWT_RS256: jwtKey, BENCH_JWT_ES256: esKey };

  const targets = {
    noop: await startMf(floorOptions("noop.mjs")),
    send: await startMf(floorOptions("send.mjs")),
    "hmac-send": await startMf(floorOptions("hmac-send.mjs")),
    "js-hmac": await startMf(floorOptions("js-hmac.mjs")),
    edgehook: await startMf(buildOptions(BUILD, { http: true, secrets, config })),
    rust: await startMf(buildOptions(BENCH_BUILD, { http: true, secrets, config, name: "rust-floor" })),
  };
  const token = async (key, alg, collector) => {
    const aud = `${PUBLIC_URL}/hooks/${collector}`;
    return new SignJWT({ sub: "bench" })
      .setProtectedHeader({ alg, typ: "JWT" })
      .setIssuer(aud)
      .setAudience(aud)
      .setIssuedAt()
      .setExpirationTime("50m")
      .sign(key);
  };
  const seconds = SMOKE ? 1 : Number(process.env.BENCH_SECONDS ?? 4);
  const cases = [];
  // The 1 KiB webhook also runs at 1 connection (a sender posting one webhook at a time:
  // each answer's latency is the whole story, so a wait shows in full) and under a load
  // that keeps the CPUs busy (LOADED_CONNECTIONS), against the floors it is compared with:
  // with 16 connections a worker's req/s follows its latency as much as its CPU per
  // request. Those rows follow the others.
  const loaded = [];
  const alsoAt = [
    [1, new Set(["send:/", "js-hmac:/", "rust:/__bench/send", "edgehook:/hooks/amo"])],
    [LOADED_CONNECTIONS, new Set(["send:/", "hmac-send:/", "js-hmac:/", "edgehook:/hooks/amo"])],
  ];
  for (const kib of [1, 64]) {
    const body = jsonBody(kib * 1024);
    const headers = { "content-type": "application/json", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}` };
    for (const [label, target, p] of [
      ["floor: JS worker, 202 doing nothing", "noop", "/"],
      ["floor: JS worker, raw body to the queue", "send", "/"],
      ["floor: JS worker, WebCrypto HMAC check, raw body to the queue", "hmac-send", "/"],
      ["floor: workers-rs (bench build), reads the body, 202", "rust", "/__bench/noop"],
      ["floor: workers-rs (bench build), raw body to the queue", "rust", "/__bench/send"],
      ["floor: workers-rs (bench build), WebCrypto HMAC check, raw body to the queue", "rust", "/__bench/hmac-send"],
      ["plain JS worker: WebCrypto HMAC, JSON check, queue", "js-hmac", "/"],
      ["edgehook POST /hooks/amo (hmac)", "edgehook", "/hooks/amo"],
    ]) {
      const base = { kib, label: `${label}, ${kib} KiB`, target, path: p, body, headers };
      cases.push({ ...base, key: `${target}:${p}:${at(kib)}` });
      for (const [connections, targets] of alsoAt) {
        if (kib !== 1 || !targets.has(`${target}:${p}`)) continue;
        const n = connections === 1 ? "1 connection" : `${connections} connections`;
        loaded.push({ ...base, connections, key: `${target}:${p}:${at(kib, connections)}`, label: `${base.label}, ${n}` });
      }
    }
  }
  cases.push(...loaded);
  const jwtBody = jsonBody(1024);
  for (const [alg, key, collector] of [["RS256", privateKey, "bench-jwt"], ["ES256", esPrivate, "bench-jwt-es"]]) {
    cases.push({
      key: `jwt:${alg}`,
      kib: 1,
      label: `edgehook POST /hooks/${collector} (jwt ${alg}), 1 KiB`,
      target: "edgehook",
      path: `/hooks/${collector}`,
      body: jwtBody,
      headers: { "content-type": "application/json", authorization: `Bearer ${await token(key, alg, collector)}` },
    });
  }
  const connections = CONNECTIONS;
  const samples = Object.fromEntries(cases.map((c) => [c.key, []]));
  try {
    // Warm every target and check it accepts the request before measuring anything.
    for (const c of cases) {
      await autocannon(targets[c.target].url + c.path, { connections, ...c, seconds: 1 });
    }
    // Rounds interleave the targets, so a noisy neighbour hits all of them alike.
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of cases) {
        samples[c.key].push(await autocannon(targets[c.target].url + c.path, { connections, ...c, seconds }));
      }
    }
  } finally {
    await Promise.all(Object.values(targets).map((t) => t.mf.dispose()));
  }
  const summary = {};
  for (const c of cases) {
    const s = samples[c.key];
    summary[c.key] = { rps: median(s.map((x) => x.rps)), p50: median(s.map((x) => x.p50)), p99: median(s.map((x) => x.p99)) };
  }
  for (const c of cases) {
    const m = summary[c.key];
    const size = at(c.kib, c.connections);
    const send = summary[`send:/:${size}`];
    const js = summary[`js-hmac:/:${size}`];
    const hmacSend = summary[`hmac-send:/:${size}`];
    const rustSend = summary[`rust:/__bench/send:${size}`];
    let ratio = `${fmt(m.rps / send.rps, 2)}× send-only rps, p99 ${fmt(m.p99 / send.p99, 2)}× send-only`;
    if (c.target === "edgehook" && !c.key.startsWith("jwt")) {
      ratio += `, ${fmt(m.rps / js.rps, 2)}× plain JS rps`;
      if (hmacSend) ratio += `, ${fmt(m.rps / hmacSend.rps, 2)}× HMAC-and-send floor rps`;
    }
    if (c.target === "edgehook" && rustSend) ratio += `, ${fmt(m.rps / rustSend.rps, 2)}× workers-rs send floor rps`;
    if (c.target === "noop") ratio = `${fmt(m.rps / send.rps, 2)}× send-only rps`;
    // At one connection the mean latency is 1 / req/s, finer than autocannon's whole-ms p50.
    const mean = c.connections === 1 ? `, mean ${fmt(1000 / m.rps, 2)} ms` : "";
    row("workerd, HTTP", c.label, `${fmt(m.rps, 0)} req/s`, `p50 ${fmt(m.p50, 0)} ms, p99 ${fmt(m.p99, 0)} ms${mean}`, ratio);
  }
  hotPathGoals(summary);
  return summary;
}

/** The rows of issue 19's goal 1: each ratio against the floor it names, and whether it is met. */
function hotPathGoals(s) {
  const e = (size) => s[`edgehook:/hooks/amo:${size}`];
  const goal = (what, value, target, met, detail = "") =>
    row("goal 1 (issue 19)", what, value, detail, `goal ${target}: ${met ? "met" : "missed"}`);
  const one = at(1, 1);
  const rust1 = s[`rust:/__bench/send:${one}`];
  const r1 = e(one).rps / rust1.rps;
  goal("1 KiB, 1 connection: edgehook / workers-rs send floor, req/s", `${fmt(r1, 2)}×`, "≥ 0.95×", r1 >= 0.95,
    `${fmt(e(one).rps / s[`js-hmac:/:${one}`].rps, 2)}× plain JS (goal ≥ 0.8×)`);
  const extra = 1000 / e(one).rps - 1000 / rust1.rps;
  goal("1 KiB, 1 connection: edgehook's mean latency over the workers-rs send floor's", `+${fmt(extra, 2)} ms`, "≤ +0.3 ms", extra <= 0.3,
    `p50 ${fmt(e(one).p50, 0)} vs ${fmt(rust1.p50, 0)} ms (whole ms)`);
  for (const size of [at(1), at(1, LOADED_CONNECTIONS)]) {
    const n = size === at(1) ? CONNECTIONS : LOADED_CONNECTIONS;
    const js = e(size).rps / s[`js-hmac:/:${size}`].rps;
    const send = e(size).rps / s[`send:/:${size}`].rps;
    goal(`1 KiB, ${n} connections: edgehook / plain JS, req/s`, `${fmt(js, 2)}×`, "≥ 1.0×", js >= 1.0);
    goal(`1 KiB, ${n} connections: edgehook / JS send-only floor, req/s`, `${fmt(send, 2)}×`, "≥ 0.95×", send >= 0.95);
  }
  const big = at(64);
  const rustHmac = e(big).rps / s[`rust:/__bench/hmac-send:${big}`].rps;
  goal("64 KiB: edgehook / workers-rs HMAC-and-send floor, req/s", `${fmt(rustHmac, 2)}×`, "≥ 0.95×", rustHmac >= 0.95);
  const p99 = e(big).p99 / s[`send:/:${big}`].p99;
  goal("64 KiB: edgehook p99 / JS send-only p99", `${fmt(p99, 2)}×`, "≤ 1.2×", p99 <= 1.2);
}

// ---------------------------------------------------------------- a wasm plugin step

/**
 * A 1 KiB webhook through a warm `wasm` step (edgehook's amo collector with the step vs
 * without it) next to the same pair of plain JS workers (js-hmac without and with the
 * same plugin called through the same Worker Loader); then the first webhook after
 * activating a new version (a cold load: new isolate, modules from R2).
 *
 * The four targets run back to back in each round and the goals are read per round (the
 * step's req/s ratio over the floor's, the p50 the step adds), then the median over the
 * rounds: this machine's speed drifts by half from one round to the next, far more than
 * the differences measured. At 1 connection a sequential client times each request (µs
 * resolution; autocannon's p50 is in whole ms), at 10 connections autocannon.
 */
async function pluginStep() {
  const edgehook = await startMf(pluggedOptions(`${BUILD}/`, "edgehook"));
  await readyPlugged(edgehook.mf, `${BUILD}/`, "edgehook");
  const targets = {
    edgehook,
    js: await startMf(floorOptions("js-hmac.mjs")),
    "js-plugin": await startMf({ ...floorOptions("js-hmac-plugin.mjs"), workerLoaders: { LOADER: {} }, bindings: { AMO_KEY: TEST_SECRETS.AMO_KEY, PLUGIN_JS: BENCH_PLUGIN } }),
  };
  const body = jsonBody(1024);
  const headers = { "content-type": "application/json", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}` };
  const seconds = SMOKE ? 1 : Number(process.env.BENCH_SECONDS ?? 4);
  const sequential = SMOKE ? 100 : 1000;
  const rounds = SMOKE ? 1 : Number(process.env.BENCH_ROUNDS ?? 9);
  const kinds = [
    ["js", "plain JS worker: WebCrypto HMAC, JSON check, queue", "js", "/"],
    ["jsPlugin", "plain JS worker + the plugin through LOADER", "js-plugin", "/"],
    ["plain", "edgehook POST /hooks/amo", "edgehook", "/hooks/amo"],
    ["plugged", "edgehook POST /hooks/amo-plugged (+ wasm step)", "edgehook", "/hooks/amo-plugged"],
  ];
  const load = (url, connections, secs) =>
    connections === 1
      ? sequentialLatency(url, { body, headers }, SMOKE ? 50 : Math.round(sequential * (secs / seconds)))
      : autocannon(url, { body, headers, connections, seconds: secs });
  const out = {};
  try {
    for (const connections of [1, 10]) {
      const runs = [];
      for (const [, , t, p] of kinds) await load(targets[t].url + p, connections, 1); // warm-up
      for (let r = 0; r < rounds; r++) {
        const round = {};
        for (const [k, , t, p] of kinds) round[k] = await load(targets[t].url + p, connections, seconds);
        runs.push(round);
      }
      for (const [k, label] of kinds) {
        const m = (f) => median(runs.map((x) => x[k][f]));
        const p50 = connections === 1 ? `p50 ${fmt(m("p50"), 2)} ms` : `p50 ${fmt(m("p50"), 0)} ms, p99 ${fmt(m("p99"), 0)} ms`;
        row("workerd, HTTP", `${label}, 1 KiB, ${connections} connection(s)`, `${fmt(m("rps"), 0)} req/s`, p50, "");
      }
      const stepCost = runs.map((x) => x.plugged.rps / x.plain.rps);
      const floorCost = runs.map((x) => x.jsPlugin.rps / x.js.rps);
      const ratio = median(runs.map((_, i) => stepCost[i] / floorCost[i]));
      const added = median(runs.map((x) => x.plugged.p50 - x.plain.p50));
      const floorAdded = median(runs.map((x) => x.jsPlugin.p50 - x.js.p50));
      row("workerd, HTTP", `wasm step's cost against the JS floor's, ${connections} connection(s), median of ${rounds} rounds`,
        `${fmt(ratio, 2)} (goal ≥ 0.95)`, `p50 +${fmt(added, 2)} ms (goal ≤ 0.5; the floor's call +${fmt(floorAdded, 2)} ms)`,
        `edgehook keeps ${fmt(median(stepCost), 2)} of its req/s, the JS worker ${fmt(median(floorCost), 2)}`);
      out[`ratio:${connections}`] = ratio;
      out[`added:${connections}`] = added;
    }
    // Cold load: the first webhook after each activation starts the new version's isolate.
    const first = [];
    const second = [];
    const post = async () => {
      const t = performance.now();
      const res = await fetch(`${edgehook.url}/hooks/amo-plugged`, { method: "POST", headers, body });
      await res.arrayBuffer();
      if (res.status !== 202) throw new Error(`amo-plugged: ${res.status}`);
      return performance.now() - t;
    };
    for (let i = 0; i < (SMOKE ? 1 : 5); i++) {
      await activateBenchPlugin(edgehook.url, `${BENCH_PLUGIN}\n// version ${i} ${Date.now()}`);
      first.push(await post());
      second.push(await post());
    }
    out.cold = { first: median(first), second: median(second) };
    row("workerd, HTTP", "first webhook after activating a new plugin version (cold load)", `${fmt(out.cold.first, 1)} ms`, `the next one ${fmt(out.cold.second, 1)} ms`, "");
  } finally {
    await Promise.all(Object.values(targets).map((t) => t.mf.dispose()));
  }
  return out;
}

// ---------------------------------------------------------------- ingest

async function ingest() {
  const { mf } = await startMf(buildOptions(BUILD));
  await applyMigrations(await mf.getD1Database("DB", "edgehook"));
  const worker = await mf.getWorker("edgehook");
  const out = {};
  try {
    for (const size of [10, 100]) {
      const batches = SMOKE ? 2 : size === 10 ? 60 : 12;
      const run = () => deliverIngest(worker, size);
      await run(); // warm
      const rates = [];
      for (let round = 0; round < ROUNDS; round++) {
        const t = performance.now();
        for (let b = 0; b < batches; b++) await run();
        rates.push((batches * size) / ((performance.now() - t) / 1000));
      }
      out[size] = median(rates);
      row("workerd", `ingest: queue → R2 (+ D1 row), batches of ${size} × 1 KiB`, `${fmt(out[size], 0)} records/s`, `${fmt((1000 * size) / out[size], 1)} ms per batch`, "");
    }
  } finally {
    await mf.dispose();
  }
  return out;
}

// ---------------------------------------------------------------- size and cold start

function size() {
  const wasm = readFileSync(path.join(BUILD, "index_bg.wasm"));
  const gz = gzipSync(wasm, { level: 9 }).length;
  row("build", "wasm size (wasm-opt on), raw", `${fmt(wasm.length / 1024, 0)} KiB`, `${wasm.length} bytes`, "");
  row("build", "wasm size (wasm-opt on), gzip -9", `${fmt(gz / 1024, 0)} KiB`, `${gz} bytes`, "goal ≤ 700 KiB");
  return { raw: wasm.length, gzip: gz };
}

async function coldStart() {
  const noHttp = (o) => ({ ...o, host: undefined, port: undefined });
  const targets = [
    ["edgehook", buildOptions(BUILD), "/hooks/amo"],
    ["edgehook with one collector (amo: hmac, no steps)", buildOptions(BUILD, { config: oneCollectorConfig() }), "/hooks/amo"],
    ["floor: JS worker, 202 doing nothing", noHttp(floorOptions("noop.mjs")), "/"],
  ];
  const runs = SMOKE ? 1 : 5;
  const samples = targets.map(() => []);
  // Rounds interleave the targets, so a busy neighbour hits them alike.
  for (let i = 0; i < runs; i++) {
    for (const [t, [, options, p]] of targets.entries()) samples[t].push(await measureCold(options, p));
  }
  const out = {};
  const floor = median(samples[targets.length - 1].map((x) => x.first));
  for (const [t, [label]] of targets.entries()) {
    const s = samples[t];
    const m = (out[label] = { total: median(s.map((x) => x.total)), first: median(s.map((x) => x.first)), warm: median(s.map((x) => x.warm)) });
    const vs = t === targets.length - 1 ? "" : `first request ${fmt(m.first / floor, 1)}× the JS floor's (goal ≤ 3×)`;
    row("workerd", `cold start, ${label}: workerd start → first 202`, `${fmt(m.total, 0)} ms`, `first request ${fmt(m.first, 1)} ms, second ${fmt(m.warm, 1)} ms`, vs);
  }
  return out;
}

// ---------------------------------------------------------------- the release build has no bench route

async function releaseHasNoBenchRoute() {
  const { mf } = await startMf(buildOptions(BUILD));
  try {
    const res = await mf.dispatchFetch("http://edgehook.test/__bench/crypto", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op: "hmac", n: 1 }),
    });
    const body = await res.json();
    if (res.status !== 404 || body.error?.code !== "not_found") {
      throw new Error(`the release build answers /__bench/crypto with ${res.status} ${JSON.stringify(body)}`);
    }
  } finally {
    await mf.dispose();
  }
}

await releaseHasNoBenchRoute();
const results = { machine: process.env.BENCH_MACHINE ?? "", at: new Date().toISOString() };
if (ONLY.has("crypto")) results.crypto = await cryptoInWorkerd();
if (ONLY.has("e2e")) results.e2e = await endToEnd();
if (ONLY.has("plugin")) results.plugin = await pluginStep();
if (ONLY.has("ingest")) results.ingest = await ingest();
if (ONLY.has("size")) results.size = size();
if (ONLY.has("cold")) results.cold = await coldStart();
mkdirSync(path.join(root, "bench/out"), { recursive: true });
writeFileSync(path.join(root, "bench/out/results.json"), JSON.stringify(results, null, 2));
