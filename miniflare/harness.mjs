// Starts the built worker (build/index.js + index_bg.wasm) in miniflare/workerd with D1
// (migrations applied), Queues and R2, and offers the helpers every flow test needs.
import { Miniflare } from "miniflare";
import { createHmac } from "node:crypto";
import http from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export const QUEUES = {
  ingest: "edgehook-ingest",
  deliveries: "edgehook-deliveries",
  ingestDlq: "edgehook-ingest-dlq",
  deliveriesDlq: "edgehook-deliveries-dlq",
  // A subscription's destination (docs/DISPATCH.md#destinations-beyond-http), consumed by
  // the hook-service worker below, never by edgehook.
  eventsOut: "edgehook-events-out",
};

/** The bindings subscriptions may deliver to in the tests (and wrangler.toml's dev config). */
export const DESTINATIONS = { EVENTS_OUT: "queue", DELIVERY_BUCKET: "r2", HOOK_SERVICE: "service" };

/** The config the flow tests run with: one collector per scheme they exercise. */
export function testConfig(overrides = {}) {
  return {
    public_url: "http://edgehook.test",
    collectors: [
      { name: "amo", max_body_bytes: 4096, auth: { scheme: "hmac", secrets: ["AMO_KEY", "AMO_KEY_OLD"] } },
      // "open" and "sw" check webhook ids before answering (200 duplicate); "once" and
      // every other collector leave it to the ingest consumer (the default).
      { name: "open", format: "request", dedupe: "sync", auth: { scheme: "none" } },
      { name: "once", format: "request", auth: { scheme: "none" } },
      { name: "big", max_body_bytes: 6 * 1024 * 1024, auth: { scheme: "none" } },
      {
        name: "portal",
        auth: { scheme: "jwt", keys: ["JWT_RS256", "JWT_ES256", "JWT_EDDSA", "JWT_HS256"], max_lifetime_secs: 3600 },
      },
      { name: "scraper", auth: { scheme: "api-key", scope: "scrape" } },
      { name: "gh", auth: { scheme: "github", secrets: ["GH_SECRET"] } },
      { name: "sw", dedupe: "sync", auth: { scheme: "standard-webhooks", secrets: ["SW_SECRET"] } },
      { name: "stripe", auth: { scheme: "stripe", secrets: ["STRIPE_SECRET"] } },
      { name: "ashirt", auth: { scheme: "ashirt", keys: [{ access_key: "P4qRS5sa346iHWZBB53qzzNm", secret: "ASHIRT_SECRET" }] } },
      { name: "sw-ed", auth: { scheme: "standard-webhooks", secrets: ["SW_SECRET"], public_keys: ["SW_PUBLIC_KEY"] } },
      // Psoxy's example: the token's sub must match query, path and payload; emails pseudonymized.
      {
        name: "psoxy",
        format: "request",
        auth: { scheme: "jwt", keys: ["JWT_HS256"], max_lifetime_secs: 3600 },
        steps: [
          {
            kind: "verify-claims",
            path_template: "/users/{userId}",
            claims: { sub: { query: "userId", path: "userId", payload: "$.user_id" } },
          },
          {
            kind: "pseudonymize",
            paths: ["$.employeeEmail", "$.managerEmail"],
            query: ["email"],
            path_template: "/users/{userId}",
            path_params: ["userId"],
            salt: "PSEUDONYM_SALT",
          },
        ],
      },
      // A second source sharing the salt: the same email gives the same pseudonym.
      { name: "hr", auth: { scheme: "none" }, steps: [{ kind: "pseudonymize", paths: ["$..email"], salt: "PSEUDONYM_SALT" }] },
      {
        name: "bulk",
        max_body_bytes: 6 * 1024 * 1024,
        auth: { scheme: "none" },
        steps: [{ kind: "pseudonymize", paths: ["$..email"], salt: "PSEUDONYM_SALT" }],
      },
      {
        name: "sieve",
        auth: { scheme: "none" },
        steps: [
          { kind: "filter", when: { payload: { "$.type": { exists: true } } } },
          { kind: "filter", on_mismatch: "drop", when: { payload: { "$.type": { matches: "^order\\." } } } },
          { kind: "redact", paths: ["$.card", "$.items[*].secret"] },
        ],
      },
      { name: "scanned", auth: { scheme: "none" }, steps: [{ kind: "plugin", binding: "SCANNER", timeout_ms: 500 }] },
      {
        name: "scanned-pass",
        auth: { scheme: "none" },
        steps: [{ kind: "plugin", binding: "SCANNER", timeout_ms: 500, on_error: "pass" }],
      },
      { name: "packed", auth: { scheme: "none" }, compress: true, keep_original: true },
      // GitProxy's push policies as filters (docs/STEPS.md#filter).
      {
        name: "policy",
        auth: { scheme: "none" },
        steps: [
          { kind: "filter", when: { payload: { "$.repository.full_name": { in: { secret: "ALLOWED_REPOS" } } } } },
          {
            kind: "filter",
            on_match: "reject",
            when: {
              any: [
                { payload: { "$.commits[*].message": { contains: ["password", "DO NOT MERGE"] } } },
                { payload: { "$.commits[*].message": { matches: "(?i)\\bssn\\b\\s*[:=]?\\s*\\d{3}-?\\d{2}-?\\d{4}" } } },
                { payload: { "$.commits[*].author.email": { not_matches: "@(corp\\.example|partner\\.example)$" } } },
                { payload: { "$.commits[*].author.email": { matches: "^(root|admin)@" } } },
              ],
            },
          },
          { kind: "filter", on_match: "drop", when: { payload: { "$.ref": { matches: "^refs/heads/(wip|tmp)/" } } } },
        ],
      },
      { name: "leaky", auth: { scheme: "none" }, steps: [{ kind: "scan-secrets", allow: ["AKIAIOSFODNN7EXAMPLE"] }] },
      { name: "leaky-redact", format: "request", auth: { scheme: "none" }, steps: [{ kind: "scan-secrets", action: "redact" }] },
      { name: "leaky-flag", auth: { scheme: "none" }, steps: [{ kind: "scan-secrets", action: "flag" }] },
      {
        name: "schema",
        auth: { scheme: "none" },
        steps: [
          {
            kind: "validate",
            schema: {
              type: "object",
              required: ["id", "amount"],
              properties: { id: { type: "string" }, amount: { type: "number", minimum: 0 } },
            },
          },
        ],
      },
      { name: "schema-var", auth: { scheme: "none" }, steps: [{ kind: "validate", schema_from: "ORDER_SCHEMA" }] },
    ],
    ...overrides,
  };
}

