//! Native timing of the collector steps on the payloads issue 4 and 6 name: `$..email`
//! pseudonymized in a 5 MiB body of 80k objects, and 10 paths on a 10 KiB payload.
//! Run: `cargo bench --bench steps` (prints one line per case; not a pass/fail test).

use std::time::{Duration, Instant};

use edgehook::auth::Identity;
use edgehook::config::Secrets;
use edgehook::inbound::InboundRequest;
use edgehook::steps::{Chain, PluginCaller, PluginReply, PluginTarget, StepContext, Work};
use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

struct NoPlugins;

impl PluginCaller for NoPlugins {
    fn call<'a>(
        &'a self,
        _: &'a PluginTarget,
        _: Vec<(String, String)>,
        _: String,
        _: u64,
    ) -> LocalBoxFuture<'a, Result<PluginReply, String>> {
        Box::pin(async { Err("no plugins in this bench".to_string()) })
    }
}

/// Parses `body`, runs `chain`, serializes: what the collector does per webhook.
fn run_once(chain: &Chain, body: &[u8]) -> usize {
    let secrets = Secrets::from_pairs([("SALT", "bench-salt")]);
    let req = InboundRequest::default();
    let identity = Identity::of("none");
    let cx = StepContext {
        collector: "bench",
        request: &req,
        identity: &identity,
        secrets: &secrets,
        plugins: &NoPlugins,
    };
    let payload: Value = serde_json::from_slice(body).expect("bench payload is JSON");
    let mut work = Work::new(payload, Vec::new());
    futures_executor::block_on(chain.run(&cx, &mut work)).expect("steps pass");
    work.payload.to_string().len()
}

fn time(name: &str, chain: &Chain, body: &[u8], iterations: u32) {
    run_once(chain, body); // warm up
    let mut best = Duration::MAX;
    let started = Instant::now();
    for _ in 0..iterations {
        let t = Instant::now();
        std::hint::black_box(run_once(chain, body));
        best = best.min(t.elapsed());
    }
    let mean = started.elapsed() / iterations;
    println!(
        "{name:<48} {:>9} bytes  mean {:>9.3} ms  best {:>9.3} ms",
        body.len(),
        mean.as_secs_f64() * 1e3,
        best.as_secs_f64() * 1e3
    );
}

fn main() {
    let pseudonymize = |paths: Value| {
        Chain::compile(
            &[json!({"kind": "pseudonymize", "paths": paths, "salt": "SALT"})],
            "collectors[0]",
            "none",
        )
        .expect("bench chain compiles")
    };

    let people: Vec<Value> = (0..80_000)
        .map(|i| json!({"id": i, "email": format!("user{i}@corp.example"), "team": "t".repeat(20)}))
        .collect();
    let big = serde_json::to_vec(&json!({"people": people})).expect("encodes");
    time(
        "pseudonymize $..email, 80k matches (parse+run+encode)",
        &pseudonymize(json!(["$..email"])),
        &big,
        10,
    );
    time(
        "parse+encode only, same body (no steps)",
        &Chain::default(),
        &big,
        10,
    );

    let mut small = serde_json::Map::new();
    for i in 0..10 {
        small.insert(
            format!("field{i}"),
            json!(format!("person{i}@corp.example")),
        );
    }
    small.insert("padding".into(), json!("x".repeat(9_500)));
    let small = serde_json::to_vec(&Value::Object(small)).expect("encodes");
    let paths: Vec<String> = (0..10).map(|i| format!("$.field{i}")).collect();
    time(
        "pseudonymize 10 paths, 10 KiB payload",
        &pseudonymize(json!(paths)),
        &small,
        2_000,
    );
}
