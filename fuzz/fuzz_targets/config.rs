//! Config parsing and validation (including step chains and key material).
#![no_main]

#[path = "common.rs"]
mod common;

use edgehook::auth::keys::Keyring;
use edgehook::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        // Every named secret resolves to a fixed value; key parsing must not panic either.
        if let Ok(secrets) = config.resolve(|name| Some(format!("value-of-{name}"))) {
            let _ = Keyring::load(config.auth_tables(), &secrets);
        }
    }
});
