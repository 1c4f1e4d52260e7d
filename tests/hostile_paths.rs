//! JSONPath steps cost what the body's size says, whatever its shape: over deep nesting
//! with many matches, chained descendant segments and wide arrays, each step's heap use
//! and time stay within twice those of a flat body of the same size under the same step
//! (issue 18, item 1). Heap is counted by this binary's allocator (exact, whatever the
//! machine's load); time is the best of several runs.
//!
//! One test function: the allocator counts every thread, so nothing may run beside it.

// Counting heap needs a GlobalAlloc, which is an unsafe trait; it only forwards to System.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod cpu;
use cpu::cpu_time;

use edgehook::auth::Identity;
use edgehook::inbound::InboundRequest;
use edgehook::secrets::Secrets;
use edgehook::steps::{Chain, NoPlugins, StepContext, Work};
use serde_json::{Value, json};

struct Counting;

const RUNS: usize = 5;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; only sizes are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What running a chain on a body cost: the most heap the parsed payload and the steps
/// held, and the steps' best time.
#[derive(Debug, Clone, Copy)]
struct Cost {
    heap: usize,
    time: Duration,
}

fn cost(steps: &Value, body: &str) -> Cost {
    let steps = steps.as_array().cloned().unwrap_or_default();
    let chain = Chain::compile(&steps, "collectors[0]", "none").expect("the steps compile");
    let secrets = Secrets::from_pairs([("SALT", "pepper")]);
    let req = InboundRequest::default();
    let identity = Identity::of("none");
    let cx = StepContext {
        collector: "c",
        request: &req,
        identity: &identity,
        secrets: &secrets,
        plugins: &NoPlugins,
    };
    let mut best = Cost {
        heap: 0,
        time: Duration::MAX,
    };
    for _ in 0..RUNS {
        let before = LIVE.load(Ordering::Relaxed);
        PEAK.store(before, Ordering::Relaxed);
        let payload: Value = serde_json::from_str(body).expect("the body is JSON");
        let mut work = Work::new(payload, Vec::new());
        let started = cpu_time();
        let _ = futures_executor::block_on(chain.run(&cx, &mut work));
        let time = cpu_time() - started;
        best.heap = best.heap.max(PEAK.load(Ordering::Relaxed) - before);
        best.time = best.time.min(time);
    }
    best
}

/// `n` levels of `{"a": …}` around an array of `matches` objects with an email.
fn deep_emails(levels: usize, matches: usize) -> String {
    let items: Vec<String> = (0..matches)
        .map(|i| format!(r#"{{"email":"u{i}@x.io"}}"#))
        .collect();
    format!(
        "{}[{}]{}",
        r#"{"a":"#.repeat(levels),
        items.join(","),
        "}".repeat(levels)
    )
}

/// `chains` chains of `{"user": {…}, "email": …}` nested `depth` deep.
fn user_chains(chains: usize, depth: usize) -> String {
    let chain = |c: usize| {
        let mut s = String::from("{}");
        for d in 0..depth {
            s = format!(r#"{{"user":{s},"email":"u{c}.{d}@x.io"}}"#);
        }
        s
    };
    let all: Vec<String> = (0..chains).map(chain).collect();
    format!("[{}]", all.join(","))
}

/// `lists` arrays of `width` numbers each.
fn wide_arrays(lists: usize, width: usize) -> String {
    let list: Vec<String> = (0..width).map(|i| (i % 1000).to_string()).collect();
    let list = format!("[{}]", list.join(","));
    format!(r#"{{"lists":[{}]}}"#, vec![list; lists].join(","))
}

/// A flat body of exactly `len` bytes: `{"rows": [row(0), row(1), …], "pad": "xx…"}`,
/// the same kind of content as a hostile shape without its nesting.
fn flat(len: usize, row: impl Fn(usize) -> String) -> String {
    let mut rows = Vec::new();
    let mut size = r#"{"rows":[],"pad":""}"#.len() - 1;
    for i in 0.. {
        let r = row(i);
        if size + r.len() + 1 > len {
            break;
        }
        size += r.len() + 1;
        rows.push(r);
    }
    format!(
        r#"{{"rows":[{}],"pad":"{}"}}"#,
        rows.join(","),
        "x".repeat(len - size)
    )
}

fn pseudonymize(paths: &[&str]) -> Value {
    json!([{"kind": "pseudonymize", "paths": paths, "salt": "SALT"}])
}

fn redact(paths: &[&str]) -> Value {
    json!([{"kind": "redact", "paths": paths}])
}

fn filter(path: &str) -> Value {
    json!([{"kind": "filter", "on_mismatch": "drop",
        "when": {"payload": {path: {"equals": "nobody@x.io"}}}}])
}

#[test]
fn step_cost_over_hostile_shapes_stays_within_twice_a_flat_body_of_the_same_size() {
    let shapes = [
        (
            "deep × many matches",
            deep_emails(120, 6_000),
            (|i: usize| format!(r#"{{"email":"u{i}@x.io"}}"#)) as fn(usize) -> String,
            vec![
                pseudonymize(&["$..email"]),
                redact(&["$..email"]),
                filter("$..email"),
            ],
        ),
        (
            "chained descendants",
            user_chains(30, 120),
            (|i: usize| format!(r#"{{"user":{{"email":"u{i}@x.io"}}}}"#)),
            vec![
                pseudonymize(&["$..user..email"]),
                pseudonymize(&["$..user..email", "$..email", "$..user.email"]),
                redact(&["$..user..email"]),
                filter("$..user..email"),
                filter("$..*..*"),
            ],
        ),
        (
            "wide arrays",
            wide_arrays(4, 8_000),
            (|i: usize| format!("[{},{},{}]", i % 1000, (i + 1) % 1000, (i + 2) % 1000)),
            vec![
                redact(&["$..[?@ > 2]"]),
                redact(&["$..[1:]", "$..[0]"]),
                pseudonymize(&["$..[-1]", "$..[::2]"]),
                filter("$..[*]"),
            ],
        ),
    ];
    let mut report = Vec::new();
    for (shape, body, row, chains) in &shapes {
        let baseline = flat(body.len(), row);
        assert_eq!(baseline.len(), body.len());
        for steps in chains {
            let hostile = cost(steps, body);
            let plain = cost(steps, &baseline);
            report.push(format!(
                "{shape} ({} KB) {steps}: {hostile:?} against flat {plain:?}",
                body.len() / 1000
            ));
            assert!(
                hostile.heap <= 2 * plain.heap,
                "heap: {}",
                report.join("\n")
            );
            assert!(
                hostile.time <= 2 * plain.time + Duration::from_millis(2),
                "time: {}",
                report.join("\n")
            );
        }
    }
    println!("{}", report.join("\n"));
}
