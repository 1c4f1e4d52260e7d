// Experiment (not part of the table): what edgehook's way of calling a plugin
// (src/plugins/loader.mjs: the answer read at most 1 MiB, the call timed by an abort
// signal) costs over the floor's bare call, apart from the rest of the step. One worker
// (plugin-call/worker.mjs) calls the bench's plugin through the Worker Loader in several
// ways (bare, bounded, byob, timed, both, shipped, rpc: see there); C requests at once
// share 200 calls per round, rounds interleave the ways, and the wall time per call is
// printed with its median difference to the first way in the same round.
// Run (after `source scripts/env.sh`): C=10 node bench/experiments/plugin-call.mjs [ROUNDS] [WAYS]
import { Miniflare } from "miniflare";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BENCH_PLUGIN, median } from "../lib.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const rounds = Number(process.argv[2] ?? 21);
const ways = (process.argv[3] ?? "bare,bounded,byob,timed,both,shipped,rpc").split(",");
const concurrent = Number(process.env.C ?? 1);
const calls = 200;

const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(root, "bench/experiments/plugin-call/worker.mjs"),
  modulesRoot: root,
  compatibilityDate: "2026-07-30",
  workerLoaders: { LOADER: {} },
  r2Buckets: ["ARCHIVE"],
  bindings: { PLUGIN_JS: BENCH_PLUGIN },
});
try {
  await (await mf.getR2Bucket("ARCHIVE")).put("plugins/bench/plugin.js", BENCH_PLUGIN);
  const run = async (way, n) => {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrent }, async () => {
        const r = await mf.dispatchFetch(`http://bench/${way}?n=${n / concurrent}`);
        if (!r.ok) throw new Error(`${way}: ${r.status} ${await r.text()}`);
        await r.text();
      }),
    );
    return ((performance.now() - started) * 1000) / n;
  };
  for (const way of ways) await run(way, 50); // warm-up
  const times = Object.fromEntries(ways.map((w) => [w, []]));
  for (let r = 0; r < rounds; r++) for (const way of ways) times[way].push(await run(way, calls));
  for (const way of ways) {
    const paired = median(times[way].map((t, i) => t - times[ways[0]][i]));
    console.log(`${way.padEnd(8)} ${median(times[way]).toFixed(0).padStart(5)} µs/call  ${paired >= 0 ? "+" : ""}${paired.toFixed(0)} µs against ${ways[0]} in the same round`);
  }
} finally {
  await mf.dispose();
}