// Public halves of the RFC 7515 A.1–A.3 / RFC 8037 A.4 keys (tests/vectors/jwt.json).
const JWT_VECTORS = JSON.parse(readFileSync(path.join(root, "tests/vectors/jwt.json"), "utf8")).cases;
const jwkOf = (alg) => JSON.stringify(JWT_VECTORS.find((c) => c.alg === alg).key);

export const TEST_SECRETS = {
  AMO_KEY: "amo-test-key",
  AMO_KEY_OLD: "amo-old-key",
  ADMIN_TOKEN: "test-admin-token",
  JWT_RS256: jwkOf("RS256"),
  JWT_ES256: jwkOf("ES256"),
  JWT_EDDSA: jwkOf("EdDSA"),
  JWT_HS256: jwkOf("HS256"),
  GH_SECRET: "It's a Secret to Everybody",
  SW_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  STRIPE_SECRET: "whsec_stripe_test_secret",
  // AShirt's documented example secret key (shared/reference/003).
  ASHIRT_SECRET: "DuvC7Wzpnsa2vtnOYw0RPGWeSdVB5L2L++PLpwGNb5yPQW47BoT5sohaMknU6Sh6a+0d/8dMh+wBEa2IPMMcNQ==",
  // RFC 8032 section 7.1 TEST 1 Ed25519 public key, for Standard Webhooks v1a.
  SW_PUBLIC_KEY: "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
  PSEUDONYM_SALT: "test-pseudonym-salt",
  // The filter's allow list of repositories (a JSON array in a secret).
  ALLOWED_REPOS: JSON.stringify(["acme/site", "acme/docs"]),
  // The schema of the schema-var collector's validate step.
  ORDER_SCHEMA: JSON.stringify({
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    required: ["items"],
    properties: { items: { type: "array", items: { type: "object", required: ["sku"], properties: { qty: { type: "integer", minimum: 1 } } } } },
  }),
  // base64 of 32 bytes: seals subscription secrets in D1.
  MASTER_KEY: "dGVzdC1tYXN0ZXIta2V5LTMyLWJ5dGVzLWxvbmchISE=",
};

