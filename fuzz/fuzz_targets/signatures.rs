//! Every signature-header parser and scheme check, on arbitrary headers and bodies.
#![no_main]

#[path = "common.rs"]
mod common;

use edgehook::auth::{self, github, hmac, standard_webhooks, stripe};
use edgehook::inbound::{HeaderMap, InboundRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 4);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (sig, a, b, body) = (text(p[0]), text(p[1]), text(p[2]), p[3].to_vec());
    let _ = hmac::parse_authorization(&sig);
    let _ = github::parse(&sig);
    let _ = stripe::parse(&sig);
    let _ = auth::parse_timestamp(&a);
    let (config, secrets, keyring) = common::setup();
    let headers = HeaderMap::from_pairs([
        ("authorization", sig.clone()),
        ("x-hub-signature-256", sig.clone()),
        ("stripe-signature", sig.clone()),
        ("webhook-signature", sig.clone()),
        ("webhook-id", a.clone()),
        ("webhook-timestamp", b.clone()),
        ("date", b.clone()),
        ("x-apikey", a.clone()),
    ]);
    let req = InboundRequest {
        method: "POST".into(),
        sub_path: "/".into(),
        uri: format!("/hooks/x?{a}"),
        query: a.clone(),
        headers,
        body,
    };
    let cx = common::context(&secrets, &keyring);
    for c in &config.collectors {
        let _ = futures_executor::block_on(auth::verify(&c.auth, &cx, &req));
    }
});
