// What V8's baseline compiler (Liftoff) spends on each function of a wasm module: the
// cost an isolate pays, function by function, the first time each is called (V8
// compiles wasm lazily). Compiles the whole module eagerly in a child node with
// Liftoff only and V8's per-function trace, then prints the total and the slowest
// functions by name (from the module's name section), with how time per KiB grows
// with a function's size.
//
//   node bench/liftoff.mjs build/index_bg.wasm [TOP]
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const [file, top = "15"] = process.argv.slice(2);
const bytes = readFileSync(file);

/** Function names by index, from the `name` custom section (none if it was stripped). */
function functionNames(buf) {
  const names = new Map();
  let pos = 8;
  const leb = () => {
    let r = 0;
    let shift = 0;
    let b;
    do {
      b = buf[pos++];
      r += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return r;
  };
  while (pos < buf.length) {
    const id = buf[pos++];
    const end = leb() + pos;
    if (id === 0) {
      const n = leb();
      const name = buf.subarray(pos, pos + n).toString();
      pos += n;
      while (name === "name" && pos < end) {
        const sub = buf[pos++];
        const subEnd = leb() + pos;
        if (sub === 1) {
          for (let count = leb(); count > 0; count--) {
            const index = leb();
            const len = leb();
            names.set(index, buf.subarray(pos, pos + len).toString());
            pos += len;
          }
        }
        pos = subEnd;
      }
    }
    pos = end;
  }
  return names;
}

const child = spawnSync(
  process.execPath,
  ["--no-wasm-lazy-compilation", "--liftoff-only", "--trace-wasm-compilation-times", "--input-type=module", "-e",
    `import { readFileSync } from "node:fs"; new WebAssembly.Module(readFileSync(${JSON.stringify(file)}));`],
  { encoding: "utf8", maxBuffer: 1 << 28 },
);
if (child.status !== 0) throw new Error(child.stderr);
const names = functionNames(bytes);
const rows = [];
for (const m of child.stdout.matchAll(/#(\d+) using Liftoff, took (\d+) ms .*?bodysize (\d+)/g)) {
  rows.push({ index: Number(m[1]), ms: Number(m[2]), size: Number(m[3]) });
}
const sum = (xs, k) => xs.reduce((a, x) => a + x[k], 0);
console.log(`${rows.length} functions, ${(sum(rows, "size") / 1024).toFixed(0)} KiB of code, Liftoff ${sum(rows, "ms")} ms (sum over V8's compile threads)`);
for (const [label, lo, hi] of [["< 2 KiB", 0, 2048], ["2-10 KiB", 2048, 10240], ["10-40 KiB", 10240, 40960], [">= 40 KiB", 40960, Infinity]]) {
  const g = rows.filter((r) => r.size >= lo && r.size < hi);
  const kib = sum(g, "size") / 1024;
  console.log(`  functions ${label.padEnd(9)} ${String(g.length).padStart(5)}: ${kib.toFixed(0).padStart(5)} KiB, ${String(sum(g, "ms")).padStart(5)} ms, ${(sum(g, "ms") / kib).toFixed(2)} ms/KiB`);
}
console.log(`slowest ${top}:`);
for (const r of rows.sort((a, b) => b.ms - a.ms).slice(0, Number(top))) {
  const name = (names.get(r.index) ?? `#${r.index}`).replace(/::h[0-9a-f]{16}$/, "");
  console.log(`${String(r.ms).padStart(6)} ms ${(r.size / 1024).toFixed(1).padStart(7)} KiB  ${name.slice(0, 140)}`);
}