// The plugin Worker bound as SCANNER: answers by the record's `action` field, the AShirt way.
export const SCANNER_PLUGIN = `
export default {
  async fetch(request) {
    const message = await request.json();
    const record = message.record;
    switch (record.action) {
      case "rewrite":
        return Response.json({ action: "processed", content: { ...record, rewritten: true, by: message.collector, type: message.type } });
      case "reject":
        return new Response(null, { status: 406 });
      case "slow":
        await new Promise((r) => setTimeout(r, 2000));
        return Response.json({ action: "deferred" });
      case "fail":
        return Response.json({ action: "error", content: "scanner exploded" });
      default:
        return new Response(null, { status: 202 });
    }
  },
};
`;

// A stand-in for the ARCHIVE bucket that fails its first FAIL_PUTS puts, then behaves
// like the real bucket it wraps. Its class is named R2Bucket so workers-rs accepts it.
const FAULTY_R2 = `
let failuresLeft = null;
class R2Bucket {
  constructor(env) { this.env = env; if (failuresLeft === null) failuresLeft = Number(env.FAIL_PUTS); }
  async put(key, value, options) {
    if (failuresLeft > 0) { failuresLeft--; throw new Error("injected R2 put failure"); }
    return this.env.INNER.put(key, value, options);
  }
  get(...a) { return this.env.INNER.get(...a); }
  head(...a) { return this.env.INNER.head(...a); }
  delete(...a) { return this.env.INNER.delete(...a); }
  list(...a) { return this.env.INNER.list(...a); }
}
export default function (env) { return new R2Bucket(env); }
`;

// A stand-in for an Analytics Engine dataset that records each data point in the D1
// table `ae_points` (created by the test), so tests can read what the worker wrote.
const AE_RECORDER = `
class AnalyticsEngineDataset {
  constructor(env) { this.env = env; }
  writeDataPoint(point) {
    this.env.DB.prepare("INSERT INTO ae_points (point) VALUES (?1)").bind(JSON.stringify(point)).run();
  }
}
export default function (env) { return new AnalyticsEngineDataset(env); }
`;

// A stand-in for the INGEST producer that refuses its first FAIL_SENDS calls (send or
// sendBatch, a whole batch at once), then sends to the real queue; with HOLD_FIRST_MS it
// answers its first call only after that long, logging when it starts holding it. It logs
// each call it refuses. Its class is
// named WorkerQueue so workers-rs accepts it.
const FAULTY_QUEUE = `
let failuresLeft = null;
let calls = 0;
class WorkerQueue {
  constructor(env) { this.env = env; if (failuresLeft === null) failuresLeft = Number(env.FAIL_SENDS); }
  async refuse(call, messages, records = messages) {
    calls++;
    if (calls === 1 && Number(this.env.HOLD_FIRST_MS) > 0) {
      console.log(JSON.stringify({ event: "faulty_queue_held", call, messages, records }));
      await new Promise((r) => setTimeout(r, Number(this.env.HOLD_FIRST_MS)));
    }
    if (failuresLeft > 0) {
      failuresLeft--;
      console.log(JSON.stringify({ event: "faulty_queue", call, messages, records, refused: true }));
      throw new Error("injected queue send failure");
    }
  }
  async send(body, options) { await this.refuse("send", 1, Array.isArray(body) ? body.length : 1); return this.env.INNER_QUEUE.send(body, options); }
  async sendBatch(messages, options) { await this.refuse("sendBatch", messages.length); return this.env.INNER_QUEUE.sendBatch(messages, options); }
}
export default function (env) { return new WorkerQueue(env); }
`;

