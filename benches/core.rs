//! Native micro-benchmarks of edgehook's pure core (`cargo bench --bench core`).
//!
//! No framework: each case runs for about `BENCH_MS` milliseconds (default 300) after a
//! warm-up, five times, and the median time per operation is printed as a Markdown table
//! row, the format bench/run.sh assembles. `BENCH_MS=20` makes a quick smoke run.
//! Natively every primitive is pure Rust (the worker uses WebCrypto for the asymmetric
//! ones; bench/bench.mjs measures those inside workerd).

use std::hint::black_box;
use std::time::{Duration, Instant};

use edgehook::auth::Identity;
use edgehook::auth::api_key::NoKeys;
use edgehook::auth::keys::{JwtKey, Keyring, parse_keys};
use edgehook::auth::{AuthContext, hmac, jwt, standard_webhooks};
use edgehook::collect::accept::accept;
use edgehook::collect::batch;
use edgehook::collect::record::{QUEUED_RECORD_VERSION, QueuedRecord};
use edgehook::config::Config;
use edgehook::crypto::native::NativeCrypto;
use edgehook::inbound::{HeaderMap, InboundRequest};
use edgehook::json;
use edgehook::secrets::Secrets;
use edgehook::steps::pattern::Pattern;
use edgehook::steps::{Chain, NoPlugins, StepContext, Work};
use futures_executor::block_on;
use serde_json::{Value, json};

/// Parses `body`, runs a pseudonymize step over `paths`, serializes: what a collector
/// with that step does per webhook beyond the plain path.
fn pseudonymize(what: &str, paths: Value, body: &[u8]) {
    steps(
        what,
        &[json!({"kind": "pseudonymize", "paths": paths, "salt": "SALT"})],
        body,
    );
}

/// Parses `body`, runs the chain of `steps`, serializes.
fn steps(what: &str, steps: &[Value], body: &[u8]) {
    let chain =
        Chain::compile(steps, "collectors[0]", "none").unwrap_or_else(|e| panic!("chain: {e}"));
    let secrets = Secrets::from_pairs([("SALT", "bench-salt")]);
    chain
        .load(&secrets)
        .unwrap_or_else(|e| panic!("chain: {e}"));
    let req = InboundRequest::default();
    let identity = Identity::of("none");
    let cx = StepContext {
        collector: "bench",
        request: &req,
        identity: &identity,
        secrets: &secrets,
        plugins: &NoPlugins,
    };
    let ns = measure(|| {
        let payload: Value = serde_json::from_slice(black_box(body)).unwrap_or_default();
        let mut work = Work::new(payload, Vec::new());
        let _ = block_on(chain.run(&cx, &mut work));
        black_box(work.payload.to_string());
    });
    row(what, ns, Some(body.len()));
}

fn pseudonymize_cases() {
    let mut small = serde_json::Map::new();
    for i in 0..10 {
        small.insert(
            format!("field{i}"),
            json!(format!("person{i}@corp.example")),
        );
    }
    small.insert("padding".into(), json!("x".repeat(9_500)));
    let small = serde_json::to_vec(&Value::Object(small)).unwrap_or_default();
    let paths: Vec<String> = (0..10).map(|i| format!("$.field{i}")).collect();
    pseudonymize(
        "pseudonymize 10 paths, 10 KiB payload (parse + step + encode)",
        json!(paths),
        &small,
    );
    let people: Vec<Value> = (0..80_000)
        .map(|i| json!({"id": i, "email": format!("user{i}@corp.example"), "team": "t".repeat(20)}))
        .collect();
    let big = serde_json::to_vec(&json!({"people": people})).unwrap_or_default();
    pseudonymize(
        "pseudonymize $..email, 80k matches, 6 MB (parse + step + encode)",
        json!(["$..email"]),
        &big,
    );
}

/// A 1 MiB JSON payload of webhook-like records: ids, names, emails, free text.
fn records_mib(text: impl Fn(usize) -> String) -> Vec<u8> {
    let mut items = Vec::new();
    let mut size = 0;
    let mut i = 0;
    while size < 1 << 20 {
        let item = json!({"id": i, "user": format!("user{i}"), "email": format!("user{i}@corp.example"),
            "message": text(i), "tags": ["alpha", "beta"]});
        size += item.to_string().len() + 1;
        items.push(item);
        i += 1;
    }
    serde_json::to_vec(&json!({"records": items})).unwrap_or_default()
}

