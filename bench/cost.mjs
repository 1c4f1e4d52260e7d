// What accepted webhooks cost, per collector kind (issue 19 goal 4): the release build in
// workerd with its D1, queue producer and R2 bindings wrapped by counters, and the ingest
// consumer running. Each kind gets COST_N webhooks (default 2 000, about 2 minutes for
// the five kinds; the figures are scaled to 10 000) from 16 concurrent senders; once the consumer has written them all and the request counters have been
// flushed, every D1 statement (and the rows D1 reports written and read), queue message,
// R2 operation and consumer invocation is printed per 10 000 webhooks, with workerd's
// CPU and the cost per million at the list prices issue 19 gives (2026-12-02).
//
// What is counted is what edgehook asked its bindings for, from inside workerd; `rows
// written` is D1's own `meta.rows_written` (miniflare's D1 reports it as D1 bills it:
// each index a row touches counts too). Queue operations are 3 per message per 64 KB
// started, message size estimated by its JSON length (messages travel V8-serialised,
// close to JSON for these ASCII records). The CPU is that of the workerd this bench
// starts (edgehook, its consumer and miniflare's own D1/R2/queue simulation): an upper
// bound of edgehook's.
//
//   node bench/cost.mjs            # after bash scripts/build.sh; COST_N=10000 for the full count
import { Miniflare } from "miniflare";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { Webhook } from "standardwebhooks";
import { QUEUES, TEST_SECRETS, applyMigrations, hmacHex, root } from "../miniflare/harness.mjs";
import { PUBLIC_URL, edgehookOptions, jsonBody, loadConfig, workerdCpuMicros } from "./lib.mjs";
import path from "node:path";
import { createInterface } from "node:readline";

const N = Number(process.env.COST_N ?? 2_000);
const SENDERS = 16;
const PER = 10_000; // figures are printed per this many webhooks

// The wrappers log one JSON line per operation ({"cost": ...}); the bench reads stdout.
// Their classes carry the runtime's names so workers-rs accepts them.
const COUNTING_D1 = `
// The table a statement writes (or reads): the first named after INSERT INTO, UPDATE,
// DELETE FROM or FROM.
const table = (sql) => /(?:INSERT INTO|UPDATE|DELETE FROM|FROM)\\s+(\\w+)/i.exec(sql)?.[1] ?? "?";
const log = (sql, meta) => console.log(JSON.stringify({ cost: "d1", table: table(sql), written: meta?.rows_written ?? 0, read: meta?.rows_read ?? 0 }));
class D1PreparedStatement {
  constructor(inner, sql) { this.inner = inner; this.sql = sql; }
  bind(...values) { return new D1PreparedStatement(this.inner.bind(...values), this.sql); }
  async first(column) {
    const r = await this.inner.all();
    log(this.sql, r.meta);
    const row = r.results[0] ?? null;
    return column === undefined || row === null ? row : row[column];
  }
  async all() { const r = await this.inner.all(); log(this.sql, r.meta); return r; }
  async run() { const r = await this.inner.run(); log(this.sql, r.meta); return r; }
  async raw(options) { const r = await this.inner.raw(options); log(this.sql, null); return r; }
}
class D1Database {
  constructor(env) { this.inner = env.INNER_DB; }
  prepare(sql) { return new D1PreparedStatement(this.inner.prepare(sql), sql); }
  async batch(statements) {
    const rs = await this.inner.batch(statements.map((s) => s.inner));
    rs.forEach((r, i) => log(statements[i].sql, r.meta));
    return rs;
  }
  async exec(sql) { const r = await this.inner.exec(sql); log(sql, null); return r; }
}
export default function (env) { return new D1Database(env); }
`;

const COUNTING_QUEUE = `
const log = (messages, bytes) => console.log(JSON.stringify({ cost: "queue", messages, bytes }));
const size = (body) => { try { return JSON.stringify(body).length; } catch { return 0; } };
class WorkerQueue {
  constructor(env) { this.inner = env.INNER_QUEUE; }
  async send(body, options) { const r = await this.inner.send(body, options); log(1, [size(body)]); return r; }
  async sendBatch(messages, options) {
    const r = await this.inner.sendBatch(messages, options);
    log(messages.length, messages.map((m) => size(m.body)));
    return r;
  }
}
export default function (env) { return new WorkerQueue(env); }
`;

const COUNTING_R2 = `
const log = (op) => console.log(JSON.stringify({ cost: "r2", op }));
class R2Bucket {
  constructor(env) { this.inner = env.INNER_R2; }
  async put(...a) { const r = await this.inner.put(...a); log("put"); return r; }
  async get(...a) { const r = await this.inner.get(...a); log("get"); return r; }
  async head(...a) { const r = await this.inner.head(...a); log("head"); return r; }
  async delete(...a) { const r = await this.inner.delete(...a); log("delete"); return r; }
  async list(...a) { const r = await this.inner.list(...a); log("list"); return r; }
}
export default function (env) { return new R2Bucket(env); }
`;

