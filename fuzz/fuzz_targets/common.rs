#![allow(dead_code)] // each target uses part of this module
//! Shared by the fuzz targets: a config with one collector per scheme, its secrets and
//! keyring, an in-memory API key store, and a splitter for the fuzz input.

pub use edgehook::auth::api_key::NoKeys;
use edgehook::auth::keys::Keyring;
use edgehook::config::Config;
use edgehook::secrets::Secrets;

pub const CONFIG: &str = r#"{"public_url": "https://hooks.example.com", "collectors": [
  {"name": "hmac", "auth": {"scheme": "hmac", "secrets": ["K1"]}},
  {"name": "github", "auth": {"scheme": "github", "secrets": ["K1"]}},
  {"name": "sw", "auth": {"scheme": "standard-webhooks", "secrets": ["SW"]}},
  {"name": "stripe", "auth": {"scheme": "stripe", "secrets": ["K1"]}},
  {"name": "ashirt", "auth": {"scheme": "ashirt", "keys": [{"access_key": "AK", "secret": "AS"}]}},
  {"name": "jwt", "auth": {"scheme": "jwt", "keys": ["JWT_HS", "JWT_ED"], "max_lifetime_secs": 3600}},
  {"name": "keys", "auth": {"scheme": "api-key", "scope": "s"}},
  {"name": "open", "format": "request", "auth": {"scheme": "none"},
   "steps": [{"kind": "filter", "on_mismatch": "drop", "when": {"payload": {"$.drop": {"exists": false}}}},
             {"kind": "pseudonymize", "paths": ["$..email", "$.a[*].b", "$..user..email", "$..[-1]"], "query": ["email"], "salt": "K1"},
             {"kind": "redact", "paths": ["$..secret", "$.list[?@.x == 1]", "$..[?@.secret][1:3]"]}]}
]}"#;

pub fn secrets() -> Secrets {
    Secrets::from_pairs([
        ("K1", "key-one"),
        ("SW", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("AS", "c2VjcmV0LWtleS1ieXRlcw=="),
        ("JWT_HS", r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#),
        ("JWT_ED", r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#),
    ])
}

pub fn setup() -> (Config, Secrets, Keyring) {
    let config = Config::parse(CONFIG).expect("the fuzz config is valid");
    let secrets = secrets();
    let keyring = Keyring::load(config.auth_tables(), &secrets).expect("the fuzz keys load");
    (config, secrets, keyring)
}


/// The authentication context every target uses: native crypto, no API keys, a fixed clock.
pub fn context<'a>(
    secrets: &'a Secrets,
    keyring: &'a Keyring,
) -> edgehook::auth::AuthContext<'a, edgehook::crypto::native::NativeCrypto, NoKeys> {
    edgehook::auth::AuthContext {
        secrets,
        keyring,
        crypto: &edgehook::crypto::native::NativeCrypto,
        api_keys: &NoKeys,
        now_secs: 1_700_000_000,
    }
}

/// Splits the input at 0xFF bytes into up to `n` parts (missing parts are empty).
pub fn parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0xFF).collect();
    out.resize(n, &[]);
    out
}