// The Worker bound as HOOK_SERVICE (a service-binding destination) and consuming the
// EVENTS_OUT queue (a queue destination): examples/hook-service/index.mjs, which scripts/dev.sh
// runs too. GET /__received lists what it got; as a service it answers by path
// (/fail-first/N, /fail-always, else 204).
export const HOOK_SERVICE_WORKER = readFileSync(path.join(root, "examples/hook-service/index.mjs"), "utf8");

// A stand-in for the DB binding whose every query fails, as when D1 is unreachable. Its
// class is named D1Database so workers-rs accepts it.
const FAILING_D1 = `
const fail = () => Promise.reject(new Error("injected D1 failure"));
class Statement {
  bind() { return this; }
  first() { return fail(); }
  all() { return fail(); }
  run() { return fail(); }
  raw() { return fail(); }
}
class D1Database {
  prepare() { return new Statement(); }
  batch() { return fail(); }
  exec() { return fail(); }
}
export default function () { return new D1Database(); }
`;

/**
 * Starts edgehook. Options: `config` (object or string), `secrets`, `autoConsume`
 * (let miniflare deliver queue batches by itself), `failR2Puts` (wrap ARCHIVE so its
 * first n puts fail), `failQueueSends` (wrap INGEST so its first n send or sendBatch calls
 * fail), `holdFirstQueueSendMs` (wrap INGEST so it answers its first call that late), `migrate`
 * (apply migrations/, default true), `maxRetries` (of the queue consumers, default 3),
 * `port` (listen on 127.0.0.1:port), `analytics` (bind ANALYTICS to a dataset recording
 * into D1 `ae_points`), `environment` (EDGEHOOK_ENV, default "test"; "dev" allows http
 * subscriber URLs), `failDestinationSends` (wrap the EVENTS_OUT destination queue so its
 * first n sends fail). Every line the worker logs is kept in `logs`.
 */
