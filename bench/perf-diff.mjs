// Where the CPU goes, function by function: the targets of bench/ab.mjs under the same
// load, each target's workerd sampled by perf(1) (cpu-clock at 2 kHz, self time) while V8
// writes JIT maps (`--perf-basic-prof`), so wasm functions, JavaScript and workerd's own
// code all have names. Rounds interleave the targets, as in ab.mjs, so a change in the
// machine's speed hits them alike. Prints each target's µs of CPU per request split into
// wasm, JavaScript, workerd/V8 and kernel, then the functions whose µs per request differ
// most from the first target's. With four targets a b c d it prints the difference of
// differences, (d − c) − (b − a): what c → d costs beyond what a → b costs (issue 21: the
// `wasm` step against the JS floor's call).
//
//   node bench/perf-diff.mjs SECONDS ROUNDS label=target ... (targets as in bench/ab.mjs)
//
// Needs `perf` (linux-perf), and, like ab.mjs, no other workerd starting on the machine
// meanwhile (a target's processes are the workerd that appear as it starts). Unlike
// bench/profile.mjs (the inspector's profile of one worker's JavaScript and wasm) it sees
// the runtime's own work too: the allocator, V8's handles and garbage collector, the I/O
// between isolates.
import { execFileSync, execSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { root } from "../miniflare/harness.mjs";
import { autocannon, signedBody, startTarget } from "./lib.mjs";

const [seconds = "3", rounds = "8", ...specs] = process.argv.slice(2);
const HZ = 2000;
const TOP = Number(process.env.TOP ?? 30);
// V8 writes its maps to /tmp/perf-<pid>.map and, with this flag, per-isolate logs into
// the working directory: keep those out of the repository.
const cwd = process.cwd();
const work = mkdtempSync(path.join(tmpdir(), "edgehook-perf-"));
process.env.MINIFLARE_WORKERD_V8_FLAGS = "--perf-basic-prof";
process.chdir(work);

const workerdPids = () => new Set(execSync("pgrep -x workerd || true").toString().split("\n").filter(Boolean));
const body = signedBody();

/** µs of CPU per request by symbol, from `file` (samples × 1/HZ s ÷ requests). */
function symbols(file, requests) {
  const out = execFileSync("perf", ["report", "-i", file, "--no-children", "--sort", "sym", "-F", "sample,sym", "--stdio"], {
    maxBuffer: 1 << 28,
    stdio: ["ignore", "pipe", "ignore"],
  }).toString();
  const us = new Map();
  for (const line of out.split("\n")) {
    const m = line.match(/^\s+(\d+)\s+\[(.)\]\s+(.*?)\s*$/);
    if (!m) continue;
    const name = (m[2] === "k" ? "[kernel] " : "") + m[3].replace(/0x[0-9a-f]+/g, "ADDR");
    us.set(name, (us.get(name) ?? 0) + (Number(m[1]) * 1e6) / HZ / requests);
  }
  return us;
}

function kind(name) {
  if (name.startsWith("[kernel]")) return "kernel";
  if (/^JS:.*-\d+-(turbofan|liftoff)$/.test(name)) return "wasm";
  if (name.startsWith("JS:")) return "js";
  return "workerd/V8";
}

const targets = [];
try {
  for (const spec of specs) {
    const before = workerdPids();
    const t = await startTarget(spec, spec.split("=")[0], cwd);
    const pids = [...workerdPids()].filter((x) => !before.has(x));
    targets.push({ ...t, pids, requests: 0, data: path.join(work, `${t.label}.data`) });
  }
  for (const t of targets) await autocannon(root, t.url, body, 1); // warm-up
  const perfs = targets.map((t) =>
    spawn("perf", ["record", "-q", "-e", "cpu-clock", "-F", String(HZ), "-o", t.data, "-p", t.pids.join(",")], { stdio: "inherit" }),
  );
  await new Promise((r) => setTimeout(r, 1000));
  for (let r = 0; r < Number(rounds); r++) for (const t of targets) t.requests += (await autocannon(root, t.url, body, Number(seconds)))["2xx"];
  for (const p of perfs) p.kill("SIGINT");
  await Promise.all(perfs.map((p) => new Promise((r) => p.on("close", r))));

  for (const t of targets) t.us = symbols(t.data, t.requests);
  const at = (t, k) => t.us.get(k) ?? 0;
  const sum = (t, pick = () => true) => [...t.us].filter(([k]) => pick(k)).reduce((n, [, v]) => n + v, 0);
  const kinds = ["wasm", "js", "workerd/V8", "kernel"];
  console.log(`µs of CPU per request (perf, ${HZ} Hz, ${rounds} rounds of ${seconds} s, ${process.env.CONNECTIONS ?? 10} connections)`);
  for (const t of targets) {
    const parts = kinds.map((k) => `${k} ${sum(t, (n) => kind(n) === k).toFixed(0)}`).join(", ");
    console.log(`${t.label.padEnd(16)} ${sum(t).toFixed(0).padStart(6)}  (${parts}; ${t.requests} requests)`);
  }
  const table = (title, diff) => {
    const names = new Set(targets.flatMap((t) => [...t.us.keys()]));
    const rows = [...names].map((n) => [diff(n), n]).sort((a, b) => Math.abs(b[0]) - Math.abs(a[0]));
    const total = rows.reduce((n, [d]) => n + d, 0);
    console.log(`\n${title}: ${total >= 0 ? "+" : ""}${total.toFixed(0)} µs in all; by kind: ` +
      kinds.map((k) => `${k} ${rows.filter(([, n]) => kind(n) === k).reduce((s, [d]) => s + d, 0).toFixed(0)}`).join(", "));
    for (const [d, n] of rows.slice(0, TOP)) console.log(`${(d >= 0 ? "+" : "") + d.toFixed(1)}`.padStart(8) + `  ${n.slice(0, 150)}`);
  };
  const [a, b, c, d] = targets;
  for (const t of targets.slice(1)) table(`${t.label} − ${a.label}`, (n) => at(t, n) - at(a, n));
  if (targets.length === 4) {
    table(`(${d.label} − ${c.label}) − (${b.label} − ${a.label})`, (n) => at(d, n) - at(c, n) - (at(b, n) - at(a, n)));
  }
} finally {
  await Promise.all(targets.map((t) => t.mf.dispose()));
  rmSync(work, { recursive: true, force: true });
  for (const pid of targets.flatMap((t) => t.pids)) rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
