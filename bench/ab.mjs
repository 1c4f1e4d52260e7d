// A/B: the same signed POST against several workers, each in its own workerd, autocannon
// in a second process, rounds interleaved so a busy neighbour hits them alike. Prints
// per target the median req/s, p50/p99 and workerd CPU per request (utime+stime of the
// workerd processes over the run, divided by the 2xx count: steadier than req/s here),
// and the median over rounds of the CPU difference to the first target in the same round.
//
//   node bench/ab.mjs SECONDS ROUNDS label=path/to/build/:/hooks/amo label=bench/floors/send.mjs
//
// A target ending in `/` is a worker-build output directory (index.js + index_bg.wasm),
// anything else a module worker script; `:path` is the request path (default `/`).
// The path `plugged` sets a target up for the plugin-step case (bench/lib.mjs
// pluggedOptions): edgehook's amo-plugged collector, or "/" of js-hmac-plugin.mjs.
// KIB=64 sends a 64 KiB body instead of 1 KiB; CONNECTIONS=50 opens 50 connections instead of
// 10. CONNECTIONS=1 times one request at a time with a sequential client instead
// (`sequentialLatency`, p50 in µs, also paired: latency is what one connection measures).
// The first target is the 1.00x reference.
import { readFileSync } from "node:fs";
import { root } from "../miniflare/harness.mjs";
import { autocannon, median, sequentialLatency, signedBody, startTarget, workerdCpuMicros } from "./lib.mjs";

const [seconds = "3", rounds = "5", ...specs] = process.argv.slice(2);
const body = signedBody();

const sequential = process.env.CONNECTIONS === "1";
const bodyBytes = readFileSync(body.file);

/** One connection: 300 requests per second of `secs`, one at a time, each timed. */
async function loadSequential(url, secs) {
  const cpu0 = workerdCpuMicros();
  const n = Math.round(300 * secs);
  const r = await sequentialLatency(url, { body: bodyBytes, headers: body.headers }, n);
  return { rps: r.rps, p50: r.p50, p99: r.p99, cpu: (workerdCpuMicros() - cpu0) / n };
}

async function load(url, secs) {
  if (sequential) return loadSequential(url, secs);
  const cpu0 = workerdCpuMicros();
  const r = await autocannon(root, url, body, secs);
  return { rps: r["2xx"] / r.duration, p50: r.latency.p50, p99: r.latency.p99, cpu: (workerdCpuMicros() - cpu0) / r["2xx"] };
}

const targets = [];
for (const spec of specs) targets.push({ ...(await startTarget(spec, `ab${targets.length}`)), runs: [] });
try {
  for (const t of targets) await load(t.url, 1); // warm-up
  for (let r = 0; r < Number(rounds); r++) for (const t of targets) t.runs.push(await load(t.url, Number(seconds)));
} finally {
  await Promise.all(targets.map((t) => t.mf.dispose()));
}
const reference = median(targets[0].runs.map((x) => x.rps));
// CPU against the first target's in the same round: steadier than either alone when the
// machine's speed drifts between rounds.
const paired = (t, f = "cpu") => median(t.runs.map((x, i) => x[f] - targets[0].runs[i][f]));
const signed = (x, digits = 0) => `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;
for (const t of targets) {
  const rps = median(t.runs.map((x) => x.rps));
  console.log(
    `${t.label.padEnd(20)} ${rps.toFixed(0).padStart(6)} req/s ${(rps / reference).toFixed(2)}x  ` +
      (sequential
        ? `p50 ${median(t.runs.map((x) => x.p50)).toFixed(3)} ms (${signed(paired(t, "p50"), 3)} paired)  p99 ${median(t.runs.map((x) => x.p99)).toFixed(2)} ms  `
        : `p50 ${median(t.runs.map((x) => x.p50))} ms  p99 ${median(t.runs.map((x) => x.p99))} ms  `) +
      `cpu ${median(t.runs.map((x) => x.cpu)).toFixed(0)} µs/req (${signed(paired(t))} paired)  (req/s per round: ${t.runs.map((x) => x.rps.toFixed(0)).join(" ")})`,
  );
}
