// One worker for bench/experiments/plugin-call.mjs: a request to /WAY?n=N makes N calls
// in a row to the bench's plugin through the Worker Loader binding, each way reading the
// answer differently (or calling it differently), and answers the bytes read.
import { boundedBytes, callPlugin } from "../../../src/plugins/loader.mjs";
import { benchPlugin } from "../../floors/plugin-stub.mjs";

const record = new TextEncoder().encode(
  JSON.stringify({ type: "record", collector: "amo", record: { addon: "x".repeat(900), n: 1 } }),
);
const LIMIT = 1 << 20;

function post(env, signal) {
  return benchPlugin(env).getEntrypoint().fetch("https://plugin.internal/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: record,
    signal,
  });
}

// The plugin behind an RPC method of a wrapper module that calls its fetch handler in
// the plugin's isolate: no Request or Response crosses between the isolates.
const WRAPPER = `import { WorkerEntrypoint } from "cloudflare:workers";
import plugin from "./plugin.js";
export default class extends WorkerEntrypoint {
  async call(bytes) {
    const r = await plugin.fetch(new Request("https://plugin.internal/", { method: "POST", body: bytes }), {}, this.ctx);
    return new Uint8Array(await r.arrayBuffer());
  }
}`;

function rpc(env) {
  const stub = env.LOADER.get("bench-plugin-rpc", () => ({
    compatibilityDate: "2026-07-30",
    mainModule: "wrapper.js",
    modules: { "wrapper.js": WRAPPER, "plugin.js": env.PLUGIN_JS },
    env: {},
    globalOutbound: null,
  }));
  return stub.getEntrypoint().call(record);
}

// The same bound through a BYOB reader: readAtLeast fills a 64 KiB buffer (doubling up to
// the limit) in one call per buffer instead of one read per chunk.
async function byob(response) {
  const reader = response.body.getReader({ mode: "byob" });
  let buffer = new Uint8Array(Math.min(LIMIT + 1, 65536));
  let got = 0;
  for (;;) {
    const { done, value } = await reader.readAtLeast(buffer.length - got, new Uint8Array(buffer.buffer, got));
    if (value) {
      buffer = new Uint8Array(value.buffer);
      got += value.byteLength;
    }
    if (done || got < buffer.length) break;
    if (got > LIMIT) throw new Error("over the limit");
    const bigger = new Uint8Array(Math.min(LIMIT + 1, buffer.length * 2));
    bigger.set(buffer);
    buffer = bigger;
  }
  return buffer.subarray(0, got);
}

const variants = {
  // The floor's call: the whole answer, however long, no timeout.
  bare: async (env) => new Uint8Array(await (await post(env)).arrayBuffer()),
  // loader.mjs's bounded read alone.
  bounded: async (env) => boundedBytes(await post(env), LIMIT),
  byob: async (env) => byob(await post(env)),
  timed: async (env) => new Uint8Array(await (await post(env, AbortSignal.timeout(5000))).arrayBuffer()),
  both: async (env) => boundedBytes(await post(env, AbortSignal.timeout(5000)), LIMIT),
  // What edgehook ships: src/plugins/loader.mjs (bounded read, abort signal, the module
  // list read from R2 when the isolate starts).
  shipped: async (env) =>
    (await callPlugin(env, "bench-plugin@shipped", "plugins/bench/", "plugin.js", '[{"name":"plugin.js","kind":"js"}]', record, LIMIT, 5000, 5000, "")).body,
  rpc,
};

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const call = variants[url.pathname.slice(1)];
    const n = Number(url.searchParams.get("n"));
    let bytes = 0;
    for (let i = 0; i < n; i++) bytes += (await call(env)).byteLength;
    return new Response(String(bytes));
  },
};