// List prices as issue 19 gives them (2026-12-02), dollars per unit.
const PRICE = {
  request: 0.3e-6,
  cpuMs: 0.02e-6,
  queueOp: 0.4e-6,
  r2ClassA: 4.5e-6,
  r2ClassB: 0.36e-6,
  d1RowWritten: 1e-6,
  d1RowRead: 0.001e-6,
};

function counted(lines) {
  const c = { tables: {}, statements: 0, written: 0, read: 0, messages: 0, queueOps: 0, records: 0, put: 0, list: 0, get: 0, head: 0, delete: 0, batches: 0 };
  for (const l of lines) {
    if (!l.startsWith("{")) continue;
    let e;
    try {
      e = JSON.parse(l);
    } catch {
      continue;
    }
    if (e.cost === "d1") {
      c.statements++;
      c.written += e.written;
      const t = (c.tables[e.table] ??= { statements: 0, written: 0 });
      t.statements++;
      t.written += e.written;
      c.read += e.read;
    } else if (e.cost === "queue") {
      c.messages += e.messages;
      c.queueOps += e.bytes.reduce((n, b) => n + 3 * Math.max(1, Math.ceil(b / 65536)), 0);
    } else if (e.cost === "r2") {
      c[e.op]++;
    } else if (e.event === "ingest" && e.outcome === "received") {
      c.batches++;
      c.records += e.records;
    }
  }
  return c;
}

const { publicKey, privateKey } = await generateKeyPair("RS256");
const config = loadConfig();
config.collectors.push(
  { name: "bench-sw", auth: { scheme: "standard-webhooks", secrets: ["SW_SECRET"] } },
  { name: "bench-sw-sync", dedupe: "sync", auth: { scheme: "standard-webhooks", secrets: ["SW_SECRET"] } },
  { name: "bench-jwt", auth: { scheme: "jwt", keys: ["BENCH_JWT_RS256"], max_lifetime_secs: 3600 } },
);
config.public_url = PUBLIC_URL;
const secrets = { ...TEST_SECRETS, BENCH_JWT_RS256: JSON.stringify(await exportJWK(publicKey)) };

const logs = [];
// edgehook's own options, its D1, INGEST and R2 bindings replaced by the counters.
const { d1Databases, r2Buckets, handleRuntimeStdio, ...edgehook } = edgehookOptions(path.join(root, "build/index.js"), { config, secrets });
const mf = new Miniflare({
  workers: [
    {
      ...edgehook,
      queueProducers: { DELIVERIES: QUEUES.deliveries },
      queueConsumers: { [QUEUES.ingest]: { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 3 } },
      wrappedBindings: {
        DB: { scriptName: "counting-d1" },
        INGEST: { scriptName: "counting-queue" },
        ARCHIVE: { scriptName: "counting-r2" },
      },
    },
    { name: "counting-d1", modules: [{ type: "ESModule", path: "d1.mjs", contents: COUNTING_D1 }], d1Databases: { INNER_DB: d1Databases.DB } },
    { name: "counting-queue", modules: [{ type: "ESModule", path: "q.mjs", contents: COUNTING_QUEUE }], queueProducers: { INNER_QUEUE: QUEUES.ingest } },
    { name: "counting-r2", modules: [{ type: "ESModule", path: "r2.mjs", contents: COUNTING_R2 }], r2Buckets: { INNER_R2: r2Buckets.ARCHIVE } },
  ],
  handleRuntimeStdio: (stdout, stderr) => {
    createInterface({ input: stdout }).on("line", (line) => logs.push(line));
    stderr.resume();
  },
});
await mf.ready;
const db = await mf.getD1Database("INNER_DB", "counting-d1");
await applyMigrations(db);
const fetch = (p, init) => mf.dispatchFetch(`${PUBLIC_URL}${p}`, init);