/// 1 MiB of records with nothing secret in them.
fn clean_mib() -> Vec<u8> {
    records_mib(|i| {
        format!(
            "Deployed build {i} to the staging cluster; all health checks passed and the rollout continues tomorrow."
        )
    })
}

/// scan-secrets on 1 MiB: clean text, and text dense with near misses (every keyword,
/// each followed by something that is not a secret), beside the same bodies through an
/// empty chain (what parsing and encoding cost alone).
fn scan_cases() {
    let clean = records_mib(|i| {
        format!(
            "Deployed build {i} to the staging cluster; all health checks passed and the rollout continues tomorrow."
        )
    });
    let near = records_mib(|i| {
        format!(
            "AKIA{i} ghp_{i} glpat-{i} xoxb-{i} sk_live_{i} AIza{i} eyJ{i}.eyJ -----BEGIN {i} password={i} token: short"
        )
    });
    let scan = [json!({"kind": "scan-secrets"})];
    steps("no steps, 1 MiB of records (parse + encode)", &[], &clean);
    steps(
        "scan-secrets, 1 MiB clean (parse + step + encode)",
        &scan,
        &clean,
    );
    steps(
        "no steps, 1 MiB of near misses (parse + encode)",
        &[],
        &near,
    );
    steps(
        "scan-secrets, 1 MiB of near misses (parse + step + encode)",
        &scan,
        &near,
    );
}

/// validate on the 1 MiB of records: a schema checking every record's fields (types,
/// a pattern, a format-free email shape, bounds), beside the same body through no steps.
fn validate_cases() {
    let body = clean_mib();
    let schema = json!({"kind": "validate", "schema": {
    "type": "object", "required": ["records"],
    "properties": {"records": {"type": "array", "items": {
        "type": "object", "required": ["id", "user", "email", "message"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "integer", "minimum": 0},
            "user": {"type": "string", "pattern": "^user[0-9]+$"},
            "email": {"type": "string", "maxLength": 254},
            "message": {"type": "string"},
            "tags": {"type": "array", "items": {"enum": ["alpha", "beta", "gamma"]}}
        }}}}}});
    steps(
        "validate, 1 MiB of records (parse + step + encode)",
        &[schema],
        &body,
    );
}

/// Median nanoseconds per call of `f`.
fn measure(mut f: impl FnMut()) -> f64 {
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(300),
    );
    // Warm up and find how many calls fill a fifth of the budget.
    let mut n: u64 = 1;
    loop {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        if t.elapsed() >= budget / 5 || n >= 1 << 30 {
            break;
        }
        n *= 2;
    }
    let mut samples: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[2]
}

fn row(what: &str, ns: f64, bytes: Option<usize>) {
    let per = match bytes {
        Some(b) => format!("{:.2} µs/KiB", ns / 1000.0 / (b as f64 / 1024.0)),
        _ => String::new(),
    };
    println!(
        "| native | {what} | {:.1} µs | {:.0}/s | {per} |",
        ns / 1000.0,
        1e9 / ns
    );
}

/// A JSON object of about `n` bytes.
fn json_body(n: usize) -> Vec<u8> {
    let filler = "x".repeat(n.saturating_sub(40));
    format!(r#"{{"event":"bench","id":12345,"data":"{filler}"}}"#).into_bytes()
}

fn hmac_verify(kib: usize) {
    let key: &[u8] = b"amo-bench-key";
    let body = json_body(kib * 1024);
    let auth = hmac::authorization(key, &body);
    let ns = measure(|| {
        block_on(hmac::verify(
            &NativeCrypto,
            &[key],
            Some(black_box(&auth)),
            black_box(&body),
        ))
        .unwrap_or_else(|e| panic!("hmac: {e:?}"));
    });
    row(
        &format!("HMAC-SHA256 verify, {kib} KiB body"),
        ns,
        Some(body.len()),
    );
}

fn standard_webhooks_verify() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let key = standard_webhooks::decode_secret(secret).unwrap_or_default();
    let body = json_body(1024);
    let now = 1_800_000_000;
    let headers = HeaderMap::from_pairs([
        ("webhook-id", "msg_bench".to_string()),
        ("webhook-timestamp", now.to_string()),
        (
            "webhook-signature",
            standard_webhooks::sign(&key, "msg_bench", now, &body),
        ),
    ]);
    let keys = [key];
    let ns = measure(|| {
        block_on(standard_webhooks::verify(
            &NativeCrypto,
            &keys,
            &[],
            black_box(&headers),
            black_box(&body),
            now,
        ))
        .unwrap_or_else(|e| panic!("standard webhooks: {e:?}"));
    });
    row("Standard Webhooks verify (v1), 1 KiB body", ns, None);
}

