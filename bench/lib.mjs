// Shared by bench/ab.mjs and bench/profile.mjs: a worker under test in its own workerd,
// with the test config's collectors (no plugin steps) and a signed 1 KiB (or KIB=n) body.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { QUEUES, TEST_SECRETS, hmacHex, testConfig } from "../miniflare/harness.mjs";

/** The body (about `KIB` KiB of JSON) in a temp file, and the headers that sign it for `amo`. */
export function signedBody() {
  const body = `{"event":"bench","id":12345,"data":"${"x".repeat(Number(process.env.KIB ?? 1) * 1024 - 40)}"}`;
  const file = path.join(tmpdir(), `edgehook-bench-${process.pid}.json`);
  writeFileSync(file, body);
  const headers = { "content-type": "application/json", authorization: `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}` };
  return { file, headers };
}

/** Miniflare options for `target` (a worker-build directory ending in `/`, or a module script). */
export function workerOptions(target, name, extra = {}) {
  const config = testConfig({ public_url: "http://127.0.0.1" });
  config.collectors = config.collectors.filter((c) => !(c.steps || []).some((s) => s.kind === "plugin"));
  for (const c of config.collectors) if (c.name === "amo") c.max_body_bytes = 1 << 20;
  const scriptPath = target.endsWith("/") ? path.resolve(target, "index.js") : path.resolve(target);
  return {
    name,
    modules: true,
    scriptPath,
    modulesRoot: path.dirname(scriptPath),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: "2026-07-30",
    bindings: { EDGEHOOK_ENV: "bench", EDGEHOOK_CONFIG: config, ...TEST_SECRETS },
    d1Databases: { DB: "edgehook-db" },
    r2Buckets: { ARCHIVE: "edgehook-archive" },
    queueProducers: { INGEST: QUEUES.ingest, DELIVERIES: QUEUES.deliveries },
    handleRuntimeStdio: (stdout, stderr) => { stdout.resume(); stderr.resume(); },
    host: "127.0.0.1",
    port: 0,
    ...extra,
  };
}

/** autocannon's arguments for a 10-connection POST of `body` to `url` for `seconds`. */
export function autocannonArgs(root, url, body, seconds) {
  const args = [path.join(root, "node_modules/autocannon/autocannon.js"), "-j", "-n", "-c", "10", "-d", String(seconds), "-m", "POST", "-i", body.file];
  for (const [k, v] of Object.entries(body.headers)) args.push("-H", `${k}=${v}`);
  args.push(url);
  return args;
}
