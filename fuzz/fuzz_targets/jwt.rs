//! JWT parsing and verification (collector tokens and result-PATCH service tokens).
#![no_main]

#[path = "common.rs"]
mod common;

use edgehook::auth;
use edgehook::crypto::native::NativeCrypto;
use edgehook::dispatch::service_token;
use edgehook::inbound::{HeaderMap, InboundRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data).into_owned();
    let (config, secrets, keyring) = common::setup();
    let req = InboundRequest {
        method: "POST".into(),
        headers: HeaderMap::from_pairs([("authorization", format!("Bearer {token}"))]),
        ..Default::default()
    };
    let cx = common::context(&secrets, &keyring);
    let jwt = config.collector("jwt").expect("jwt collector");
    let _ = futures_executor::block_on(auth::verify(&jwt.auth, &cx, &req));
    let _ = service_token::issuer(&token);
    let _ = futures_executor::block_on(service_token::verify(
        &NativeCrypto,
        &token,
        "sa_1",
        b"secret",
        1_700_000_000,
    ));
});