fn jwt_verify() {
    let vectors: Value = serde_json::from_str(include_str!("../tests/vectors/jwt.json"))
        .unwrap_or_else(|e| panic!("jwt vectors: {e}"));
    let cases = vectors["cases"].as_array().cloned().unwrap_or_default();
    for alg in ["RS256", "ES256", "EdDSA", "HS256"] {
        let Some(case) = cases.iter().find(|c| c["alg"] == alg) else {
            panic!("no {alg} vector");
        };
        let keys: Vec<JwtKey> =
            parse_keys(&case["key"].to_string()).unwrap_or_else(|e| panic!("{alg} key: {e}"));
        let token = case["token"].as_str().unwrap_or_default().to_string();
        let ns = measure(|| {
            block_on(jwt::verify_signature(
                &NativeCrypto,
                &keys,
                black_box(&token),
            ))
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        });
        row(
            &format!("JWT {alg} verify (parse + signature, RFC vector)"),
            ns,
            None,
        );
    }
}

fn ndjson_encode() {
    let records: Vec<QueuedRecord> = (0..100)
        .map(|i| QueuedRecord {
            v: QUEUED_RECORD_VERSION,
            id: format!("01JBENCH{i:018}"),
            collector: "amo".into(),
            received_at: 1_800_000_000_000 + i,
            line: String::from_utf8(json_body(1024)).unwrap_or_default(),
            spill: None,
            original: None,
            original_spill: None,
            dedupe: None,
        })
        .collect();
    let ns = measure(|| {
        for b in batch::group(black_box(&records)) {
            black_box(batch::encode(
                b.members.iter().map(|&i| records[i].line.as_str()),
            ));
        }
    });
    row(
        "NDJSON batch of 100 × 1 KiB records (group + key + encode)",
        ns,
        None,
    );
}

/// About `n` bytes of JSON made of many small objects: an array of records of six
/// members each, the shape where checking member names has the most to do per byte
/// short of one huge object.
fn json_records(n: usize) -> Vec<u8> {
    let mut out = String::from(r#"{"event":"bench","items":["#);
    let mut i = 0;
    while out.len() + 90 < n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id":{i},"name":"n{i}","email":"u{i}@corp.example","ok":true,"n":1.5,"t":["a"]}}"#
        ));
        i += 1;
    }
    out.push_str("]}");
    out.into_bytes()
}

/// About `n` bytes of one JSON object with as many members as fit (`"k123":123`).
fn json_wide_object(n: usize) -> Vec<u8> {
    let mut out = String::from("{");
    let mut i = 0;
    while out.len() + 20 < n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(r#""k{i}":{i}"#));
        i += 1;
    }
    out.push('}');
    out.into_bytes()
}

/// The check accept() ran before member names had to be unique (record.rs's `Checked`
/// until issue 18): every value asked for as `Value` asks, nothing kept, names not
/// compared. Kept here only as the reference `json::check` is measured against.
struct Unchecked;

impl<'de> serde::Deserialize<'de> for Unchecked {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unchecked, D::Error> {
        d.deserialize_any(UncheckedVisitor)
    }
}

struct UncheckedVisitor;