// An API key for `scraper` (scope "scrape"), made before anything is counted.
const made = await fetch("/admin/keys", {
  method: "POST",
  headers: { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" },
  body: JSON.stringify({ name: "bench", scopes: ["scrape"] }),
});
const apiKey = (await made.json()).key;
if (!apiKey) throw new Error(`no API key: ${made.status}`);
const jwt = await new SignJWT({ sub: "bench" })
  .setProtectedHeader({ alg: "RS256", typ: "JWT" })
  .setIssuer(`${PUBLIC_URL}/hooks/bench-jwt`)
  .setAudience(`${PUBLIC_URL}/hooks/bench-jwt`)
  .setIssuedAt()
  .setExpirationTime("50m")
  .sign(privateKey);
const wh = new Webhook(TEST_SECRETS.SW_SECRET);

/** The request of webhook `n` to `collector`, signed as `kind` needs: 1 KiB of JSON. */
function request(kind, collector, n) {
  const body = jsonBody(1024).replace('"id":12345', `"id":${n}`);
  const headers = { "content-type": "application/json" };
  if (kind === "hmac") headers.authorization = `HMAC-SHA256 ${hmacHex(TEST_SECRETS.AMO_KEY, body)}`;
  if (kind === "api-key") headers["x-apikey"] = apiKey;
  if (kind === "jwt") headers.authorization = `Bearer ${jwt}`;
  if (kind.startsWith("standard-webhooks")) {
    const id = `msg_bench_${collector}_${n}`;
    const at = new Date();
    headers["webhook-id"] = id;
    headers["webhook-timestamp"] = String(Math.floor(at.getTime() / 1000));
    headers["webhook-signature"] = wh.sign(id, at, body);
  }
  return { method: "POST", headers, body };
}

// [label, collector, how its requests are signed]
const KINDS = [
  ["hmac", "amo", "hmac"],
  ["standard-webhooks, id, dedupe async", "bench-sw", "standard-webhooks"],
  ["standard-webhooks, id, dedupe sync", "bench-sw-sync", "standard-webhooks"],
  ["api-key", "scraper", "api-key"],
  ["jwt (RS256)", "bench-jwt", "jwt"],
];

const row = (...cells) => console.log(`| ${cells.join(" | ")} |`);
const per = (x) => ((x * PER) / N).toFixed(0);
console.log(`\nCost per ${PER.toLocaleString("en")} webhooks (COST_N=${N} each, ${SENDERS} senders, 1 KiB), counted at the bindings; prices of 2026-12-02\n`);
row("collector", "D1 statements", "D1 rows written", "queue messages (ops)", "R2 class A (puts, lists)", "consumer invocations", "workerd CPU ms/webhook", "$ per million");
row("---", "---", "---", "---", "---", "---", "---", "---");
const out = {};
try {
  for (const [kind, collector, signer] of KINDS) {
    const mark = logs.length;
    const cpu0 = workerdCpuMicros(process.pid);
    let next = 0;
    const sender = async () => {
      for (;;) {
        const n = next++;
        if (n >= N) return;
        const r = await fetch(`/hooks/${collector}`, request(signer, collector, n));
        if (r.status !== 202) throw new Error(`${kind} #${n}: ${r.status} ${await r.text()}`);
        await r.arrayBuffer().catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, sender));
    const deadline = Date.now() + 300_000;
    for (;;) {
      const row = await db.prepare("SELECT COALESCE(SUM(records), 0) AS n FROM batches WHERE collector = ?1").bind(collector).first();
      if (row.n >= N) break;
      if (Date.now() > deadline) throw new Error(`${kind}: ${row.n} of ${N} written`);
      await new Promise((r) => setTimeout(r, 200));
    }
    // The request counters go to D1 at most 10 s after the first count (src/metrics.rs).
    await new Promise((r) => setTimeout(r, 11_000));
    const cpuMs = (workerdCpuMicros(process.pid) - cpu0) / 1000 / N;
    const c = counted(logs.slice(mark));
    const requests = N + c.batches;
    const dollars =
      (requests * PRICE.request + cpuMs * N * PRICE.cpuMs + c.queueOps * PRICE.queueOp + (c.put + c.list) * PRICE.r2ClassA +
        (c.get + c.head) * PRICE.r2ClassB + c.written * PRICE.d1RowWritten + c.read * PRICE.d1RowRead) *
      (1e6 / N);
    out[kind] = { ...c, cpuMs, dollars };
    row(
      `${kind} (\`${collector}\`)`,
      per(c.statements),
      per(c.written),
      `${per(c.messages)} (${per(c.queueOps)})`,
      `${per(c.put + c.list)} (${per(c.put)}, ${per(c.list)})`,
      per(c.batches),
      cpuMs.toFixed(2),
      `$${dollars.toFixed(2)}`,
    );
  }
} finally {
  await mf.dispose();
}
const breakdown = (kind) => {
  const c = out[kind];
  if (!c) return "";
  const m = 1e6 / N;
  const parts = [
    ["Workers requests", (N + c.batches) * PRICE.request * m],
    ["CPU", c.cpuMs * N * PRICE.cpuMs * m],
    ["queue", c.queueOps * PRICE.queueOp * m],
    ["R2", ((c.put + c.list) * PRICE.r2ClassA + (c.get + c.head) * PRICE.r2ClassB) * m],
    ["D1", (c.written * PRICE.d1RowWritten + c.read * PRICE.d1RowRead) * m],
  ];
  const tables = Object.entries(c.tables)
    .filter(([, t]) => t.written > 0)
    .map(([name, t]) => `${name} ${((t.written * PER) / N).toFixed(0)} rows in ${((t.statements * PER) / N).toFixed(0)} statements`)
    .join(", ");
  return `${parts.map(([k, v]) => `${k} $${v.toFixed(3)}`).join(", ")}; D1 rows written per ${PER.toLocaleString("en")}: ${tables}`;
};
console.log("");
for (const kind of Object.keys(out)) console.log(`- ${kind}: ${breakdown(kind)}`);
const goal = (kind, target) => out[kind] && console.log(`- goal ${kind} ≤ $${target.toFixed(2)} per million: ${out[kind].dollars <= target ? "met" : "missed"} ($${out[kind].dollars.toFixed(2)})`);
goal("hmac", 0.4);
goal("standard-webhooks, id, dedupe async", 0.6);