export async function start({
  config = testConfig(),
  secrets = TEST_SECRETS,
  autoConsume = true,
  failR2Puts = 0,
  failQueueSends = 0,
  holdFirstQueueSendMs = 0,
  maxRetries = 3,
  failD1 = false,
  environment = "test",
  migrate = true,
  port = undefined,
  analytics = false,
  failDestinationSends = 0,
  ingestShards = 1,
} = {}) {
  const consumer = { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries };
  const main = {
    name: "edgehook",
    modules: true,
    scriptPath: path.join(root, "build/index.js"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"], fallthrough: true }],
    compatibilityDate: "2026-07-30",
    bindings: { EDGEHOOK_ENV: environment, EDGEHOOK_CONFIG: config, ...secrets },
    d1Databases: { DB: "edgehook-db" },
    // One Durable Object per subscription (wrangler.toml's ENDPOINTS, SQLite storage).
    durableObjects: { ENDPOINTS: { className: "SubscriptionEndpoint", useSQLite: true } },
    queueProducers: { INGEST: QUEUES.ingest, DELIVERIES: QUEUES.deliveries },
    queueConsumers: autoConsume
      ? {
          [QUEUES.ingest]: { ...consumer, deadLetterQueue: QUEUES.ingestDlq },
          [QUEUES.ingestDlq]: consumer,
          [QUEUES.deliveries]: { maxBatchSize: 10, maxBatchTimeout: 1, maxRetries: 10, deadLetterQueue: QUEUES.deliveriesDlq },
          [QUEUES.deliveriesDlq]: consumer,
        }
      : {},
  };
  // Shards of the ingest queue (`queues.ingest_shards`): INGEST_<k> → edgehook-ingest-<k>.
  for (let k = 1; k < ingestShards; k++) {
    main.queueProducers[`INGEST_${k}`] = `${QUEUES.ingest}-${k}`;
    if (autoConsume) main.queueConsumers[`${QUEUES.ingest}-${k}`] = { ...consumer, deadLetterQueue: QUEUES.ingestDlq };
  }
  main.serviceBindings = { SCANNER: "scanner", HOOK_SERVICE: "hook-service" };
  main.workerLoaders = { LOADER: {} }; // `wasm` steps: plugins uploaded at runtime
  main.queueProducers.EVENTS_OUT = QUEUES.eventsOut;
  const workers = [
    main,
    { name: "scanner", modules: [{ type: "ESModule", path: "scanner.mjs", contents: SCANNER_PLUGIN }] },
    {
      name: "hook-service",
      modules: [{ type: "ESModule", path: "hook-service.mjs", contents: HOOK_SERVICE_WORKER }],
      queueConsumers: { [QUEUES.eventsOut]: { maxBatchSize: 10, maxBatchTimeout: 1 } },
    },
  ];
  if (failDestinationSends > 0) {
    delete main.queueProducers.EVENTS_OUT;
    main.wrappedBindings = {
      ...main.wrappedBindings,
      EVENTS_OUT: { scriptName: "faulty-events-out", bindings: { FAIL_SENDS: failDestinationSends, HOLD_FIRST_MS: 0 } },
    };
    workers.push({
      name: "faulty-events-out",
      modules: [{ type: "ESModule", path: "faulty-events-out.mjs", contents: FAULTY_QUEUE }],
      queueProducers: { INNER_QUEUE: QUEUES.eventsOut },
    });
  }
  if (failR2Puts > 0) {
    main.wrappedBindings = { ...main.wrappedBindings, ARCHIVE: { scriptName: "faulty-r2", bindings: { FAIL_PUTS: failR2Puts } } };
    workers.push({
      name: "faulty-r2",
      modules: [{ type: "ESModule", path: "faulty-r2.mjs", contents: FAULTY_R2 }],
      r2Buckets: { INNER: "edgehook-archive" },
    });
  } else {
    main.r2Buckets = { ARCHIVE: "edgehook-archive" };
  }
  main.r2Buckets = { ...main.r2Buckets, DELIVERY_BUCKET: "edgehook-delivery-out" };
  if (analytics) {
    main.wrappedBindings = { ...main.wrappedBindings, ANALYTICS: { scriptName: "ae-recorder" } };
    workers.push({
      name: "ae-recorder",
      modules: [{ type: "ESModule", path: "ae-recorder.mjs", contents: AE_RECORDER }],
      d1Databases: { DB: "edgehook-db" },
    });
  }
  if (failQueueSends > 0 || holdFirstQueueSendMs > 0) {
    delete main.queueProducers.INGEST;
    main.wrappedBindings = {
      ...main.wrappedBindings,
      INGEST: { scriptName: "faulty-queue", bindings: { FAIL_SENDS: failQueueSends, HOLD_FIRST_MS: holdFirstQueueSendMs } },
    };
    workers.push({
      name: "faulty-queue",
      modules: [{ type: "ESModule", path: "faulty-queue.mjs", contents: FAULTY_QUEUE }],
      queueProducers: { INNER_QUEUE: QUEUES.ingest },
    });
  }
  if (failD1) {
    delete main.d1Databases;
    main.wrappedBindings = { ...main.wrappedBindings, DB: { scriptName: "failing-d1" } };
    workers.push({ name: "failing-d1", modules: [{ type: "ESModule", path: "failing-d1.mjs", contents: FAILING_D1 }] });
    migrate = false;
  }
  const logs = [];
  const keep = (stream) => {
    let pending = "";
    stream.on("data", (chunk) => {
      const parts = (pending + chunk.toString()).split("\n");
      pending = parts.pop();
      logs.push(...parts.filter(Boolean));
    });
  };
  const options = {
    workers,
    log: undefined,
    handleRuntimeStdio: (stdout, stderr) => {
      keep(stdout);
      keep(stderr);
    },
    ...(port ? { host: "127.0.0.1", port } : {}),
  };
  const mf = new Miniflare(options);
  await mf.ready;
  if (migrate) await applyMigrations(await mf.getD1Database("DB", "edgehook"));
  const eh = new Edgehook(mf, failR2Puts > 0);
  eh.logs = logs;
  eh.options = options;
  return eh;
}

/** Applies migrations/*.sql in order, statement by statement. */
export async function applyMigrations(db) {
  const dir = path.join(root, "migrations");
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".sql")).sort()) {
    const sql = readFileSync(path.join(dir, file), "utf8")
      .split("\n")
      .filter((l) => !l.trim().startsWith("--"))
      .join("\n");
    const statements = sql.split(";").map((s) => s.trim()).filter(Boolean);
    await db.batch(statements.map((s) => db.prepare(s)));
  }
}