impl<'de> serde::de::Visitor<'de> for UncheckedVisitor {
    type Value = Unchecked;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Unchecked, E> {
        Ok(Unchecked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unchecked, E> {
        Ok(Unchecked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unchecked, E> {
        Ok(Unchecked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unchecked, E> {
        Ok(Unchecked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unchecked, E> {
        Ok(Unchecked)
    }
    fn visit_unit<E>(self) -> Result<Unchecked, E> {
        Ok(Unchecked)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Unchecked, A::Error> {
        while seq.next_element::<Unchecked>()?.is_some() {}
        Ok(Unchecked)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Unchecked, A::Error> {
        while map.next_entry::<Unchecked, Unchecked>()?.is_some() {}
        Ok(Unchecked)
    }
}

/// `json::check` (unique member names) against the check before it, back to back on
/// the same bodies, so that a loaded machine moves both alike.
fn json_check_cases() {
    let bodies = [
        ("64 KiB, 3 members", json_body(64 * 1024)),
        ("64 KiB of 812 small records", json_records(64 * 1024)),
        (
            "64 KiB, one object of 5 211 members",
            json_wide_object(64 * 1024),
        ),
    ];
    for (what, body) in &bodies {
        let text = std::str::from_utf8(body).unwrap_or_default();
        let before = measure(|| {
            black_box(serde_json::from_str::<Unchecked>(black_box(text)).is_ok());
        });
        let after = measure(|| {
            black_box(json::check(black_box(text)).is_ok());
        });
        row(
            &format!("JSON check without the name check (before), {what}"),
            before,
            Some(body.len()),
        );
        row(
            &format!("json::check, names unique (after), {what}"),
            after,
            Some(body.len()),
        );
    }
}

fn accept_hmac(kib: usize) {
    accept_hmac_body(
        &format!("accept() on the hmac collector, {kib} KiB (checks, verify, JSON, line)"),
        json_body(kib * 1024),
    );
}

fn accept_hmac_body(what: &str, body: Vec<u8>) {
    let config = Config::parse(
        r#"{"public_url": "https://hooks.example.com", "collectors": [
            {"name": "amo", "max_body_bytes": 1048576, "auth": {"scheme": "hmac", "secrets": ["K"]}}]}"#,
    )
    .unwrap_or_else(|e| panic!("config: {e}"));
    let Some(collector) = config.collector("amo") else {
        panic!("no collector");
    };
    let secrets = Secrets::from_pairs([("K", "amo-bench-key")]);
    let keyring = Keyring::default();
    let req = InboundRequest {
        method: "POST".into(),
        sub_path: "/".into(),
        headers: HeaderMap::from_pairs([
            ("content-type", "application/json".to_string()),
            (
                "authorization",
                hmac::authorization(b"amo-bench-key", &body),
            ),
        ]),
        body: body.clone(),
        ..Default::default()
    };
    let cx = AuthContext {
        secrets: &secrets,
        keyring: &keyring,
        crypto: &NativeCrypto,
        api_keys: &NoKeys,
        now_secs: 1_800_000_000,
    };
    let ns = measure(|| {
        black_box(
            block_on(accept(
                collector,
                &cx,
                &NoPlugins,
                black_box(&req),
                "01JBENCH",
                1_800_000_000_000,
            ))
            .unwrap_or_else(|e| panic!("accept: {e:?}")),
        );
    });
    row(what, ns, Some(body.len()));
}

/// `filter`'s `matches` over 1 MiB: the pattern with the largest DFA the bound accepts,
/// on random a/b (a walk all over the DFA), and a common pattern on a plain body.
fn pattern_cases() {
    let mut x: u64 = 88_172_645_463_325_252;
    let random: String = (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x & 1 == 0 { 'a' } else { 'b' }
        })
        .collect();
    let plain = "user@corp.example ".repeat((1 << 20) / 18);
    for (re, hay, what) in [
        ("(?:a|b)*a(?:a|b){12}c", &random, "random a/b"),
        (r"[\w.+-]+@corp\.example\.com", &plain, "emails"),
    ] {
        let p = Pattern::new(re).unwrap_or_else(|e| panic!("{e}"));
        let ns = measure(|| {
            black_box(p.is_match(black_box(hay)));
        });
        row(
            &format!("filter matches {re:?}, 1 MiB of {what}"),
            ns,
            Some(hay.len()),
        );
    }
}

/// Finds the route of a request through the route table, for the path that comes last
/// in it (a webhook to a collector's sub-path) and a `404`.
fn route_cases() {
    for (what, method, path) in [
        (
            "route: POST /hooks/amo/a/b (late in the table)",
            "POST",
            "/hooks/amo/a/b",
        ),
        (
            "route: GET /nowhere (404: every row tried)",
            "GET",
            "/nowhere/at/all",
        ),
    ] {
        let ns = measure(|| {
            black_box(edgehook::http::routes::resolve(
                black_box(method),
                black_box(path),
            ));
        });
        row(what, ns, None);
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a name filter is not supported.
    route_cases();
    hmac_verify(1);
    hmac_verify(64);
    standard_webhooks_verify();
    jwt_verify();
    ndjson_encode();
    accept_hmac(1);
    accept_hmac(64);
    accept_hmac_body(
        "accept() on the hmac collector, 64 KiB of 812 small records",
        json_records(64 * 1024),
    );
    accept_hmac_body(
        "accept() on the hmac collector, 64 KiB, one object of 5 211 members",
        json_wide_object(64 * 1024),
    );
    json_check_cases();
    pseudonymize_cases();
    pattern_cases();
    scan_cases();
    validate_cases();
}
