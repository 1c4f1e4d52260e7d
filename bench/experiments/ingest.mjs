// Ingest against its floors: batches of N records (1 KiB lines, as bench.mjs sends them)
// delivered straight to each target's queue handler with getWorker().queue(), targets in
// their own workerd, rounds interleaved. Prints records/s and workerd CPU per record.
//
//   node bench/experiments/ingest.mjs SIZE BATCHES ROUNDS label=build/ label=bench/experiments/ingest/put.mjs
//
// ingest/ack.mjs acks and does nothing (what a delivery costs by itself); ingest/put.mjs
// writes one NDJSON object to R2 and one row to D1 per batch (the I/O any consumer of
// these records must do). A target ending in `/` is a worker-build directory.
import { Miniflare } from "miniflare";
import path from "node:path";
import { applyMigrations } from "../../miniflare/harness.mjs";
import { deliverIngest, edgehookOptions, loadConfig, median, workerdCpuMicros } from "../lib.mjs";

const [size = "100", batches = "12", rounds = "5", ...specs] = process.argv.slice(2);

const targets = [];
for (const spec of specs) {
  const [label, file] = spec.split("=");
  const scriptPath = file.endsWith("/") ? path.resolve(file, "index.js") : path.resolve(file);
  const mf = new Miniflare(edgehookOptions(scriptPath, { name: `ingest${targets.length}`, config: loadConfig() }));
  await mf.ready;
  await applyMigrations(await mf.getD1Database("DB", `ingest${targets.length}`));
  targets.push({ label, mf, worker: await mf.getWorker(`ingest${targets.length}`), runs: [] });
}

const deliver = (t) => deliverIngest(t.worker, Number(size), t.label);

try {
  for (const t of targets) for (let i = 0; i < 3; i++) await deliver(t); // warm-up
  for (let r = 0; r < Number(rounds); r++) {
    for (const t of targets) {
      const cpu0 = workerdCpuMicros();
      const t0 = performance.now();
      for (let b = 0; b < Number(batches); b++) await deliver(t);
      const secs = (performance.now() - t0) / 1000;
      const records = Number(batches) * Number(size);
      t.runs.push({ rate: records / secs, cpu: (workerdCpuMicros() - cpu0) / records });
    }
  }
} finally {
  await Promise.all(targets.map((t) => t.mf.dispose()));
}
const reference = median(targets[0].runs.map((x) => x.rate));
for (const t of targets) {
  const rate = median(t.runs.map((x) => x.rate));
  console.log(
    `${t.label.padEnd(12)} ${rate.toFixed(0).padStart(6)} records/s ${(rate / reference).toFixed(2)}x  ` +
      `${((1000 * Number(size)) / rate).toFixed(1)} ms per batch  cpu ${median(t.runs.map((x) => x.cpu)).toFixed(0)} µs/record  ` +
      `(per round: ${t.runs.map((x) => x.rate.toFixed(0)).join(" ")})`,
  );
}