export class Edgehook {
  constructor(mf, wrappedR2) {
    this.mf = mf;
    this.wrappedR2 = wrappedR2;
  }

  fetch(pathname, init) {
    return this.mf.dispatchFetch(`http://edgehook.test${pathname}`, init);
  }

  /** POSTs `body` to a collector, signed AMO-style with `key` (unless key is null). */
  postSigned(collector, body, key = TEST_SECRETS.AMO_KEY, headers = {}) {
    const h = { "content-type": "application/json", ...headers };
    if (key !== null) h.authorization = `HMAC-SHA256 ${hmacHex(key, body)}`;
    return this.fetch(`/hooks/${collector}`, { method: "POST", headers: h, body });
  }

  async bucket() {
    return this.wrappedR2
      ? this.mf.getR2Bucket("INNER", "faulty-r2")
      : this.mf.getR2Bucket("ARCHIVE", "edgehook");
  }

  async db() {
    return this.mf.getD1Database("DB", "edgehook");
  }

  /** What the hook-service worker received, in order: `{via: "service", method, url,
   * headers, body}` through its service binding, `{via: "queue", queue, body}` from EVENTS_OUT. */
  async hookServiceReceived() {
    const worker = await this.mf.getWorker("hook-service");
    return (await worker.fetch("http://hook-service/__received")).json();
  }

