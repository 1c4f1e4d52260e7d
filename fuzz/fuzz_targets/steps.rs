//! Accepting arbitrary JSON through a collector with filter, pseudonymize and redact
//! steps, then building its record line.
#![no_main]

#[path = "common.rs"]
mod common;

use edgehook::collect::accept::{Accepted, accept};
use edgehook::collect::record;
use edgehook::inbound::{HeaderMap, InboundRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    let (config, secrets, keyring) = common::setup();
    let open = config.collector("open").expect("open collector");
    let req = InboundRequest {
        method: "POST".into(),
        sub_path: "/x".into(),
        uri: "/hooks/open/x".into(),
        query: String::from_utf8_lossy(p[0]).into_owned(),
        headers: HeaderMap::from_pairs([("content-type", "application/json")]),
        body: p[1].to_vec(),
    };
    let _ = record::single_line(&req.body);
    let cx = common::context(&secrets, &keyring);
    let accepted = futures_executor::block_on(accept(open, &cx, &edgehook::steps::NoPlugins, &req, "01ID", 0));
    if let Ok(Accepted::Record { record, .. }) = accepted {
        // A record line is always one line of valid JSON.
        assert!(!record.line.contains('\n'));
        // (Read without serde_json's depth limit: a request record wraps a payload that
        // may nest edgehook::json::MAX_DEPTH levels in one more object.)
        let mut de = serde_json::Deserializer::from_str(&record.line);
        de.disable_recursion_limit();
        let parsed: serde_json::Value = de.into_iter().next().expect("a line").expect("the line is JSON");
        assert!(parsed.is_object());
    }
});
