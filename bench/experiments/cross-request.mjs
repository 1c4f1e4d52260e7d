// Experiment (not part of the table): can one request's promise safely wake another
// request waiting on it? Runs four ways of sending a queue message under the bench's load
// (autocannon, 10 connections) and counts requests whose code, after the wait, ran in
// another request's I/O context (see cross-request/worker.mjs):
//   single   each request sends its own message (the control)
//   handoff  the sender resolves the waiting requests' own promises
//   follow   the waiting requests await the promise their batch's sender made
//   poll     no request wakes another: each polls shared state on its own timer
//            (src/collect/group_send.mjs, what edgehook ships)
// Run (after `source scripts/env.sh`): node bench/experiments/cross-request.mjs [SECONDS] [ROUNDS]
import { Miniflare } from "miniflare";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { autocannonArgs, signedBody, workerOptions } from "../lib.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const seconds = process.argv[2] ?? "10";
const rounds = Number(process.argv[3] ?? 2);
const body = signedBody();

async function run(design) {
  const lines = [];
  const keep = (s) => s.on("data", (d) => lines.push(...String(d).split("\n")));
  const opts = workerOptions(path.join(root, "bench/experiments/cross-request/worker.mjs"), "cross", {
    modulesRoot: root,
    handleRuntimeStdio: (out, err) => { keep(out); keep(err); },
  });
  opts.bindings = { ...opts.bindings, DESIGN: design };
  const mf = new Miniflare(opts);
  const url = await mf.ready;
  const { stdout } = await promisify(execFile)(process.execPath, autocannonArgs(root, new URL("/", url).href, body, seconds), { maxBuffer: 1 << 26 });
  await mf.dispose();
  const r = JSON.parse(stdout);
  return { total: r.requests.total, rps: Math.round(r.requests.average), non2xx: r.non2xx,
    wrong: lines.filter((l) => l.startsWith("WRONG")).length, senderr: lines.filter((l) => l.startsWith("SENDERR")).length };
}

for (let i = 1; i <= rounds; i++) {
  for (const design of ["single", "handoff", "follow", "poll"]) {
    const r = await run(design);
    console.log(`round ${i}  ${design.padEnd(8)} ${String(r.total).padStart(6)} requests  ${String(r.rps).padStart(5)} req/s  ` +
      `${String(r.wrong).padStart(4)} ran in another request's context  ${String(r.senderr).padStart(4)} sends refused  ${r.non2xx} non-2xx`);
  }
}