  /** Every R2 object under `prefix` as {key, text}. */
  async objects(prefix = "") {
    const bucket = await this.bucket();
    const out = [];
    let cursor;
    do {
      const page = await bucket.list({ prefix, cursor });
      for (const o of page.objects) {
        const obj = await bucket.get(o.key);
        out.push({ key: o.key, text: await obj.text() });
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return out;
  }

  /** All NDJSON lines under `prefix`, parsed. */
  async lines(prefix = "collectors/") {
    const objs = await this.objects(prefix);
    return objs.flatMap((o) => o.text.split("\n").filter(Boolean).map((l) => JSON.parse(l)));
  }

  /** Restarts the worker with another EDGEHOOK_CONFIG, as a redeploy would; D1, R2 and
   * the queues keep what they hold. */
  async reconfigure(config) {
    this.options.workers[0].bindings.EDGEHOOK_CONFIG = config;
    await this.mf.setOptions(this.options);
  }

  /** Waits until `predicate()` is truthy (polling), or fails after `ms`. */
  async until(predicate, ms = 15000, what = "condition") {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await predicate();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Delivers `bodies` to the queue consumer directly, as one batch. */
  async deliver(queue, messages) {
    const worker = await this.mf.getWorker("edgehook");
    return worker.queue(
      queue,
      messages.map((m) => ({ attempts: 1, timestamp: new Date(), ...m })),
    );
  }

  dispose() {
    return this.mf.dispose();
  }
}

export function hmacHex(key, body) {
  return createHmac("sha256", key).update(body).digest("hex");
}

/**
 * An HTTP server on 127.0.0.1 that answers every request `status` with a JSON body of
 * `total` bytes — `head`, then `x`s, then `tail` — written 64 KiB at a time as fast as the
 * client reads. Each request's entry in `answers` counts the bytes handed to the socket
 * (`written`) and says whether the client hung up before the end (`hungUp`).
 */
export async function hugeAnswerServer(status, total, head, tail = '"}') {
  const answers = [];
  const server = http.createServer((req, res) => {
    const entry = { written: 0, finished: false, hungUp: false };
    answers.push(entry);
    res.on("close", () => { entry.hungUp = !entry.finished; });
    req.resume();
    req.on("end", async () => {
      res.writeHead(status, { "content-type": "application/json", "content-length": String(total) });
      const chunk = Buffer.alloc(65536, "x");
      res.write(head);
      entry.written = head.length;
      while (entry.written + chunk.length + Buffer.byteLength(tail) <= total && !res.destroyed) {
        entry.written += chunk.length;
        if (!res.write(chunk)) await new Promise((r) => { res.once("drain", r); res.once("close", r); });
      }
      if (res.destroyed) return;
      const rest = total - entry.written - Buffer.byteLength(tail);
      res.end(Buffer.concat([chunk.subarray(0, rest), Buffer.from(tail)]));
      entry.written = total;
      entry.finished = true;
    });
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/`, answers, close: () => server.close() };
}

/**
 * A subscriber: an HTTP server on 127.0.0.1 that records each request (`method`,
 * `headers`, `body`, `url`, `at`: when it arrived, ms) and answers with `respond(entry, n, res)` (n counts from 1).
 * It is pushed onto `servers` for the test file to close.
 */
export async function subscriberServer(servers, respond) {
  const requests = [];
  const srv = http.createServer((req, res) => {
    const at = Date.now();
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", async () => {
      const entry = { method: req.method, headers: req.headers, body, url: req.url, at };
      requests.push(entry);
      await respond(entry, requests.length, res);
    });
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  servers.push(srv);
  return { url: `http://127.0.0.1:${srv.address().port}/hook`, requests, server: srv };
}

/** The admin token's headers, for JSON requests. */
export const ADMIN_HEADERS = { authorization: `Bearer ${TEST_SECRETS.ADMIN_TOKEN}`, "content-type": "application/json" };

/** A JSON request to edgehook → `{status, body}` (body parsed, null when empty). */
export async function adminCall(eh, method, pathname, body, headers = ADMIN_HEADERS) {
  const resp = await eh.fetch(pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const t = await resp.text();
  return { status: resp.status, body: t ? JSON.parse(t) : null };
}

/** Registers a subscription (asserting 201) → the created subscription with its secrets. */
export async function subscribeTo(eh, name, url, events, extra = {}) {
  const r = await adminCall(eh, "POST", "/admin/subscriptions", { name, url, events, ...extra });
  if (r.status !== 201) throw new Error(`subscribe ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Publishes an event with the admin token (asserting 202) → its results. */
export async function publishEvent(eh, type, payload) {
  const r = await adminCall(eh, "POST", `/events/${type}`, payload);
  if (r.status !== 202) throw new Error(`publish ${type}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.results;
}

/** Waits until result `id` has one of `statuses` → the result with its attempts. */
export function resultUntil(eh, id, statuses, ms = 30000) {
  return eh.until(async () => {
    const r = await adminCall(eh, "GET", `/results/${id}`);
    return statuses.includes(r.body.status) ? r.body : null;
  }, ms, `result ${id} to become ${statuses}`);
}
