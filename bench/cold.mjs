// Cold start A/B: for each target a new workerd until ready, its first signed 1 KiB POST
// (→ 202) and a second one; rounds interleave the targets, so a busy neighbour hits them
// alike. Prints the medians per target, the first request also against the first target.
//
//   node bench/cold.mjs ROUNDS label=path/to/build/[:one] ... js=bench/floors/noop.mjs
//
// A target ending in `/` (or `/:one`) is a worker-build output directory run with the
// bench's config (`:one`: only the `amo` collector, hmac and no steps) and POSTed to
// /hooks/amo; anything else is a module worker script without bindings, POSTed to `/`.
import path from "node:path";
import { root } from "../miniflare/harness.mjs";
import { baseConfig, coldStart, edgehookOptions, oneCollectorConfig } from "./lib.mjs";

const [rounds = "5", ...specs] = process.argv.slice(2);
const drain = (stdout, stderr) => { stdout.resume(); stderr.resume(); };
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const targets = specs.map((spec) => {
  const [label, rest] = spec.split("=");
  const [file, config] = rest.split(":");
  if (!file.endsWith("/")) {
    const scriptPath = path.resolve(root, file);
    return { label, path: "/", runs: [], options: { name: label, modules: true, scriptPath, compatibilityDate: "2026-07-30", handleRuntimeStdio: drain } };
  }
  const options = edgehookOptions(path.resolve(root, file, "index.js"), { name: label, config: config === "one" ? oneCollectorConfig() : baseConfig() });
  return { label, path: "/hooks/amo", runs: [], options };
});
for (let r = 0; r < Number(rounds); r++) {
  for (const t of targets) t.runs.push(await coldStart(t.options, t.path));
}
const ref = median(targets[0].runs.map((x) => x.first));
for (const t of targets) {
  const m = (k) => median(t.runs.map((x) => x[k]));
  const firsts = t.runs.map((x) => x.first.toFixed(0)).join(" ");
  console.log(`${t.label.padEnd(12)} start → first 202 ${m("total").toFixed(0)} ms; first request ${m("first").toFixed(1)} ms (${(m("first") / ref).toFixed(2)}×; ${firsts}), second ${m("warm").toFixed(1)} ms`);
}
