// Runs one plugin version in its own isolate through the Worker Loader binding (LOADER).
// The isolate id is `<name>@<version>`: the runtime loads a version once and keeps it
// warm, calling the code callback (R2 reads) only when it starts the isolate. The loaded
// Worker gets no bindings, no network (`globalOutbound: null`) unless the config grants
// the plugin hosts (then every fetch() it makes goes to edgehook's own fetch entry with
// props naming the plugin, which checks it: src/outbound/egress.rs; the isolate id then
// ends in `+net`), and, on Cloudflare, at most CPU_MS of CPU per call (workerd running
// locally does not enforce CPU limits; the step's timeout still bounds the wait).
import { exports } from "cloudflare:workers";

const COMPATIBILITY_DATE = "2026-07-30";
const CPU_MS = 100;

async function code(bucket, prefix, main, modules, egressFor) {
  const entries = await Promise.all(
    modules.map(async (m) => {
      const object = await bucket.get(prefix + m.name);
      if (object === null) throw new Error(`module ${m.name} of the plugin is missing from R2`);
      return [m.name, m.kind === "wasm" ? { wasm: await object.arrayBuffer() } : { js: await object.text() }];
    }),
  );
  return {
    compatibilityDate: COMPATIBILITY_DATE,
    mainModule: main,
    modules: Object.fromEntries(entries),
    env: {},
    globalOutbound: egressFor ? exports.default({ props: { plugin_egress: egressFor } }) : null,
    limits: { cpuMs: CPU_MS },
  };
}

// Reads at most `limit` bytes of the answer; more is an error, never buffered whole.
export async function boundedBytes(response, limit) {
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`the plugin's answer is over ${limit} bytes`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return all;
}

function binding(env, name) {
  const b = env[name];
  if (b == null) throw new Error(`the worker has no ${name} binding`);
  return b;
}

/**
 * POSTs `body` (bytes) to the plugin version's isolate (through `env`'s LOADER, its
 * modules read from ARCHIVE when the runtime starts it); resolves to `{status, body}`, the
 * answer's bytes, or rejects with "no answer within `timeoutMs` ms" when the answer is
 * not all in after `leftMs` (what the step's `timeoutMs` leaves after the version's
 * lookup). The abort signal cuts off a plugin that waits; one that spins holds up this
 * thread (workerd locally runs the loaded isolate on it), so a late answer is refused
 * once it is in.
 */
export async function callPlugin(env, id, prefix, main, modulesJson, body, limit, leftMs, timeoutMs, egressFor) {
  const started = Date.now();
  const loader = binding(env, "LOADER");
  const bucket = binding(env, "ARCHIVE");
  const late = () => new Error(`no answer within ${timeoutMs} ms`);
  try {
    // The module list is read only when the runtime starts the isolate.
    const stub = loader.get(id, () => code(bucket, prefix, main, JSON.parse(modulesJson), egressFor));
    const response = await stub.getEntrypoint().fetch("https://plugin.internal/", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      signal: AbortSignal.timeout(leftMs),
    });
    const bytes = await boundedBytes(response, limit);
    if (Date.now() - started > leftMs) throw late();
    return { status: response.status, body: bytes };
  } catch (e) {
    throw e?.name === "TimeoutError" ? late() : e;
  }
}

/** Sends a granted plugin's request on as it is; a redirect comes back to the plugin,
 * whose runtime follows it through edgehook again. */
export function forwardEgress(request) {
  return fetch(request, { redirect: "manual" });
}
