#!/usr/bin/env node
// The admin API from a shell. Reads EDGEHOOK_URL (default http://127.0.0.1:8787) and
// EDGEHOOK_ADMIN_TOKEN; prints the JSON answer; exits 1 with the error on failure.
//
//   node scripts/admin.mjs keys issue --name N [--email E] [--scopes a,b] [--ttl-days 30]
//   node scripts/admin.mjs keys list
//   node scripts/admin.mjs keys revoke <id>
//   node scripts/admin.mjs subscribe --name N --url https://... --events a,b [--api-key K] [--header 'K: V']...
//     instead of --url, a binding listed in dispatch.destinations (docs/DISPATCH.md):
//     --queue BINDING | --r2 BINDING [--prefix P] | --service BINDING [--path /P]
//   node scripts/admin.mjs stats [--hours 24]
//   node scripts/admin.mjs batches [--collector C] [--limit 50]
import { parseArgs, fail } from "./lib/args.mjs";

let args;
try {
  args = parseArgs(process.argv.slice(2), { multi: ["header"] });
} catch (e) {
  fail(e.message);
}
const base = (args.baseUrl ?? process.env.EDGEHOOK_URL ?? "http://127.0.0.1:8787").replace(/\/+$/, "");
const token = process.env.EDGEHOOK_ADMIN_TOKEN;
if (!token) fail("set EDGEHOOK_ADMIN_TOKEN to the ADMIN_TOKEN secret");
const list = (s) => (s ? String(s).split(",").map((x) => x.trim()).filter(Boolean) : undefined);

async function call(method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
  process.exit(r.ok ? 0 : 1);
}

const [command, sub, id] = args._;
if (command === "keys" && sub === "issue") {
  if (!args.name) fail("--name is required");
  await call("POST", "/admin/keys", {
    name: args.name,
    ...(args.email ? { email: args.email } : {}),
    ...(args.scopes ? { scopes: list(args.scopes) } : {}),
    ...(args.ttlDays ? { ttl_days: Number(args.ttlDays) } : {}),
  });
} else if (command === "keys" && sub === "list") {
  await call("GET", "/admin/keys");
} else if (command === "keys" && sub === "revoke") {
  if (!id) fail("usage: keys revoke <id>");
  await call("DELETE", `/admin/keys/${encodeURIComponent(id)}`);
} else if (command === "subscribe") {
  const kinds = ["queue", "r2", "service"].filter((k) => args[k]);
  const targets = kinds.length + (args.url ? 1 : 0);
  if (!args.name || !args.events || targets !== 1) {
    fail("--name, --events and one of --url, --queue, --r2, --service are required");
  }
  const destination = kinds.length
    ? {
        kind: kinds[0],
        binding: args[kinds[0]],
        ...(args.prefix ? { prefix: args.prefix } : {}),
        ...(args.path ? { path: args.path } : {}),
      }
    : undefined;
  const headers = {};
  for (const h of args.header ?? []) {
    const i = h.indexOf(":");
    if (i < 1) fail(`--header ${h}: expected 'Name: value'`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  await call("POST", "/admin/subscriptions", {
    name: args.name,
    ...(destination ? { destination } : { url: args.url }),
    events: list(args.events),
    ...(args.apiKey ? { api_key: args.apiKey } : {}),
    ...(Object.keys(headers).length ? { headers } : {}),
  });
} else if (command === "stats") {
  await call("GET", `/admin/stats${args.hours ? `?hours=${encodeURIComponent(args.hours)}` : ""}`);
} else if (command === "batches") {
  const q = new URLSearchParams();
  if (args.collector) q.set("collector", args.collector);
  if (args.limit) q.set("limit", args.limit);
  await call("GET", `/admin/batches${q.size ? "?" + q : ""}`);
} else {
  fail("usage: node scripts/admin.mjs keys issue|list|revoke, subscribe, stats, batches (see the header of this file)");
}
