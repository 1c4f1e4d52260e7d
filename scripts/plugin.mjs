#!/usr/bin/env node
// Build, upload, activate and try edgehook plugins (docs/PLUGINS.md).
//
//   node scripts/plugin.mjs build <dir>...               a Rust crate (SDK) → build/plugins/<dir>.wasm,
//                                                        a folder of .js/.mjs/.wasm → build/plugins/<dir>.json
//   node scripts/plugin.mjs upload <name> <file> [--activate]   PUT /admin/plugins/<name> (.wasm or .json)
//   node scripts/plugin.mjs activate <name> <version>    POST /admin/plugins/<name>/activate
//   node scripts/plugin.mjs test <file> [--record JSON|@file] [--collector C]
//                                                        runs the plugin locally, in workerd through a Worker
//                                                        Loader exactly as edgehook does, and prints its answer
//
// upload and activate read EDGEHOOK_URL (default http://127.0.0.1:8787) and
// EDGEHOOK_ADMIN_TOKEN, print the JSON answer and exit 1 on an error answer.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, fail, valueOrFile } from "./lib/args.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// The main module edgehook adds to an SDK-built .wasm (src/plugins/bundle.rs includes it).
export const GLUE = readFileSync(path.join(root, "src/plugins/glue.js"), "utf8");

/** A plugin file as the bundle edgehook makes of it: {main, modules: {name: Uint8Array}}. */
export function bundleOf(file) {
  const bytes = readFileSync(file);
  if (file.endsWith(".wasm")) {
    return { main: "main.js", modules: { "main.js": Buffer.from(GLUE), "plugin.wasm": bytes } };
  }
  const wire = JSON.parse(bytes.toString("utf8"));
  const modules = Object.fromEntries(Object.entries(wire.modules).map(([n, b64]) => [n, Buffer.from(b64, "base64")]));
  const js = Object.keys(modules).filter((n) => /\.m?js$/.test(n));
  return { main: wire.main ?? (js.length === 1 ? js[0] : undefined), modules };
}

/** Builds a plugin folder; returns the file written. */
function build(dir) {
  const name = path.basename(path.resolve(dir));
  const out = path.join(root, "build/plugins");
  mkdirSync(out, { recursive: true });
  const manifest = path.join(dir, "Cargo.toml");
  if (existsSync(manifest)) {
    const pkg = /^name\s*=\s*"([^"]+)"/m.exec(readFileSync(manifest, "utf8"))?.[1];
    if (!pkg) fail(`${manifest} names no package`);
    execFileSync("cargo", ["build", "--release", "--target", "wasm32-unknown-unknown", "-p", pkg], { cwd: root, stdio: "inherit" });
    const built = path.join(root, "target/wasm32-unknown-unknown/release", `${pkg.replaceAll("-", "_")}.wasm`);
    const file = path.join(out, `${name}.wasm`);
    writeFileSync(file, readFileSync(built));
    return file;
  }
  const modules = {};
  for (const f of readdirSync(dir).filter((f) => /\.(m?js|wasm)$/.test(f)).sort()) {
    modules[f] = readFileSync(path.join(dir, f)).toString("base64");
  }
  if (Object.keys(modules).length === 0) fail(`${dir} has no Cargo.toml and no .js/.mjs/.wasm modules`);
  const file = path.join(out, `${name}.json`);
  writeFileSync(file, JSON.stringify({ modules }));
  return file;
}

async function admin(method, pathname, body, contentType) {
  const base = (process.env.EDGEHOOK_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
  const token = process.env.EDGEHOOK_ADMIN_TOKEN;
  if (!token) fail("set EDGEHOOK_ADMIN_TOKEN to the ADMIN_TOKEN secret");
  const r = await fetch(base + pathname, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(contentType ? { "content-type": contentType } : {}) },
    body,
  });
  const text = await r.text();
  if (!r.ok) {
    process.stdout.write(text + "\n");
    process.exit(1);
  }
  return JSON.parse(text);
}

// The host worker of `test`: loads the bundle with no network and no bindings, as
// edgehook's loader.mjs does, and posts the plugin message to it.
const HOST = `
export default {
  async fetch(request, env) {
    const { main, modules, message } = await request.json();
    const decoded = {};
    for (const [name, b64] of Object.entries(modules)) {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      decoded[name] = name.endsWith(".wasm") ? { wasm: bytes } : { js: new TextDecoder().decode(bytes) };
    }
    const worker = env.LOADER.load({ compatibilityDate: "2026-07-30", mainModule: main, modules: decoded, env: {}, globalOutbound: null });
    const answer = await worker.getEntrypoint().fetch("https://plugin.internal/", {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(message),
    });
    return Response.json({ status: answer.status, body: await answer.text() });
  },
};`;

/** Runs `file` on `record` in workerd; resolves to {status, body}. */
export async function runLocally(file, record, collector = "test") {
  const { Miniflare } = await import("miniflare");
  const bundle = bundleOf(file);
  const mf = new Miniflare({
    modules: [{ type: "ESModule", path: "host.mjs", contents: HOST }],
    compatibilityDate: "2026-07-30",
    workerLoaders: { LOADER: {} },
  });
  try {
    const modules = Object.fromEntries(Object.entries(bundle.modules).map(([n, b]) => [n, Buffer.from(b).toString("base64")]));
    const message = { type: "record", collector, record };
    const r = await mf.dispatchFetch("http://host/", { method: "POST", body: JSON.stringify({ main: bundle.main, modules, message }) });
    return await r.json();
  } finally {
    await mf.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2), { flags: ["activate"] });
  } catch (e) {
    fail(e.message);
  }
  const [command, ...rest] = args._;
  if (command === "build") {
    if (rest.length === 0) fail("build <dir>...");
    for (const dir of rest) console.log(build(dir));
  } else if (command === "upload") {
    const [name, file] = rest;
    if (!name || !file) fail("upload <name> <file.wasm|file.json> [--activate]");
    const type = file.endsWith(".wasm") ? "application/wasm" : "application/json";
    let version = await admin("PUT", `/admin/plugins/${name}`, readFileSync(file), type);
    if (args.activate) version = await admin("POST", `/admin/plugins/${name}/activate`, JSON.stringify({ version: version.version }), "application/json");
    console.log(JSON.stringify(version, null, 2));
  } else if (command === "activate") {
    const [name, version] = rest;
    if (!name || !version) fail("activate <name> <version>");
    console.log(JSON.stringify(await admin("POST", `/admin/plugins/${name}/activate`, JSON.stringify({ version }), "application/json"), null, 2));
  } else if (command === "test") {
    const [file] = rest;
    if (!file) fail("test <file.wasm|file.json> [--record JSON|@file] [--collector C]");
    const record = JSON.parse((await valueOrFile(args.record)) ?? "{}");
    const answer = await runLocally(file, record, args.collector);
    let body = answer.body;
    try {
      body = JSON.parse(body);
    } catch {}
    console.log(JSON.stringify({ status: answer.status, answer: body }, null, 2));
  } else {
    fail("usage: plugin.mjs build | upload | activate | test (see the top of scripts/plugin.mjs)");
  }
}
